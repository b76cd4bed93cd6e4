// Data-plane roles in the app's resource group. Names are guid() of scope, principal and role, so a
// redeployment finds the same assignment instead of failing on a duplicate.
//
// The app's identity gets:
// - Storage Table Data Contributor on the account: the ledger table, and the host's diagnostic events.
// - Storage Blob Data Owner on the account: the Functions host keeps locks, timer schedule status and
//   keys in containers it creates itself, and Flex Consumption reads the package from the
//   deployment container. Owner (not Contributor) is what the host documents as its minimum.
// - Storage Queue Data Contributor on the account: on_vm_event sends scale set events to the work queue
//   (and creates it if missing), the queue trigger of record_scale_set_event reads and deletes them, and
//   the host moves a message that failed every attempt to the poison queue, which it may have to create.
// - Monitoring Metrics Publisher on Application Insights: telemetry with Entra auth.
// - EventGrid Data Sender on the findings topic, when there is one: the timer publishes findings to it.
//
// The system topics' identities get Storage Blob Data Contributor on the dead-letter container only, in
// topicDeadLetter.bicep (one deployment per watched subscription).

@description('Principal (object) id of the function app identity.')
param appPrincipalId string

@description('Name of the storage account in this resource group.')
param storageAccountName string

@description('Name of the Application Insights component in this resource group.')
param applicationInsightsName string

@description('Name of the findings topic in this resource group; empty: none was deployed.')
param findingsTopicName string = ''

var storageTableDataContributorRoleId = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
var storageBlobDataOwnerRoleId = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
var storageQueueDataContributorRoleId = '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
var monitoringMetricsPublisherRoleId = '3913510d-42f4-4e42-8a64-420c390055eb'
// Built-in role "EventGrid Data Sender" (Learn, Azure built-in roles, Integration).
var eventGridDataSenderRoleId = 'd5a91429-5739-47e2-a06b-3470a27159e7'

resource storageAccount 'Microsoft.Storage/storageAccounts@2025-01-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource appTableData 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storageAccount.id, appPrincipalId, storageTableDataContributorRoleId)
  scope: storageAccount
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageTableDataContributorRoleId)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource appBlobData 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storageAccount.id, appPrincipalId, storageBlobDataOwnerRoleId)
  scope: storageAccount
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwnerRoleId)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource appQueueData 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storageAccount.id, appPrincipalId, storageQueueDataContributorRoleId)
  scope: storageAccount
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataContributorRoleId)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource appMetricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, appPrincipalId, monitoringMetricsPublisherRoleId)
  scope: applicationInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisherRoleId)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource findingsTopic 'Microsoft.EventGrid/topics@2025-02-15' existing = if (!empty(findingsTopicName)) {
  name: findingsTopicName
}

resource appFindingsSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(findingsTopicName)) {
  name: guid(findingsTopic.id, appPrincipalId, eventGridDataSenderRoleId)
  scope: findingsTopic
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', eventGridDataSenderRoleId)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}
