// The event subscription that delivers the subscription's health events (HealthResources system topic,
// a preview Azure feature) to the same on_vm_event function as the resource events: the code tells
// them apart by event type. Like the resource events subscription, it can only be created once the
// function exists (second phase). Whoever deploys it needs, besides the usual Event Grid permissions,
// Microsoft.ResourceNotifications/systemTopics/subscribeToHealthResources/action on the subscription.

@description('Name of the existing HealthResources system topic in this resource group.')
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

// Must equal HEALTH_EVENT_TYPES in shared/sources/health_events.py (a test compares them).
var healthEventTypes = [
  'Microsoft.ResourceNotifications.HealthResources.ResourceAnnotated'
  'Microsoft.ResourceNotifications.HealthResources.AvailabilityStatusChanged'
]

// Must equal HEALTH_TARGET_TYPES in shared/sources/health_events.py (a test compares them): the topic
// also reports scale sets and other resources, which the code would only skip.
var targetResourceTypes = [
  'Microsoft.Compute/virtualMachines'
  'Microsoft.Compute/virtualMachineScaleSets/virtualMachines'
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
      includedEventTypes: healthEventTypes
      advancedFilters: [
        {
          operatorType: 'StringIn'
          key: 'data.resourceInfo.properties.targetResourceType'
          values: targetResourceTypes
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
