// The event subscription that delivers the subscription's resource events to the on_vm_event function.
// It can only be created once the function exists, i.e. after the code is published: main.bicep
// deploys this module only when deployEventSubscription is true (the second phase).

@description('Name of the existing system topic in this resource group.')
param systemTopicName string

@description('Name of the event subscription (3-64 letters, digits and hyphens).')
@minLength(3)
@maxLength(64)
param eventSubscriptionName string

@description('Name of the function app that hosts on_vm_event.')
param functionAppName string

@description('Resource group of the function app.')
param functionAppResourceGroupName string

@description('Subscription of the function app; every watched subscription delivers to the one app.')
param functionAppSubscriptionId string = subscription().subscriptionId

@description('Resource id of the storage account that receives dead-lettered events.')
param deadLetterStorageAccountId string

@description('Blob container that receives dead-lettered events.')
param deadLetterContainerName string

@description('Delivery attempts before an event is dead-lettered (Event Grid allows 1-30).')
@minValue(1)
@maxValue(30)
param maxDeliveryAttempts int = 30

@description('Minutes an event is retried before it is dead-lettered (Event Grid allows 1-1440).')
@minValue(1)
@maxValue(1440)
param eventTimeToLiveInMinutes int = 1440

@description('Events per delivery; the Functions host redelivers a whole batch if one event fails.')
@minValue(1)
@maxValue(5000)
param maxEventsPerBatch int = 1

// Contract with function_app.py: the Event Grid trigger is registered under this name.
var eventFunctionName = 'on_vm_event'

// Every outcome of a resource operation: a failed or canceled operation still says the VM was touched,
// and the code decides what it means for the power state.
var resourceEventTypes = [
  'Microsoft.Resources.ResourceWriteSuccess'
  'Microsoft.Resources.ResourceWriteFailure'
  'Microsoft.Resources.ResourceWriteCancel'
  'Microsoft.Resources.ResourceActionSuccess'
  'Microsoft.Resources.ResourceActionFailure'
  'Microsoft.Resources.ResourceActionCancel'
  'Microsoft.Resources.ResourceDeleteSuccess'
  'Microsoft.Resources.ResourceDeleteFailure'
  'Microsoft.Resources.ResourceDeleteCancel'
]

resource systemTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' existing = {
  name: systemTopicName
}

resource functionApp 'Microsoft.Web/sites@2024-11-01' existing = {
  name: functionAppName
  scope: resourceGroup(functionAppSubscriptionId, functionAppResourceGroupName)
}

resource eventFunction 'Microsoft.Web/sites/functions@2024-11-01' existing = {
  parent: functionApp
  name: eventFunctionName
}

resource eventSubscription 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = {
  parent: systemTopic
  name: eventSubscriptionName
  properties: {
    eventDeliverySchema: 'EventGridSchema'
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: eventFunction.id
        maxEventsPerBatch: maxEventsPerBatch
        preferredBatchSizeInKilobytes: 64
      }
    }
    filter: {
      includedEventTypes: resourceEventTypes
      // Case-insensitive prefix matches, so the trailing '/' matters: 'Microsoft.Compute/virtualMachines'
      // alone would let every virtualMachineScaleSets operation through. VM and scale set instance
      // operations go by prefix; scale-set-level operations are listed one by one (each value matches
      // that operation only), so extensions and rolling upgrades are not delivered just to be skipped.
      // Must equal event_filter_prefixes() in shared/domain/operations.py (a test compares them). The
      // code still checks the exact id shape: child resources (extensions, run commands) share prefixes.
      advancedFilters: [
        {
          operatorType: 'StringBeginsWith'
          key: 'data.operationName'
          values: [
            'Microsoft.Compute/virtualMachines/'
            'Microsoft.Compute/virtualMachineScaleSets/virtualMachines/'
            'Microsoft.Compute/virtualMachineScaleSets/start/action'
            'Microsoft.Compute/virtualMachineScaleSets/restart/action'
            'Microsoft.Compute/virtualMachineScaleSets/redeploy/action'
            'Microsoft.Compute/virtualMachineScaleSets/performMaintenance/action'
            'Microsoft.Compute/virtualMachineScaleSets/reimage/action'
            'Microsoft.Compute/virtualMachineScaleSets/reimageall/action'
            'Microsoft.Compute/virtualMachineScaleSets/powerOff/action'
            'Microsoft.Compute/virtualMachineScaleSets/deallocate/action'
            'Microsoft.Compute/virtualMachineScaleSets/delete/action'
            'Microsoft.Compute/virtualMachineScaleSets/write'
            'Microsoft.Compute/virtualMachineScaleSets/delete'
          ]
        }
      ]
    }
    retryPolicy: {
      maxDeliveryAttempts: maxDeliveryAttempts
      eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
    }
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'SystemAssigned'
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: deadLetterStorageAccountId
          blobContainerName: deadLetterContainerName
        }
      }
    }
  }
}

@description('Name of the event subscription.')
output name string = eventSubscription.name
