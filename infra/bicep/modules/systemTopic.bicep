// The Event Grid system topic for Azure subscription events: type Microsoft.Resources.Subscriptions,
// location global, source the subscription. Only one such topic may exist per subscription, so an
// existing one can be reused by name instead of created; it must then have its system-assigned identity
// switched on (dead-lettering authenticates with it); this template leaves a reused topic as it is.

@description('Name of the system topic to create, or of the existing one to reuse.')
@minLength(3)
@maxLength(128)
param systemTopicName string

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
    topicType: 'Microsoft.Resources.Subscriptions'
  }
}

resource existingTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' existing = if (reuseExisting) {
  name: systemTopicName
}

@description('Name of the system topic.')
output name string = systemTopicName

@description('Principal (object) id of the system topic identity, used for dead-lettering.')
output principalId string = reuseExisting ? existingTopic!.identity.principalId : createdTopic!.identity.principalId
