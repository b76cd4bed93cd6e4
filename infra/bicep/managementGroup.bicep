// Onboarding every subscription under a management group by Azure Policy, in one deployment:
//
//   az deployment mg create -m <managementGroupId> -l <region> -f infra/bicep/managementGroup.bicep \
//     -p appPrincipalId=<function app identity> eventFunctionResourceId=<.../functions/on_vm_event>
//
// Run it after main.bicep's second phase (the function must exist: Event Grid refuses an AzureFunction
// endpoint that does not). A system topic for resource events cannot be created at management group
// scope (one per subscription, one per source), so deployIfNotExists policies create what each
// subscription needs, in every subscription under the group, existing ones through the remediation
// tasks below and new ones as they arrive:
// - vmledger-resource-topic (on each subscription): a resource events system topic, unless the
//   subscription has one already (any name, any resource group: it is reused);
// - vmledger-resource-events (on each resource events system topic, created here or found): the event
//   subscription to on_vm_event with the filters of modules/eventSubscription.bicep;
// - vmledger-health-topic / vmledger-health-events: the same for health events when deployHealthEvents;
// - vmledger-reader, vmledger-cost-reader (on each subscription): Reader (reconcile reads the VMs) and
//   Cost Management Reader (the actuals step reads the daily costs) for the app's identity.
// One assignment of the set, with a system-assigned identity holding the roles the deployments need
// (Contributor and Role Based Access Control Administrator on the group). Policy-made event
// subscriptions have no dead-letter destination: after Event Grid's 24 hours of retries an event is
// dropped and the next reconcile records the state instead. The per-subscription modules stay for
// deployments that list their subscriptions (main.bicep).
targetScope = 'managementGroup'

@description('Region of the policy assignment\'s identity and of the policy deployments.')
param location string = deployment().location

@description('Principal (object) id of the function app identity: Reader in every subscription.')
param appPrincipalId string

@description('Resource id of the on_vm_event function (…/sites/<app>/functions/on_vm_event) the events go to.')
param eventFunctionResourceId string

@description('True to onboard the health events topic too (Microsoft.ResourceNotifications.HealthResources, preview).')
param deployHealthEvents bool = true

@description('Resource group created in each subscription for the topics the policies create.')
@minLength(1)
@maxLength(90)
param topicResourceGroupName string = 'rg-vmledger-events'

@description('Name of the event subscriptions the policies create (the health one gets a -health suffix).')
@minLength(3)
@maxLength(57)
param eventSubscriptionName string = 'vmledger-events'

@description('Delivery attempts before Event Grid drops an event (1-30).')
@minValue(1)
@maxValue(30)
param maxDeliveryAttempts int = 30

@description('Minutes Event Grid keeps retrying an event (1-1440).')
@minValue(1)
@maxValue(1440)
param eventTimeToLiveInMinutes int = 1440

@description('True to start remediation tasks for the subscriptions already under the group.')
param remediateExisting bool = true

var readerRoleId = 'acdd72a7-3385-48ef-bd42-f606fba81ae7'
var costManagementReaderRoleId = '72fafb9e-0641-4937-9268-a91bfd8191a3'
// The app's roles on every subscription: Reader (reconcile reads the VMs) and Cost Management Reader
// (the actuals step queries the daily costs, which Reader does not cover).
var appRoles = [
  {
    key: 'reader'
    id: readerRoleId
    name: 'Reader'
    why: 'reconcile reads the VMs'
  }
  {
    key: 'cost-reader'
    id: costManagementReaderRoleId
    name: 'Cost Management Reader'
    why: 'the actuals step reads the daily costs'
  }
]
var contributorRoleId = 'b24988ac-6180-42a0-ab88-20f7382dd24c'
var rbacAdministratorRoleId = 'f58310d9-a9f6-439a-9e8d-f62e7b41a168'
var assignmentRoles = [
  contributorRoleId
  rbacAdministratorRoleId
]
var deploymentTemplateSchema = 'https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#'
var subscriptionTemplateSchema = 'https://schema.management.azure.com/schemas/2018-05-01/subscriptionDeploymentTemplate.json#'

// Must equal modules/eventSubscription.bicep's lists (tests/test_bicep_management_group.py compares).
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
var operationPrefixes = [
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
// Must equal modules/healthEventSubscription.bicep's lists.
var healthEventTypes = [
  'Microsoft.ResourceNotifications.HealthResources.ResourceAnnotated'
  'Microsoft.ResourceNotifications.HealthResources.AvailabilityStatusChanged'
]
var healthTargetResourceTypes = [
  'Microsoft.Compute/virtualMachines'
  'Microsoft.Compute/virtualMachineScaleSets/virtualMachines'
]

// The two kinds of topic the app subscribes to, each with its event subscription's filter.
var topicKinds = [
  {
    key: 'resource'
    topicType: 'Microsoft.Resources.Subscriptions'
    topicName: 'evgt-vmledger-resources'
    subscriptionName: eventSubscriptionName
    filter: {
      includedEventTypes: resourceEventTypes
      advancedFilters: [
        {
          operatorType: 'StringBeginsWith'
          key: 'data.operationName'
          values: operationPrefixes
        }
      ]
    }
  }
  {
    key: 'health'
    topicType: 'Microsoft.ResourceNotifications.HealthResources'
    topicName: 'evgt-vmledger-health'
    subscriptionName: '${eventSubscriptionName}-health'
    filter: {
      includedEventTypes: healthEventTypes
      advancedFilters: [
        {
          operatorType: 'StringIn'
          key: 'data.resourceInfo.properties.targetResourceType'
          values: healthTargetResourceTypes
        }
      ]
    }
  }
]
var enabledKinds = deployHealthEvents ? topicKinds : [topicKinds[0]]
var roleDefinitionIds = [for role in assignmentRoles: '/providers/Microsoft.Authorization/roleDefinitions/${role}']

// On each subscription: its topic of this kind, created in topicResourceGroupName when it has none.
resource topicPolicies 'Microsoft.Authorization/policyDefinitions@2025-03-01' = [for kind in enabledKinds: {
  name: 'vmledger-${kind.key}-topic'
  properties: {
    displayName: 'VM billing ledger: ${kind.key} events system topic in every subscription'
    policyType: 'Custom'
    mode: 'All'
    description: 'Creates the ${kind.topicType} system topic of a subscription that has none; an existing one is kept and subscribed to by vmledger-${kind.key}-events.'
    policyRule: {
      if: {
        field: 'type'
        equals: 'Microsoft.Resources/subscriptions'
      }
      then: {
        effect: 'deployIfNotExists'
        details: {
          type: 'Microsoft.EventGrid/systemTopics'
          existenceScope: 'subscription'
          existenceCondition: {
            field: 'Microsoft.EventGrid/systemTopics/topicType'
            equals: kind.topicType
          }
          deploymentScope: 'subscription'
          roleDefinitionIds: roleDefinitionIds
          deployment: {
            location: location
            properties: {
              mode: 'incremental'
              template: {
                '$schema': subscriptionTemplateSchema
                contentVersion: '1.0.0.0'
                resources: [
                  {
                    type: 'Microsoft.Resources/resourceGroups'
                    apiVersion: '2024-11-01'
                    name: topicResourceGroupName
                    location: location
                  }
                  {
                    type: 'Microsoft.Resources/deployments'
                    apiVersion: '2024-11-01'
                    name: 'vmledger-${kind.key}-topic'
                    resourceGroup: topicResourceGroupName
                    dependsOn: [
                      '[resourceId(\'Microsoft.Resources/resourceGroups\', \'${topicResourceGroupName}\')]'
                    ]
                    properties: {
                      mode: 'Incremental'
                      template: {
                        '$schema': deploymentTemplateSchema
                        contentVersion: '1.0.0.0'
                        resources: [
                          {
                            type: 'Microsoft.EventGrid/systemTopics'
                            apiVersion: '2025-02-15'
                            name: kind.topicName
                            location: 'global'
                            identity: {
                              type: 'SystemAssigned'
                            }
                            properties: {
                              source: '[subscription().id]'
                              topicType: kind.topicType
                            }
                          }
                        ]
                      }
                    }
                  }
                ]
              }
            }
          }
        }
      }
    }
  }
}]

// On each topic of this kind, created above or found (any name, any resource group): the event
// subscription to on_vm_event, deployed into the topic's own resource group.
resource eventPolicies 'Microsoft.Authorization/policyDefinitions@2025-03-01' = [for kind in enabledKinds: {
  name: 'vmledger-${kind.key}-events'
  properties: {
    displayName: 'VM billing ledger: ${kind.key} events delivered to on_vm_event'
    policyType: 'Custom'
    mode: 'All'
    description: 'Adds the event subscription to the ledger\'s on_vm_event function to every ${kind.topicType} system topic.'
    policyRule: {
      if: {
        allOf: [
          {
            field: 'type'
            equals: 'Microsoft.EventGrid/systemTopics'
          }
          {
            field: 'Microsoft.EventGrid/systemTopics/topicType'
            equals: kind.topicType
          }
        ]
      }
      then: {
        effect: 'deployIfNotExists'
        details: {
          type: 'Microsoft.EventGrid/systemTopics/eventSubscriptions'
          name: kind.subscriptionName
          roleDefinitionIds: roleDefinitionIds
          deployment: {
            properties: {
              mode: 'incremental'
              parameters: {
                topicName: {
                  value: '[field(\'name\')]'
                }
              }
              template: {
                '$schema': deploymentTemplateSchema
                contentVersion: '1.0.0.0'
                parameters: {
                  topicName: {
                    type: 'string'
                  }
                }
                resources: [
                  {
                    type: 'Microsoft.EventGrid/systemTopics/eventSubscriptions'
                    apiVersion: '2025-02-15'
                    name: '[concat(parameters(\'topicName\'), \'/${kind.subscriptionName}\')]'
                    properties: {
                      eventDeliverySchema: 'EventGridSchema'
                      destination: {
                        endpointType: 'AzureFunction'
                        properties: {
                          resourceId: eventFunctionResourceId
                          maxEventsPerBatch: 1
                          preferredBatchSizeInKilobytes: 64
                        }
                      }
                      filter: kind.filter
                      retryPolicy: {
                        maxDeliveryAttempts: maxDeliveryAttempts
                        eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
                      }
                    }
                  }
                ]
              }
            }
          }
        }
      }
    }
  }
}]

// On each subscription: each of the app's roles for its identity, unless it has it already.
resource appRolePolicies 'Microsoft.Authorization/policyDefinitions@2025-03-01' = [for role in appRoles: {
  name: 'vmledger-${role.key}'
  properties: {
    displayName: 'VM billing ledger: ${role.name} for the app in every subscription'
    policyType: 'Custom'
    mode: 'All'
    description: 'Assigns ${role.name} on the subscription to the ledger\'s function app identity (${role.why}).'
    policyRule: {
      if: {
        field: 'type'
        equals: 'Microsoft.Resources/subscriptions'
      }
      then: {
        effect: 'deployIfNotExists'
        details: {
          type: 'Microsoft.Authorization/roleAssignments'
          existenceScope: 'subscription'
          existenceCondition: {
            allOf: [
              {
                field: 'Microsoft.Authorization/roleAssignments/roleDefinitionId'
                like: '*/${role.id}'
              }
              {
                field: 'Microsoft.Authorization/roleAssignments/principalId'
                equals: appPrincipalId
              }
            ]
          }
          deploymentScope: 'subscription'
          roleDefinitionIds: roleDefinitionIds
          deployment: {
            location: location
            properties: {
              mode: 'incremental'
              template: {
                '$schema': subscriptionTemplateSchema
                contentVersion: '1.0.0.0'
                resources: [
                  {
                    type: 'Microsoft.Authorization/roleAssignments'
                    apiVersion: '2022-04-01'
                    name: '[guid(subscription().id, \'${appPrincipalId}\', \'${role.id}\')]'
                    properties: {
                      roleDefinitionId: '[subscriptionResourceId(\'Microsoft.Authorization/roleDefinitions\', \'${role.id}\')]'
                      principalId: appPrincipalId
                      principalType: 'ServicePrincipal'
                    }
                  }
                ]
              }
            }
          }
        }
      }
    }
  }
}]

var topicReferences = [for (kind, index) in enabledKinds: {
  policyDefinitionId: topicPolicies[index].id
  policyDefinitionReferenceId: 'vmledger-${kind.key}-topic'
}]
var eventReferences = [for (kind, index) in enabledKinds: {
  policyDefinitionId: eventPolicies[index].id
  policyDefinitionReferenceId: 'vmledger-${kind.key}-events'
}]
var roleReferences = [for (role, index) in appRoles: {
  policyDefinitionId: appRolePolicies[index].id
  policyDefinitionReferenceId: 'vmledger-${role.key}'
}]
var references = concat(topicReferences, eventReferences, roleReferences)

resource onboarding 'Microsoft.Authorization/policySetDefinitions@2025-03-01' = {
  name: 'vmledger-onboarding'
  properties: {
    displayName: 'VM billing ledger: onboard every subscription'
    policyType: 'Custom'
    description: 'System topics, event subscriptions to on_vm_event, Reader and Cost Management Reader for the app, in every subscription under the group.'
    policyDefinitions: references
  }
}

resource assignment 'Microsoft.Authorization/policyAssignments@2025-03-01' = {
  name: 'vmledger-onboarding'
  location: location
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    displayName: 'VM billing ledger: onboard every subscription'
    policyDefinitionId: onboarding.id
    enforcementMode: 'Default'
  }
}

// The roles the policies' deployments run with, on the whole group.
resource assignmentRoleGrants 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in assignmentRoles: {
  name: guid(managementGroup().id, assignment.id, role)
  properties: {
    roleDefinitionId: tenantResourceId('Microsoft.Authorization/roleDefinitions', role)
    principalId: assignment.identity.principalId
    principalType: 'ServicePrincipal'
  }
}]

// Subscriptions already under the group: one remediation task per policy of the set.
resource remediations 'Microsoft.PolicyInsights/remediations@2024-10-01' = [for reference in (remediateExisting ? references : []): {
  name: 'vmledger-${reference.policyDefinitionReferenceId}'
  properties: {
    policyAssignmentId: assignment.id
    policyDefinitionReferenceId: reference.policyDefinitionReferenceId
    resourceDiscoveryMode: 'ReEvaluateCompliance'
  }
  dependsOn: [
    assignmentRoleGrants
  ]
}]

@description('Resource id of the policy assignment.')
output assignmentId string = assignment.id

@description('Principal id of the assignment\'s identity (grant it a role on the function app when the ledger\'s subscription is outside the group).')
output assignmentPrincipalId string = assignment.identity.principalId
