// Everything one watched subscription needs, deployed at that subscription's scope (main.bicep deploys
// this once per entry of subscriptionIds):
// - a resource group for its system topics (unless it is the ledger's own resource group);
// - its resource events system topic and, optionally, its health events system topic (HealthResources,
//   a preview Azure feature), each created or, when the subscription has one already, reused: Azure
//   allows one system topic per source and type;
// - Reader on the subscription for the app's identity (the reconcile lists its VMs);
// - the topics' role on the ledger's dead-letter container (deployed into the ledger's resource group,
//   under a deployment name unique to this subscription);
// - in the second phase, the event subscriptions that deliver both topics to the one on_vm_event.
targetScope = 'subscription'

@description('Region of the topics resource group when it is created here.')
param location string

@description('Tags applied to the resources created here.')
param tags object = {}

@description('Resource group of this subscription that holds its system topics.')
@minLength(1)
@maxLength(90)
param topicResourceGroupName string

@description('True to create the topics resource group (false when it is the ledger\'s own, created by main.bicep).')
param createTopicResourceGroup bool = true

@description('Name of the resource events system topic to create.')
@minLength(3)
@maxLength(128)
param resourceTopicName string

@description('Existing resource events system topic of this subscription to reuse: {name, resourceGroup}; empty object to create one.')
param existingResourceTopic object = {}

@description('True to subscribe to the health events topic (Microsoft.ResourceNotifications.HealthResources, preview).')
param deployHealthEvents bool = true

@description('Name of the health events system topic to create.')
@minLength(3)
@maxLength(128)
param healthTopicName string

@description('Existing health events (HealthResources) system topic of this subscription to reuse: {name, resourceGroup}; empty object to create one.')
param existingHealthTopic object = {}

@description('Principal (object) id of the function app identity (Reader here).')
param appPrincipalId string

@description('Subscription of the ledger (function app and storage).')
param ledgerSubscriptionId string

@description('Resource group of the ledger (function app and storage).')
param ledgerResourceGroupName string

@description('Name of the ledger\'s storage account, which holds the dead-letter container.')
param storageAccountName string

@description('Resource id of that storage account.')
param deadLetterStorageAccountId string

@description('Blob container that receives dead-lettered events.')
param deadLetterContainerName string

@description('Second phase: create the event subscriptions to on_vm_event (only after the code is published).')
param deployEventSubscription bool = false

@description('Name of the function app that hosts on_vm_event.')
param functionAppName string

@description('Name of the event subscriptions on the topics (the health one gets a -health suffix).')
@minLength(3)
@maxLength(57)
param eventSubscriptionName string

@description('Delivery attempts before an event is dead-lettered (1-30).')
@minValue(1)
@maxValue(30)
param maxDeliveryAttempts int = 30

@description('Minutes Event Grid keeps retrying an event before dead-lettering it (1-1440).')
@minValue(1)
@maxValue(1440)
param eventTimeToLiveInMinutes int = 1440

@description('Events per delivery to the function.')
@minValue(1)
@maxValue(5000)
param maxEventsPerBatch int = 1

var reuseResourceTopic = !empty(existingResourceTopic)
var resourceTopicFinalName = reuseResourceTopic ? existingResourceTopic.name : resourceTopicName
var resourceTopicResourceGroupName = reuseResourceTopic && contains(existingResourceTopic, 'resourceGroup') ? existingResourceTopic.resourceGroup : topicResourceGroupName
var reuseHealthTopic = !empty(existingHealthTopic)
var healthTopicFinalName = reuseHealthTopic ? existingHealthTopic.name : healthTopicName
var healthTopicResourceGroupName = reuseHealthTopic && contains(existingHealthTopic, 'resourceGroup') ? existingHealthTopic.resourceGroup : topicResourceGroupName
// Deployments into the ledger's resource group come from every watched subscription: their names
// carry this subscription so that two of them never overwrite each other.
var subscriptionToken = uniqueString(subscription().id)

resource topicResourceGroup 'Microsoft.Resources/resourceGroups@2024-11-01' = if (createTopicResourceGroup) {
  name: topicResourceGroupName
  location: location
  tags: tags
}

module resourceTopic 'systemTopic.bicep' = {
  name: 'vmledger-resource-topic'
  scope: resourceGroup(resourceTopicResourceGroupName)
  params: {
    systemTopicName: resourceTopicFinalName
    topicType: 'Microsoft.Resources.Subscriptions'
    reuseExisting: reuseResourceTopic
    tags: tags
  }
  dependsOn: [
    topicResourceGroup
  ]
}

module healthTopic 'systemTopic.bicep' = if (deployHealthEvents) {
  name: 'vmledger-health-topic'
  scope: resourceGroup(healthTopicResourceGroupName)
  params: {
    systemTopicName: healthTopicFinalName
    topicType: 'Microsoft.ResourceNotifications.HealthResources'
    reuseExisting: reuseHealthTopic
    tags: tags
  }
  dependsOn: [
    topicResourceGroup
  ]
}

module reader 'subscriptionReader.bicep' = {
  name: 'vmledger-reader'
  params: {
    principalId: appPrincipalId
  }
}

module deadLetter 'topicDeadLetter.bicep' = {
  name: 'vmledger-dead-letter-${subscriptionToken}'
  scope: resourceGroup(ledgerSubscriptionId, ledgerResourceGroupName)
  params: {
    resourceTopicPrincipalId: resourceTopic.outputs.principalId
    healthTopicPrincipalId: deployHealthEvents ? healthTopic!.outputs.principalId : ''
    storageAccountName: storageAccountName
    deadLetterContainerName: deadLetterContainerName
  }
}

module resourceEvents 'eventSubscription.bicep' = if (deployEventSubscription) {
  name: 'vmledger-resource-events'
  scope: resourceGroup(resourceTopicResourceGroupName)
  params: {
    systemTopicName: resourceTopic.outputs.name
    eventSubscriptionName: eventSubscriptionName
    functionAppName: functionAppName
    functionAppResourceGroupName: ledgerResourceGroupName
    functionAppSubscriptionId: ledgerSubscriptionId
    deadLetterStorageAccountId: deadLetterStorageAccountId
    deadLetterContainerName: deadLetterContainerName
    maxDeliveryAttempts: maxDeliveryAttempts
    eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
    maxEventsPerBatch: maxEventsPerBatch
  }
  // Dead-lettering needs the topic's role on the container before the first undeliverable event.
  dependsOn: [
    deadLetter
  ]
}

module healthEvents 'healthEventSubscription.bicep' = if (deployEventSubscription && deployHealthEvents) {
  name: 'vmledger-health-events'
  scope: resourceGroup(healthTopicResourceGroupName)
  params: {
    systemTopicName: healthTopic!.outputs.name
    eventSubscriptionName: '${eventSubscriptionName}-health'
    functionAppName: functionAppName
    functionAppResourceGroupName: ledgerResourceGroupName
    functionAppSubscriptionId: ledgerSubscriptionId
    deadLetterStorageAccountId: deadLetterStorageAccountId
    deadLetterContainerName: deadLetterContainerName
    maxDeliveryAttempts: maxDeliveryAttempts
    eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
    maxEventsPerBatch: maxEventsPerBatch
  }
  dependsOn: [
    deadLetter
  ]
}

@description('Name of the resource events system topic (created or reused).')
output resourceTopicName string = resourceTopic.outputs.name

@description('Resource group of the resource events system topic.')
output resourceTopicResourceGroupName string = resourceTopicResourceGroupName

@description('Name of the health events system topic (created or reused); empty when not deployed.')
output healthTopicName string = deployHealthEvents ? healthTopic!.outputs.name : ''

@description('Resource group of the health events system topic; empty when not deployed.')
output healthTopicResourceGroupName string = deployHealthEvents ? healthTopicResourceGroupName : ''
