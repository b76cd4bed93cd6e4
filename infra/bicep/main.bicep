// VM billing ledger: the ledger in one subscription, watching the VMs of a list of subscriptions.
//
//   az deployment sub create -l <region> -f infra/bicep/main.bicep -p infra/bicep/main.bicepparam
//
// Run it in the ledger's subscription. Phase 1 (deployEventSubscription = false) creates the resource
// group, monitoring, storage, the Flex Consumption function app and its roles and, in every subscription
// of subscriptionIds (modules/watchedSubscription.bicep): the resource events system topic, the health
// events system topic (optional, a preview Azure feature), Reader for the reconcile, and the topics'
// dead-letter role. Publish the code, then run phase 2 (deployEventSubscription = true), which adds the
// event subscriptions to the one on_vm_event function: Event Grid refuses an AzureFunction endpoint whose
// function does not exist yet. A system topic for resource events cannot be created at management group
// scope, so there is one per subscription; the deployer needs rights in each (see README).
targetScope = 'subscription'

// ---------------------------------------------------------------------------------------------------
// Where
// ---------------------------------------------------------------------------------------------------

@description('Region of the resource group and of all regional resources (defaults to the deployment location, -l).')
param location string = deployment().location

@description('Resource group that holds the ledger.')
@minLength(1)
@maxLength(90)
param resourceGroupName string = 'rg-vm-ledger'

@description('True to create (or update) the resource group; false to deploy into an existing one.')
param createResourceGroup bool = true

@description('Tags applied to the resource group and the resources created in it.')
param tags object = {}

@description('Short lowercase token that makes the generated names unique.')
@minLength(3)
@maxLength(13)
param resourceToken string = toLower(uniqueString(subscription().id, resourceGroupName, location))

// ---------------------------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------------------------

@description('Globally unique name of the function app.')
@minLength(2)
@maxLength(60)
param functionAppName string = 'func-vmledger-${resourceToken}'

@description('Globally unique name of the storage account (3-24 lowercase letters and digits).')
@minLength(3)
@maxLength(24)
param storageAccountName string = 'stvmledger${resourceToken}'

@description('Prefix of the system topic names; each watched subscription adds a token of its own id.')
@minLength(3)
@maxLength(100)
param systemTopicNamePrefix string = 'evgt-vmledger'

@description('Existing resource events system topics to reuse, by subscription id: { \'<subscriptionId>\': { name: \'...\', resourceGroup: \'...\' } }. Other subscriptions get one created.')
param existingSystemTopics object = {}

@description('Existing health events (HealthResources) system topics to reuse, by subscription id, in the same form as existingSystemTopics. Other subscriptions get one created when deployHealthEvents is true.')
param existingHealthTopics object = {}

@description('Resource group, in each watched subscription, that holds its system topics (the ledger\'s own in the ledger\'s subscription by default).')
@minLength(1)
@maxLength(90)
param topicResourceGroupName string = resourceGroupName

// ---------------------------------------------------------------------------------------------------
// Function app
// ---------------------------------------------------------------------------------------------------

@description('Managed identity of the function app: SystemAssigned or UserAssigned (created here).')
@allowed([
  'SystemAssigned'
  'UserAssigned'
])
param identityType string = 'UserAssigned'

@description('Python version of the Functions runtime.')
@allowed([
  '3.11'
  '3.12'
])
param pythonVersion string = '3.11'

@description('Upper bound of instances the Flex Consumption plan scales out to.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Memory of each instance, in MB.')
@allowed([
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Days that Log Analytics keeps the logs.')
@minValue(30)
@maxValue(730)
param logRetentionInDays int = 30

// ---------------------------------------------------------------------------------------------------
// Ledger settings (app settings read by the code)
// ---------------------------------------------------------------------------------------------------

@description('Ledger table name, 3-63 letters and digits starting with a letter (VM_LEDGER_TABLE).')
@minLength(3)
@maxLength(63)
param ledgerTableName string = 'vmledger'

@description('Queue that hands scale-set-level events to the queue-triggered function, in the ledger\'s storage account (VM_LEDGER_QUEUE); lowercase letters, digits and single hyphens, at most 56 characters (the host adds -poison).')
@minLength(3)
@maxLength(56)
param ledgerQueueName string = 'vmledger-scale-sets'

@description('Subscriptions whose VMs the ledger follows: each gets its system topics, event subscriptions to the one app and Reader for the app; the reconcile lists them (RECONCILE_SUBSCRIPTION_IDS).')
@minLength(1)
param subscriptionIds string[] = [
  subscription().subscriptionId
]

@description('NCRONTAB schedule of the reconcile timer, six fields with seconds (RECONCILE_SCHEDULE).')
param reconcileSchedule string = '0 */15 * * * *'

@description('Comma list of power states that bill compute time (BILLED_POWER_STATES).')
param billedPowerStates string = 'starting,running,stopping,stopped'

@description('api-version of the Virtual Machines - List All call (COMPUTE_API_VERSION).')
param computeApiVersion string = '2024-07-01'

@description('Hours a VM must be stopped and billed before it is a finding (FINDINGS_STOPPED_MIN_HOURS).')
@minValue(0)
param findingsStoppedMinHours int = 1

@description('Days a VM must be deallocated before it is a finding (FINDINGS_DEALLOCATED_MIN_DAYS).')
@minValue(0)
param findingsDeallocatedMinDays int = 30

@description('Minutes without any confirmation after which a VM is unconfirmed; two reconcile periods (FINDINGS_UNCONFIRMED_AFTER_MINUTES).')
@minValue(1)
param findingsUnconfirmedAfterMinutes int = 30

@description('Days of Activity Log read for a VM the reconcile adopts, 0 to switch off (BACKFILL_ON_ADOPT_DAYS).')
@minValue(0)
@maxValue(90)
param backfillOnAdoptDays int = 90

@description('At most this many adopted VMs are backfilled per reconcile run (BACKFILL_ON_ADOPT_MAX_VMS).')
@minValue(0)
param backfillOnAdoptMaxVms int = 50
@description('How often the timer lists VM models for size, OS, priority and tags, an ISO-8601 duration (INVENTORY_REFRESH).')
param inventoryRefresh string = 'PT6H'
@description('How often the timer asks Cost Management for each watched subscription\'s daily actual cost, an ISO-8601 duration, or 0 to switch it off (ACTUALS_REFRESH).')
param actualsRefresh string = 'P1D'
@description('Days of transitions kept (rounded down to a UTC month), 0 to keep every one; day and month rows are always kept (TRANSITION_RETENTION_DAYS).')
@minValue(0)
param transitionRetentionDays int = 0

@description('What reconcile reads: list (List All per subscription), resourceGraph (one Resource Graph sweep, each disagreement confirmed by Compute) or auto (the sweep above 20 subscriptions) (RECONCILE_SOURCE).')
@allowed([
  'list'
  'resourceGraph'
  'auto'
])
param reconcileSource string = 'list'

@description('Management group whose enabled subscriptions are watched beside subscriptionIds, refreshed with the inventory; onboard them with managementGroup.bicep; empty for none (WATCH_MANAGEMENT_GROUP).')
@maxLength(90)
param watchManagementGroup string = ''

@description('Azure Retail Prices API endpoint; anonymous, so no role is needed (RETAIL_PRICES_ENDPOINT).')
param retailPricesEndpoint string = 'https://prices.azure.com'

@description('Currency of the retail prices used for cost estimates, e.g. USD or EUR (PRICES_CURRENCY).')
@minLength(3)
@maxLength(3)
param pricesCurrency string = 'USD'

// ---------------------------------------------------------------------------------------------------
// Event Grid
// ---------------------------------------------------------------------------------------------------

@description('Second phase: create the event subscriptions to on_vm_event (only after the code is published).')
param deployEventSubscription bool = false

@description('Subscribe to health events (HealthResources system topic, a preview Azure feature): guest shutdowns and Spot evictions within a minute instead of at the next reconcile.')
param deployHealthEvents bool = true

@description('Name of the event subscriptions on the system topics (the health one gets a -health suffix).')
@minLength(3)
@maxLength(57)
param eventSubscriptionName string = 'vm-ledger-${resourceToken}'

@description('Delivery attempts before an event is dead-lettered (1-30).')
@minValue(1)
@maxValue(30)
param maxDeliveryAttempts int = 30

@description('Minutes Event Grid keeps retrying an event before dead-lettering it (1-1440).')
@minValue(1)
@maxValue(1440)
param eventTimeToLiveInMinutes int = 1440

@description('Events per delivery to the function; 1 keeps a failing event from redelivering others.')
@minValue(1)
@maxValue(5000)
param maxEventsPerBatch int = 1

@description('Deploy the findings topic (an Event Grid custom topic the timer publishes findings and the daily digest to) and let the app publish to it.')
param deployFindingsTopic bool = true

@description('Name of the findings topic.')
@minLength(3)
@maxLength(50)
param findingsTopicName string = 'evgt-vmledger-findings-${resourceToken}'

@description('Webhook URL that an example event subscription sends raised findings to (a Teams or Power Automate workflow, a Logic App, a ticketing webhook); empty: none.')
@secure()
param findingsWebhookUrl string = ''

@description('Hour (UTC, 0-23) from which the daily digest of yesterday is published (DIGEST_HOUR_UTC).')
@minValue(0)
@maxValue(23)
param digestHourUtc int = 7

// ---------------------------------------------------------------------------------------------------

var deploymentContainerName = 'app-package'
var deadLetterContainerName = 'eventgrid-deadletter'

resource newResourceGroup 'Microsoft.Resources/resourceGroups@2024-11-01' = if (createResourceGroup) {
  name: resourceGroupName
  location: location
  tags: tags
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'vmledger-monitoring'
  scope: resourceGroup(resourceGroupName)
  params: {
    location: location
    tags: tags
    logAnalyticsName: 'log-vmledger-${resourceToken}'
    applicationInsightsName: 'appi-vmledger-${resourceToken}'
    retentionInDays: logRetentionInDays
  }
  dependsOn: [
    newResourceGroup
  ]
}

module storage 'modules/storage.bicep' = {
  name: 'vmledger-storage'
  scope: resourceGroup(resourceGroupName)
  params: {
    storageAccountName: storageAccountName
    location: location
    tags: tags
    ledgerTableName: ledgerTableName
    ledgerQueueName: ledgerQueueName
    deploymentContainerName: deploymentContainerName
    deadLetterContainerName: deadLetterContainerName
  }
  dependsOn: [
    newResourceGroup
  ]
}

module findingsTopic 'modules/findingsTopic.bicep' = if (deployFindingsTopic) {
  name: 'vmledger-findings-topic'
  scope: resourceGroup(resourceGroupName)
  params: {
    location: location
    tags: tags
    topicName: findingsTopicName
    webhookUrl: findingsWebhookUrl
  }
  dependsOn: [
    newResourceGroup
  ]
}

module functionApp 'modules/functionApp.bicep' = {
  name: 'vmledger-function-app'
  scope: resourceGroup(resourceGroupName)
  params: {
    location: location
    tags: tags
    functionAppName: functionAppName
    planName: 'plan-vmledger-${resourceToken}'
    identityType: identityType
    userAssignedIdentityName: 'id-vmledger-${resourceToken}'
    pythonVersion: pythonVersion
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    blobEndpoint: storage.outputs.blobEndpoint
    queueEndpoint: storage.outputs.queueEndpoint
    tableEndpoint: storage.outputs.tableEndpoint
    deploymentContainerName: storage.outputs.deploymentContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    ledgerTableName: storage.outputs.ledgerTableName
    ledgerQueueName: storage.outputs.ledgerQueueName
    reconcileSubscriptionIds: subscriptionIds
    reconcileSchedule: reconcileSchedule
    billedPowerStates: billedPowerStates
    computeApiVersion: computeApiVersion
    findingsStoppedMinHours: findingsStoppedMinHours
    findingsDeallocatedMinDays: findingsDeallocatedMinDays
    findingsUnconfirmedAfterMinutes: findingsUnconfirmedAfterMinutes
    backfillOnAdoptDays: backfillOnAdoptDays
    backfillOnAdoptMaxVms: backfillOnAdoptMaxVms
    inventoryRefresh: inventoryRefresh
    actualsRefresh: actualsRefresh
    transitionRetentionDays: transitionRetentionDays
    reconcileSource: reconcileSource
    watchManagementGroup: watchManagementGroup
    retailPricesEndpoint: retailPricesEndpoint
    pricesCurrency: pricesCurrency
    findingsTopicEndpoint: deployFindingsTopic ? findingsTopic!.outputs.endpoint : ''
    digestHourUtc: digestHourUtc
  }
}


module roleAssignments 'modules/roleAssignments.bicep' = {
  name: 'vmledger-role-assignments'
  scope: resourceGroup(resourceGroupName)
  params: {
    appPrincipalId: functionApp.outputs.principalId
    storageAccountName: storage.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    findingsTopicName: deployFindingsTopic ? findingsTopic!.outputs.name : ''
  }
}

// One deployment per watched subscription, at its scope. Another subscription than the ledger's needs
// a deployer allowed to create resource groups, system topics and role assignments there.
module watched 'modules/watchedSubscription.bicep' = [for subscriptionId in subscriptionIds: {
  name: 'vmledger-watch-${uniqueString(subscriptionId, resourceGroupName)}'
  scope: subscription(subscriptionId)
  params: {
    location: location
    tags: tags
    topicResourceGroupName: topicResourceGroupName
    createTopicResourceGroup: !(toLower(subscriptionId) == toLower(subscription().subscriptionId) && toLower(topicResourceGroupName) == toLower(resourceGroupName))
    resourceTopicName: '${systemTopicNamePrefix}-${uniqueString(subscriptionId, resourceGroupName)}'
    existingResourceTopic: contains(existingSystemTopics, subscriptionId) ? existingSystemTopics[subscriptionId] : {}
    deployHealthEvents: deployHealthEvents
    healthTopicName: '${systemTopicNamePrefix}-health-${uniqueString(subscriptionId, resourceGroupName)}'
    existingHealthTopic: contains(existingHealthTopics, subscriptionId) ? existingHealthTopics[subscriptionId] : {}
    appPrincipalId: functionApp.outputs.principalId
    ledgerSubscriptionId: subscription().subscriptionId
    ledgerResourceGroupName: resourceGroupName
    storageAccountName: storage.outputs.name
    deadLetterStorageAccountId: storage.outputs.id
    deadLetterContainerName: storage.outputs.deadLetterContainerName
    deployEventSubscription: deployEventSubscription
    functionAppName: functionApp.outputs.name
    eventSubscriptionName: eventSubscriptionName
    maxDeliveryAttempts: maxDeliveryAttempts
    eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
    maxEventsPerBatch: maxEventsPerBatch
  }
  dependsOn: [
    newResourceGroup
  ]
}]

@description('Resource group that holds the ledger.')
output resourceGroupName string = resourceGroupName

@description('Name of the function app (for func azure functionapp publish).')
output functionAppName string = functionApp.outputs.name

@description('Default host name of the function app (the HTTP API is under https://<host>/api/).')
output functionAppHostName string = functionApp.outputs.defaultHostName

@description('Principal (object) id of the app identity, to grant Reader on further subscriptions.')
output functionAppPrincipalId string = functionApp.outputs.principalId

@description('Name of the storage account that holds the ledger table.')
output storageAccountName string = storage.outputs.name

@description('Table service endpoint of the ledger (VM_LEDGER_STORAGE__tableServiceUri).')
output tableEndpoint string = storage.outputs.tableEndpoint

@description('Watched subscriptions, in the order of the resource events system topic names below.')
output watchedSubscriptionIds string[] = subscriptionIds

@description('Name of the resource events system topic of each watched subscription (created or reused).')
output systemTopicNames array = [for (subscriptionId, index) in subscriptionIds: watched[index].outputs.resourceTopicName]

@description('Endpoint of the findings topic (FINDINGS_TOPIC_ENDPOINT); empty when none was deployed.')
output findingsTopicEndpoint string = deployFindingsTopic ? findingsTopic!.outputs.endpoint : ''
