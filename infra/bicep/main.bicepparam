// Parameters of main.bicep. The location comes from `az deployment sub create -l <region>`.
// Phase 1: deploy as is. Phase 2, after publishing the code: run the same command with
// DEPLOY_EVENT_SUBSCRIPTION=true in the environment to add the Event Grid subscription.
using 'main.bicep'

param resourceGroupName = 'rg-vm-ledger'
param createResourceGroup = true

param identityType = 'UserAssigned'
param pythonVersion = '3.11'

param ledgerTableName = 'vmledger'
param ledgerQueueName = 'vmledger-scale-sets'
param reconcileSchedule = '0 */15 * * * *'
param billedPowerStates = 'starting,running,stopping,stopped'

// The subscriptions whose VMs the ledger follows: by default (unset) the one deployed to. To watch
// more, list them all, the ledger's own included, and deploy again (README, "Watching more
// subscriptions"), e.g.
//   param subscriptionIds = [
//     '<ledger subscription id>'
//     '<another subscription id>'
//   ]

// A subscription that already has a resource events system topic reuses it (one topic per source):
// { '<subscriptionId>': { name: '<topic name>', resourceGroup: '<its resource group>' } }.
param existingSystemTopics = {}

// Health events (HealthResources system topic) are a preview Azure feature; false leaves them to the
// reconcile, as before.
param deployHealthEvents = true

// A subscription that already has a HealthResources system topic reuses it (one topic per source), in
// the same form as existingSystemTopics.
param existingHealthTopics = {}

param deployEventSubscription = bool(readEnvironmentVariable('DEPLOY_EVENT_SUBSCRIPTION', 'false'))
param maxDeliveryAttempts = 30
param eventTimeToLiveInMinutes = 1440

param tags = {
  application: 'vm-billing-ledger'
}
