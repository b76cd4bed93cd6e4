// VM billing ledger: everything it needs in one subscription.
//
//   az deployment sub create -l <region> -f infra/bicep/main.bicep -p infra/bicep/main.bicepparam
//
// Phase 1 (deployEventSubscription = false) creates the resource group, monitoring, storage, the
// Flex Consumption function app, the Event Grid system topic and every role assignment. Publish the
// code, then run phase 2 (deployEventSubscription = true), which adds the event subscription to the
// on_vm_event function: Event Grid refuses an AzureFunction endpoint whose function does not exist yet.
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

@description('Name of the Event Grid system topic to create (ignored when existingSystemTopicName is set).')
@minLength(3)
@maxLength(128)
param systemTopicName string = 'evgt-vmledger-${resourceToken}'

@description('Name of an existing system topic of this subscription to reuse; empty to create one.')
param existingSystemTopicName string = ''

@description('Resource group of the reused system topic; empty means resourceGroupName.')
param existingSystemTopicResourceGroupName string = ''

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

@description('Subscriptions the reconcile timer lists; the app gets Reader on each (RECONCILE_SUBSCRIPTION_IDS).')
@minLength(1)
param reconcileSubscriptionIds string[] = [
  subscription().subscriptionId
]

@description('NCRONTAB schedule of the reconcile timer, six fields with seconds (RECONCILE_SCHEDULE).')
param reconcileSchedule string = '0 */15 * * * *'

@description('Comma list of power states that bill compute time (BILLED_POWER_STATES).')
param billedPowerStates string = 'starting,running,stopping,stopped'

@description('api-version of the Virtual Machines - List All call (COMPUTE_API_VERSION).')
param computeApiVersion string = '2024-07-01'

@description('How often the timer lists VM models for size, OS, priority and tags, an ISO-8601 duration (INVENTORY_REFRESH).')
param inventoryRefresh string = 'PT6H'

@description('Azure Retail Prices API endpoint; anonymous, so no role is needed (RETAIL_PRICES_ENDPOINT).')
param retailPricesEndpoint string = 'https://prices.azure.com'

@description('Currency of the retail prices used for cost estimates, e.g. USD or EUR (PRICES_CURRENCY).')
@minLength(3)
@maxLength(3)
param pricesCurrency string = 'USD'

// ---------------------------------------------------------------------------------------------------
// Event Grid
// ---------------------------------------------------------------------------------------------------

@description('Second phase: create the event subscription to on_vm_event (only after the code is published).')
param deployEventSubscription bool = false

@description('Name of the event subscription on the system topic.')
@minLength(3)
@maxLength(64)
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

// ---------------------------------------------------------------------------------------------------

var reuseSystemTopic = !empty(existingSystemTopicName)
var topicName = reuseSystemTopic ? existingSystemTopicName : systemTopicName
var topicResourceGroupName = reuseSystemTopic && !empty(existingSystemTopicResourceGroupName) ? existingSystemTopicResourceGroupName : resourceGroupName
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
    deploymentContainerName: deploymentContainerName
    deadLetterContainerName: deadLetterContainerName
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
    reconcileSubscriptionIds: reconcileSubscriptionIds
    reconcileSchedule: reconcileSchedule
    billedPowerStates: billedPowerStates
    computeApiVersion: computeApiVersion
    inventoryRefresh: inventoryRefresh
    retailPricesEndpoint: retailPricesEndpoint
    pricesCurrency: pricesCurrency
  }
}

module systemTopic 'modules/systemTopic.bicep' = {
  name: 'vmledger-system-topic'
  scope: resourceGroup(topicResourceGroupName)
  params: {
    systemTopicName: topicName
    reuseExisting: reuseSystemTopic
    tags: tags
  }
  dependsOn: [
    newResourceGroup
  ]
}

module roleAssignments 'modules/roleAssignments.bicep' = {
  name: 'vmledger-role-assignments'
  scope: resourceGroup(resourceGroupName)
  params: {
    appPrincipalId: functionApp.outputs.principalId
    topicPrincipalId: systemTopic.outputs.principalId
    storageAccountName: storage.outputs.name
    deadLetterContainerName: storage.outputs.deadLetterContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
  }
}

// Reader for List All, on each subscription the reconcile timer covers. A subscription other than the
// deployment's needs a deployer allowed to assign roles there.
module subscriptionReader 'modules/subscriptionReader.bicep' = [for subscriptionId in reconcileSubscriptionIds: {
  name: 'vmledger-reader-${uniqueString(subscriptionId, resourceGroupName)}'
  scope: subscription(subscriptionId)
  params: {
    principalId: functionApp.outputs.principalId
  }
}]

module eventSubscription 'modules/eventSubscription.bicep' = if (deployEventSubscription) {
  name: 'vmledger-event-subscription'
  scope: resourceGroup(topicResourceGroupName)
  params: {
    systemTopicName: systemTopic.outputs.name
    eventSubscriptionName: eventSubscriptionName
    functionAppName: functionApp.outputs.name
    functionAppResourceGroupName: resourceGroupName
    deadLetterStorageAccountId: storage.outputs.id
    deadLetterContainerName: storage.outputs.deadLetterContainerName
    maxDeliveryAttempts: maxDeliveryAttempts
    eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
    maxEventsPerBatch: maxEventsPerBatch
  }
  // Dead-lettering needs the topic's role on the container before the first undeliverable event.
  dependsOn: [
    roleAssignments
  ]
}

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

@description('Name of the Event Grid system topic (created or reused).')
output systemTopicName string = systemTopic.outputs.name

@description('Resource group of the Event Grid system topic.')
output systemTopicResourceGroupName string = topicResourceGroupName
