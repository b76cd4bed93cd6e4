// Parameters of main.bicep. The location comes from `az deployment sub create -l <region>`.
// Phase 1: deploy as is. Phase 2, after publishing the code: run the same command with
// DEPLOY_EVENT_SUBSCRIPTION=true in the environment to add the Event Grid subscription.
using 'main.bicep'

param resourceGroupName = 'rg-vm-ledger'
param createResourceGroup = true

param identityType = 'UserAssigned'
param pythonVersion = '3.11'

param ledgerTableName = 'vmledger'
param reconcileSchedule = '0 */15 * * * *'
param billedPowerStates = 'starting,running,stopping,stopped'

// Leave empty to create the subscription's system topic; set both to reuse the one that exists.
param existingSystemTopicName = ''
param existingSystemTopicResourceGroupName = ''

param deployEventSubscription = bool(readEnvironmentVariable('DEPLOY_EVENT_SUBSCRIPTION', 'false'))
param maxDeliveryAttempts = 30
param eventTimeToLiveInMinutes = 1440

param tags = {
  application: 'vm-billing-ledger'
}
