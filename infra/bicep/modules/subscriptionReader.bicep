// Reader on one subscription for the app's identity: the reconcile timer calls Virtual Machines -
// List All there, which needs Microsoft.Compute/virtualMachines/read, and lists scale sets and their
// instances (Microsoft.Compute/virtualMachineScaleSets/read, .../virtualMachineScaleSets/virtualMachines/
// read), as on_vm_event does after a scale-set-level event: Reader's */read covers all three.
// main.bicep deploys this once per entry of reconcileSubscriptionIds.
targetScope = 'subscription'

@description('Principal (object) id of the function app identity.')
param principalId string

var readerRoleId = 'acdd72a7-3385-48ef-bd42-f606fba81ae7'

resource reader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, principalId, readerRoleId)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', readerRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
