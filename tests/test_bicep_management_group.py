"""infra/bicep/managementGroup.bicep, offline: onboarding every subscription under a management group by
Azure Policy (deployIfNotExists), checked for what a deployment and the app need. The published types
(``tests/test_bicep_types.py``) check its resources' properties; the policy rules are free-form JSON to
the type system, so their shape is checked here."""

from __future__ import annotations

from typing import Any

from tests.bicep_source import (
    BICEP_DIR,
    MODULES,
    body_of,
    is_accessor,
    only_resource,
    parsed,
    resolved_value,
    strings_in,
)

DOC = parsed(BICEP_DIR / "managementGroup.bicep")
READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
COST_MANAGEMENT_READER = "72fafb9e-0641-4937-9268-a91bfd8191a3"


def rule_of(resource_name: str) -> dict[str, Any]:
    rule: dict[str, Any] = body_of(DOC["resources"][resource_name])["properties"]["policyRule"]
    return rule


def kinds() -> dict[str, dict[str, Any]]:
    return {kind["key"]: kind for kind in resolved_value(DOC, "topicKinds")}


def single_subscription_filter(module: str) -> dict[str, Any]:
    doc = parsed(MODULES / module)
    _, subscription = only_resource(doc, "Microsoft.EventGrid/systemTopics/eventSubscriptions")
    event_filter = body_of(subscription)["properties"]["filter"]
    [advanced] = event_filter["advancedFilters"]
    return {
        "includedEventTypes": list(resolved_value(doc, event_filter["includedEventTypes"])),
        "operatorType": advanced["operatorType"],
        "key": advanced["key"],
        "values": list(resolved_value(doc, advanced["values"])),
    }


def policy_filter(kind: dict[str, Any]) -> dict[str, Any]:
    event_filter = kind["filter"]
    [advanced] = event_filter["advancedFilters"]
    return {
        "includedEventTypes": list(resolved_value(DOC, event_filter["includedEventTypes"])),
        "operatorType": advanced["operatorType"],
        "key": advanced["key"],
        "values": list(resolved_value(DOC, advanced["values"])),
    }


def test_it_deploys_at_management_group_scope() -> None:
    assert DOC["globals"]["scope"]["value"] == "managementGroup"


def test_the_policy_made_event_subscriptions_filter_as_the_single_subscription_modules_do() -> None:
    assert policy_filter(kinds()["resource"]) == single_subscription_filter("eventSubscription.bicep")
    assert policy_filter(kinds()["health"]) == single_subscription_filter("healthEventSubscription.bicep")


def test_the_filters_are_the_codes_own_lists() -> None:
    from shared.domain.operations import event_filter_prefixes
    from shared.sources.health_events import HEALTH_EVENT_TYPES, HEALTH_TARGET_TYPES

    assert policy_filter(kinds()["resource"])["values"] == event_filter_prefixes()
    assert policy_filter(kinds()["health"])["includedEventTypes"] == list(HEALTH_EVENT_TYPES)
    assert policy_filter(kinds()["health"])["values"] == list(HEALTH_TARGET_TYPES)


def test_each_subscription_gets_a_topic_of_each_kind_unless_it_has_one_of_that_type() -> None:
    rule = rule_of("topicPolicies")
    assert rule["if"] == {"field": "type", "equals": "Microsoft.Resources/subscriptions"}
    details = rule["then"]["details"]
    assert rule["then"]["effect"] == "deployIfNotExists"
    assert (details["type"], details["existenceScope"], details["deploymentScope"]) == (
        "Microsoft.EventGrid/systemTopics",
        "subscription",
        "subscription",
    )
    condition = details["existenceCondition"]
    assert condition["field"] == "Microsoft.EventGrid/systemTopics/topicType"
    assert is_accessor(condition["equals"], "kind", "topicType")
    resources = details["deployment"]["properties"]["template"]["resources"]
    nested = resources[1]["properties"]["template"]["resources"]
    assert [resource["type"] for resource in resources] == [
        "Microsoft.Resources/resourceGroups",
        "Microsoft.Resources/deployments",
    ]
    [topic] = nested
    assert (topic["type"], topic["location"], topic["identity"]["type"]) == (
        "Microsoft.EventGrid/systemTopics",
        "global",
        "SystemAssigned",
    )
    assert topic["properties"]["source"] == "[subscription().id]"
    assert is_accessor(topic["properties"]["topicType"], "kind", "topicType")
    assert "location" in details["deployment"]  # a subscription-scope deployment needs one


def test_every_topic_of_a_kind_found_or_created_is_subscribed_to_on_vm_event() -> None:
    rule = rule_of("eventPolicies")
    conditions = rule["if"]["allOf"]
    assert {"field": "type", "equals": "Microsoft.EventGrid/systemTopics"} in conditions
    [by_type] = [c for c in conditions if c["field"] == "Microsoft.EventGrid/systemTopics/topicType"]
    assert is_accessor(by_type["equals"], "kind", "topicType")
    details = rule["then"]["details"]
    assert details["type"] == "Microsoft.EventGrid/systemTopics/eventSubscriptions"
    assert is_accessor(details["name"], "kind", "subscriptionName")
    deployment = details["deployment"]["properties"]
    # As the Bicep source spells it (escaped quotes); the policy engine receives [field('name')].
    assert deployment["parameters"]["topicName"]["value"].replace("\\'", "'") == "[field('name')]"
    [subscription] = deployment["template"]["resources"]
    properties = subscription["properties"]
    assert properties["destination"]["endpointType"] == "AzureFunction"
    assert properties["destination"]["properties"]["resourceId"] == "eventFunctionResourceId"
    assert is_accessor(properties["filter"], "kind", "filter")


def test_each_subscription_gives_the_app_its_roles_unless_it_has_them() -> None:
    rule = rule_of("appRolePolicies")
    details = rule["then"]["details"]
    assert details["type"] == "Microsoft.Authorization/roleAssignments"
    conditions = details["existenceCondition"]["allOf"]
    assert {
        "field": "Microsoft.Authorization/roleAssignments/principalId",
        "equals": "appPrincipalId",
    } in conditions
    [assignment] = details["deployment"]["properties"]["template"]["resources"]
    assert "${role.id}" in assignment["properties"]["roleDefinitionId"]
    roles = {resolved_value(DOC, role["id"]) for role in resolved_value(DOC, "appRoles")}
    assert roles == {READER, COST_MANAGEMENT_READER}
    assert DOC["resources"]["appRolePolicies"]["config"]["loop_type"]["detail"]["array_name"] == "appRoles"
    assert assignment["properties"]["principalType"] == "ServicePrincipal"


def test_the_assignment_identity_holds_every_role_the_deployments_name() -> None:
    assignment = body_of(DOC["resources"]["assignment"])
    assert assignment["identity"] == {"type": "SystemAssigned"}
    assert "location" in assignment
    granted = {resolved_value(DOC, role) for role in resolved_value(DOC, "assignmentRoles")}
    for name in ("topicPolicies", "eventPolicies", "appRolePolicies"):
        assert rule_of(name)["then"]["details"]["roleDefinitionIds"] == "roleDefinitionIds"
    grants = DOC["resources"]["assignmentRoleGrants"]["config"]
    assert grants["loop_type"]["detail"]["array_name"] == "assignmentRoles"
    assert granted == {"b24988ac-6180-42a0-ab88-20f7382dd24c", "f58310d9-a9f6-439a-9e8d-f62e7b41a168"}


def test_existing_subscriptions_are_remediated_once_the_roles_are_granted() -> None:
    remediations = DOC["resources"]["remediations"]
    body = body_of(remediations)
    assert body["properties"]["resourceDiscoveryMode"] == "ReEvaluateCompliance"
    assert "assignmentRoleGrants" in strings_in(body["dependsOn"])
    loop = remediations["config"]["loop_type"]["detail"]["array_name"]["operator"]["operands"]
    assert (loop["true_value"], loop["false_value"]) == ("references", [])


def test_health_policies_are_left_out_when_health_events_are_off() -> None:
    enabled = DOC["variables"]["enabledKinds"]["value"]["operator"]["operands"]
    assert enabled["condition"] == "deployHealthEvents"
    assert enabled["true_value"] == "topicKinds"
