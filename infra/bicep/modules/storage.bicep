// Storage account of the ledger: the ledger table, the work queue of scale set events (and its poison
// queue), the Functions host storage, the Flex Consumption deployment package container and the Event
// Grid dead-letter container. Keys are switched off: every
// client (the app, the Functions host, the platform pulling the package, Event Grid dead-lettering)
// authenticates with a managed identity.

@description('Name of the storage account (3-24 lowercase letters and digits, globally unique).')
@minLength(3)
@maxLength(24)
param storageAccountName string

@description('Azure region of the storage account.')
param location string

@description('Tags applied to the storage account.')
param tags object = {}

@description('Name of the table that holds the ledger (read by the app from VM_LEDGER_TABLE).')
@minLength(3)
@maxLength(63)
param ledgerTableName string

@description('Queue that hands scale-set-level events from on_vm_event to record_scale_set_event (VM_LEDGER_QUEUE); at most 56 characters, so that the host\'s <name>-poison queue fits the 63 allowed.')
@minLength(3)
@maxLength(56)
param ledgerQueueName string

@description('Blob container that Flex Consumption reads the app package from.')
@minLength(3)
@maxLength(63)
param deploymentContainerName string

@description('Blob container where Event Grid writes events it could not deliver.')
@minLength(3)
@maxLength(63)
param deadLetterContainerName string

resource storageAccount 'Microsoft.Storage/storageAccounts@2025-01-01' = {
  name: storageAccountName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    dnsEndpointType: 'Standard'
    minimumTlsVersion: 'TLS1_2'
    publicNetworkAccess: 'Enabled'
    supportsHttpsTrafficOnly: true
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2025-01-01' = {
  parent: storageAccount
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2025-01-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource deadLetterContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2025-01-01' = {
  parent: blobService
  name: deadLetterContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2025-01-01' = {
  parent: storageAccount
  name: 'default'
}

resource ledgerTable 'Microsoft.Storage/storageAccounts/tableServices/tables@2025-01-01' = {
  parent: tableService
  name: ledgerTableName
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2025-01-01' = {
  parent: storageAccount
  name: 'default'
}

resource ledgerQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2025-01-01' = {
  parent: queueService
  name: ledgerQueueName
}

// The host creates it on the first message that fails maxDequeueCount times; created here so that it can
// be watched (an alert on its message count) before that happens.
resource ledgerPoisonQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2025-01-01' = {
  parent: queueService
  name: '${ledgerQueueName}-poison'
}

@description('Name of the storage account.')
output name string = storageAccount.name

@description('Resource id of the storage account.')
output id string = storageAccount.id

// Endpoints are built from the cloud's storage suffix (no trailing slash), so they are right in
// sovereign clouds too and match what the app and the Functions host expect.
@description('Blob service endpoint, without a trailing slash.')
output blobEndpoint string = 'https://${storageAccount.name}.blob.${environment().suffixes.storage}'

@description('Queue service endpoint, without a trailing slash.')
output queueEndpoint string = 'https://${storageAccount.name}.queue.${environment().suffixes.storage}'

@description('Table service endpoint, without a trailing slash.')
output tableEndpoint string = 'https://${storageAccount.name}.table.${environment().suffixes.storage}'

@description('Name of the deployment package container.')
output deploymentContainerName string = deploymentContainer.name

@description('Name of the dead-letter container.')
output deadLetterContainerName string = deadLetterContainer.name

@description('Name of the ledger table.')
output ledgerTableName string = ledgerTable.name

@description('Name of the work queue of scale set events.')
output ledgerQueueName string = ledgerQueue.name

@description('Name of the poison queue where the host moves a message that failed every attempt.')
output ledgerPoisonQueueName string = ledgerPoisonQueue.name
