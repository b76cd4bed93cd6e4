// Reader and Cost Management Reader on one subscription for the app's identity. Reader: the reconcile
// timer calls Virtual Machines - List All there, which needs Microsoft.Compute/virtualMachines/read, and
// lists scale sets and their instances (Microsoft.Compute/virtualMachineScaleSets/read,
// .../virtualMachineScaleSets/virtualMachines/read), as on_vm_event does after a scale-set-level event:
// Reader's */read covers all three. Cost Management Reader: the actuals step queries the subscription's
// daily costs (Microsoft.CostManagement/query, which Reader does not cover).
// main.bicep deploys this once per entry of reconcileSubscriptionIds.
targetScope = 'subscription'

@description('Principal (object) id of the function app identity.')
param principalId string

var readerRoleId = 'acdd72a7-3385-48ef-bd42-f606fba81ae7'
// Cost Management Reader (built-in): Microsoft.CostManagement/*/read, Microsoft.Consumption/*/read.
var costManagementReaderRoleId = '72fafb9e-0641-4937-9268-a91bfd8191a3'

resource reader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, principalId, readerRoleId)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', readerRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource costReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, principalId, costManagementReaderRoleId)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', costManagementReaderRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
