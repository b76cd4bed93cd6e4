// The findings topic: an Event Grid custom topic taking CloudEvents 1.0, to which the timer publishes
// VmLedger.FindingRaised, VmLedger.FindingCleared and VmLedger.DailyDigest. The app publishes with its
// identity (EventGrid Data Sender on this topic, granted in roleAssignments.bicep once the app exists:
// the app's settings need this topic's endpoint first), so the topic's keys are turned off. Optionally, an
// example event subscription sends raised findings to a webhook (a Teams or Power Automate workflow, a
// Logic App, a ticketing system); docs/findings-topic.md shows what the receiver does (a Teams sample: docs/samples/).

@description('Location of the topic.')
param location string

@description('Tags applied to the topic.')
param tags object = {}

@description('Name of the custom topic (3-50 letters, digits and hyphens).')
@minLength(3)
@maxLength(50)
param topicName string

@description('Webhook that receives raised findings (an example subscription); empty: no subscription.')
@secure()
param webhookUrl string = ''

@description('Name of the example event subscription.')
@minLength(3)
@maxLength(64)
param webhookSubscriptionName string = 'findings-raised-webhook'

resource topic 'Microsoft.EventGrid/topics@2025-02-15' = {
  name: topicName
  location: location
  tags: tags
  properties: {
    inputSchema: 'CloudEventSchemaV1_0'
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
    minimumTlsVersionAllowed: '1.2'
  }
}

resource webhookSubscription 'Microsoft.EventGrid/topics/eventSubscriptions@2025-02-15' = if (!empty(webhookUrl)) {
  parent: topic
  name: webhookSubscriptionName
  properties: {
    eventDeliverySchema: 'CloudEventSchemaV1_0'
    destination: {
      endpointType: 'WebHook'
      properties: {
        endpointUrl: webhookUrl
        maxEventsPerBatch: 1
      }
    }
    filter: {
      includedEventTypes: [
        'VmLedger.FindingRaised'
      ]
    }
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
  }
}

@description('Name of the findings topic.')
output name string = topic.name

@description('Endpoint the app publishes to (FINDINGS_TOPIC_ENDPOINT), ending in /api/events.')
output endpoint string = topic.properties.endpoint
