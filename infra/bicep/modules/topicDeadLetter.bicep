// Storage Blob Data Contributor on the dead-letter container for the identities of one watched
// subscription's system topics: dead-lettering authenticates as the topic. Deployed into the ledger's
// resource group once per watched subscription; names are guid() of container, principal and role.

@description('Principal (object) id of the resource events system topic identity.')
param resourceTopicPrincipalId string

@description('Principal (object) id of the health events system topic identity; empty when not deployed.')
param healthTopicPrincipalId string = ''

@description('Name of the storage account in this resource group.')
param storageAccountName string

@description('Name of the dead-letter container in that storage account.')
param deadLetterContainerName string

var storageBlobDataContributorRoleId = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

resource storageAccount 'Microsoft.Storage/storageAccounts@2025-01-01' existing = {
  name: storageAccountName
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2025-01-01' existing = {
  parent: storageAccount
  name: 'default'
}

resource deadLetterContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2025-01-01' existing = {
  parent: blobService
  name: deadLetterContainerName
}

resource resourceTopicDeadLetter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(deadLetterContainer.id, resourceTopicPrincipalId, storageBlobDataContributorRoleId)
  scope: deadLetterContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributorRoleId)
    principalId: resourceTopicPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource healthTopicDeadLetter 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(healthTopicPrincipalId)) {
  name: guid(deadLetterContainer.id, healthTopicPrincipalId, storageBlobDataContributorRoleId)
  scope: deadLetterContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributorRoleId)
    principalId: healthTopicPrincipalId
    principalType: 'ServicePrincipal'
  }
}
