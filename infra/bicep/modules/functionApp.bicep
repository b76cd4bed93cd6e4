// The function app on a Flex Consumption (FC1) plan, with a managed identity and identity-based
// connections only: no storage keys, no instrumentation keys in settings.
//
// App settings: every setting the Python code reads (shared/settings.py) is set here, except the
// dev-only VM_LEDGER_STORAGE connection string, which must stay unset in Azure (the code requires
// exactly one of it and VM_LEDGER_STORAGE__tableServiceUri). tests/test_bicep.py checks this list
// against the code. Flex Consumption takes the runtime from functionAppConfig, not from the
// FUNCTIONS_WORKER_RUNTIME / FUNCTIONS_EXTENSION_VERSION settings, so those are not set.

@description('Azure region of the plan and the app.')
param location string

@description('Tags applied to the plan, the identity and the app.')
param tags object = {}

@description('Globally unique name of the function app (also the host name prefix).')
@minLength(2)
@maxLength(60)
param functionAppName string

@description('Name of the Flex Consumption plan.')
@minLength(1)
@maxLength(60)
param planName string

@description('Managed identity of the app: one it owns (SystemAssigned) or a separate one (UserAssigned).')
@allowed([
  'SystemAssigned'
  'UserAssigned'
])
param identityType string = 'UserAssigned'

@description('Name of the user-assigned identity, created when identityType is UserAssigned.')
@minLength(3)
@maxLength(128)
param userAssignedIdentityName string

@description('Python version of the Functions runtime.')
@allowed([
  '3.11'
  '3.12'
])
param pythonVersion string = '3.11'

@description('Upper bound of instances the plan scales out to.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Memory of each instance, in MB.')
@allowed([
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Blob endpoint of the storage account, without a trailing slash.')
param blobEndpoint string

@description('Queue endpoint of the storage account, without a trailing slash.')
param queueEndpoint string

@description('Table endpoint of the storage account, without a trailing slash.')
param tableEndpoint string

@description('Blob container that holds the deployment package.')
param deploymentContainerName string

@description('Name of the Application Insights component that receives telemetry.')
param applicationInsightsName string

@description('Ledger table name (VM_LEDGER_TABLE).')
param ledgerTableName string

@description('Work queue of scale set events (VM_LEDGER_QUEUE), in the storage account of queueEndpoint.')
param ledgerQueueName string

@description('Subscriptions that the reconcile timer lists (RECONCILE_SUBSCRIPTION_IDS).')
@minLength(1)
param reconcileSubscriptionIds string[]

@description('NCRONTAB schedule of the reconcile timer, six fields with seconds (RECONCILE_SCHEDULE).')
param reconcileSchedule string

@description('Comma list of power states that bill compute time (BILLED_POWER_STATES).')
param billedPowerStates string

@description('api-version of the Compute List All call (COMPUTE_API_VERSION).')
param computeApiVersion string

@description('Hours a VM must be stopped and billed before it is a finding (FINDINGS_STOPPED_MIN_HOURS).')
param findingsStoppedMinHours int

@description('Days a VM must be deallocated before it is a finding (FINDINGS_DEALLOCATED_MIN_DAYS).')
param findingsDeallocatedMinDays int

@description('Minutes without confirmation after which a VM state is unconfirmed (FINDINGS_UNCONFIRMED_AFTER_MINUTES).')
param findingsUnconfirmedAfterMinutes int

@description('Days of Activity Log read for a VM reconcile adopts, 0 to switch off (BACKFILL_ON_ADOPT_DAYS).')
param backfillOnAdoptDays int

@description('At most this many adopted VMs backfilled per reconcile run (BACKFILL_ON_ADOPT_MAX_VMS).')
param backfillOnAdoptMaxVms int
@description('How often the VM models are listed for inventory, an ISO-8601 duration (INVENTORY_REFRESH).')
param inventoryRefresh string
@description('How often Cost Management\'s daily actual cost is read per watched subscription, or 0 (ACTUALS_REFRESH).')
param actualsRefresh string
@description('Days of transitions kept, 0 to keep every one (TRANSITION_RETENTION_DAYS).')
param transitionRetentionDays int

@description('What reconcile reads: list, resourceGraph or auto (RECONCILE_SOURCE).')
param reconcileSource string

@description('Management group whose enabled subscriptions are watched too; empty for none (WATCH_MANAGEMENT_GROUP).')
param watchManagementGroup string

@description('Azure Retail Prices API endpoint, anonymous (RETAIL_PRICES_ENDPOINT).')
param retailPricesEndpoint string

@description('Currency of the retail prices (PRICES_CURRENCY).')
param pricesCurrency string

@description('Endpoint of the findings topic (FINDINGS_TOPIC_ENDPOINT); empty: findings are not published.')
param findingsTopicEndpoint string = ''

@description('Hour (UTC) from which the daily digest is published (DIGEST_HOUR_UTC).')
@minValue(0)
@maxValue(23)
param digestHourUtc int = 7

var useUserAssigned = identityType == 'UserAssigned'

// The code joins paths to ARM_ENDPOINT itself, so it gets the cloud's endpoint without the slash.
var resourceManager = environment().resourceManager
var armEndpoint = endsWith(resourceManager, '/') ? take(resourceManager, length(resourceManager) - 1) : resourceManager

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource userAssignedIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2024-11-30' = if (useUserAssigned) {
  name: userAssignedIdentityName
  location: location
  tags: tags
}

var identityClientId = useUserAssigned ? userAssignedIdentity!.properties.clientId : ''
var appInsightsAuthentication = useUserAssigned ? 'ClientId=${identityClientId};Authorization=AAD' : 'Authorization=AAD'

resource plan 'Microsoft.Web/serverfarms@2024-11-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-11-01' = {
  name: functionAppName
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: useUserAssigned ? {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${userAssignedIdentity!.id}': {}
    }
  } : {
    type: 'SystemAssigned'
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${blobEndpoint}/${deploymentContainerName}'
          authentication: useUserAssigned ? {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: userAssignedIdentity!.id
          } : {
            type: 'SystemAssignedIdentity'
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: pythonVersion
      }
    }
  }

  resource appSettings 'config' = {
    name: 'appsettings'
    properties: union(
      {
        // Functions host storage through the identity: blobs (locks, timer schedule, keys), queues
        // and tables by service URI, so no key or connection string is ever stored.
        AzureWebJobsStorage__credential: 'managedidentity'
        AzureWebJobsStorage__blobServiceUri: blobEndpoint
        AzureWebJobsStorage__queueServiceUri: queueEndpoint
        AzureWebJobsStorage__tableServiceUri: tableEndpoint
        // The connection string only locates the component; with local auth off on it, telemetry is
        // accepted only with an Entra token of the identity named here.
        APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
        APPLICATIONINSIGHTS_AUTHENTICATION_STRING: appInsightsAuthentication
        // Settings of the ledger code (shared/settings.py).
        VM_LEDGER_STORAGE__tableServiceUri: tableEndpoint
        VM_LEDGER_TABLE: ledgerTableName
        // The queue trigger's connection VM_LEDGER_STORAGE, identity-based: the host reads the queue at
        // this URI with the managed identity (the client id below names a user-assigned one); the code
        // sends to it through the same URI.
        VM_LEDGER_STORAGE__queueServiceUri: queueEndpoint
        VM_LEDGER_STORAGE__credential: 'managedidentity'
        VM_LEDGER_QUEUE: ledgerQueueName
        RECONCILE_SUBSCRIPTION_IDS: join(reconcileSubscriptionIds, ',')
        RECONCILE_SCHEDULE: reconcileSchedule
        BILLED_POWER_STATES: billedPowerStates
        ARM_ENDPOINT: armEndpoint
        COMPUTE_API_VERSION: computeApiVersion
        FINDINGS_STOPPED_MIN_HOURS: string(findingsStoppedMinHours)
        FINDINGS_DEALLOCATED_MIN_DAYS: string(findingsDeallocatedMinDays)
        FINDINGS_UNCONFIRMED_AFTER_MINUTES: string(findingsUnconfirmedAfterMinutes)
        BACKFILL_ON_ADOPT_DAYS: string(backfillOnAdoptDays)
        BACKFILL_ON_ADOPT_MAX_VMS: string(backfillOnAdoptMaxVms)
        INVENTORY_REFRESH: inventoryRefresh
        ACTUALS_REFRESH: actualsRefresh
        TRANSITION_RETENTION_DAYS: string(transitionRetentionDays)
        RECONCILE_SOURCE: reconcileSource
        WATCH_MANAGEMENT_GROUP: watchManagementGroup
        RETAIL_PRICES_ENDPOINT: retailPricesEndpoint
        PRICES_CURRENCY: pricesCurrency
        // Published with the identity (EventGrid Data Sender): no FINDINGS_TOPIC_KEY in Azure.
        FINDINGS_TOPIC_ENDPOINT: findingsTopicEndpoint
        DIGEST_HOUR_UTC: string(digestHourUtc)
      },
      useUserAssigned ? {
        // A user-assigned identity must be named wherever a credential is built.
        AzureWebJobsStorage__clientId: identityClientId
        VM_LEDGER_STORAGE__clientId: identityClientId
        AZURE_CLIENT_ID: identityClientId
      } : {}
    )
  }
}

@description('Name of the function app.')
output name string = functionApp.name

@description('Resource id of the function app.')
output id string = functionApp.id

@description('Default host name of the function app.')
output defaultHostName string = functionApp.properties.defaultHostName

@description('Principal (object) id of the identity the app runs as; role assignments target it.')
output principalId string = useUserAssigned ? userAssignedIdentity!.properties.principalId : functionApp.identity.principalId

@description('Client id of the user-assigned identity, empty for a system-assigned identity.')
output clientId string = identityClientId
