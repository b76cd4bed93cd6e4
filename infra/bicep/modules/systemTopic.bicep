// An Event Grid system topic whose source is the subscription, at location global: the resource events
// topic (type Microsoft.Resources.Subscriptions) or the health events topic (type
// Microsoft.ResourceNotifications.HealthResources, a preview feature). Only one topic of a type may exist
// per source, so an existing one can be reused by name instead of created; it must then have its
// system-assigned identity switched on (dead-lettering authenticates with it); this template leaves a
// reused topic as it is and stops with a message when it is not fit for reuse (see principalId below).

@description('Name of the system topic to create, or of the existing one to reuse.')
@minLength(3)
@maxLength(128)
param systemTopicName string

@description('Topic type: Microsoft.Resources.Subscriptions (resource events) or Microsoft.ResourceNotifications.HealthResources (health events, preview).')
@allowed([
  'Microsoft.Resources.Subscriptions'
  'Microsoft.ResourceNotifications.HealthResources'
])
param topicType string = 'Microsoft.Resources.Subscriptions'

@description('True to reuse an existing system topic of this subscription instead of creating one.')
param reuseExisting bool = false

@description('Tags applied to a created system topic (a reused one is left as it is).')
param tags object = {}

resource createdTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' = if (!reuseExisting) {
  name: systemTopicName
  location: 'global'
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    source: subscription().id
    topicType: topicType
  }
}

resource existingTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' existing = if (reuseExisting) {
  name: systemTopicName
}

@description('Name of the system topic.')
output name string = systemTopicName

// A reused topic must be this subscription's topic with a system-assigned identity, or the event
// subscription would watch something else and dead-lettering could not authenticate. The existing
// topic is read at deployment time, so these checks run then: fail() (Bicep's flow-control function,
// which the compiler turns into a template expression) stops this module with the message before any
// role is assigned to a missing principal. Without a check a topic lacking the identity would fail
// later, in the role assignment, with an unrelated "principal id is empty" error.
var reusedTopicType = reuseExisting ? existingTopic!.properties.topicType : ''
var reusedTopicSource = reuseExisting ? existingTopic!.properties.source : ''
var reusedIdentityType = reuseExisting ? (existingTopic!.identity.?type ?? 'None') : ''
var wrongTopicType = reuseExisting && !(reusedTopicType =~ topicType)
var wrongTopicSource = reuseExisting && !(reusedTopicSource =~ subscription().id)
var noSystemIdentity = reuseExisting && !contains(reusedIdentityType, 'SystemAssigned')
var topicTypeProblem = wrongTopicType ? 'System topic ${systemTopicName} has topicType ${reusedTopicType}; only a ${topicType} topic can be reused here. ' : ''
var topicSourceProblem = wrongTopicSource ? 'System topic ${systemTopicName} watches ${reusedTopicSource}, not this subscription (${subscription().id}). ' : ''
var identityProblem = noSystemIdentity ? 'System topic ${systemTopicName} has no system-assigned identity (identity type ${reusedIdentityType}); turn it on before reusing the topic. ' : ''
var reusedTopicProblem = trim('${topicTypeProblem}${topicSourceProblem}${identityProblem}')

@description('Principal (object) id of the system topic identity, used for dead-lettering.')
output principalId string = reuseExisting ? (empty(reusedTopicProblem) ? existingTopic!.identity.principalId : fail(reusedTopicProblem)) : createdTopic!.identity.principalId
