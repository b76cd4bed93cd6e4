"""infra/bicep over many subscriptions, offline: a three-subscription deployment expanded by hand.

The Bicep CLI cannot run here, so ``main.bicep``'s loop over ``subscriptionIds`` is expanded with a
small evaluator of the interpolated names it uses (``uniqueString`` stands in as a hash of its
arguments: deterministic and different for different arguments, which is all names rely on). What a
real deployment would trip over is checked on the result: two nested deployments with one name at one
scope (the later overwrites the earlier), two topics of one type for one subscription (Event Grid allows
one per source), a subscription without Reader or without its event subscriptions.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pytest

from tests.bicep_source import (
    MAIN,
    MODULES,
    body_of,
    condition_of,
    functions_in,
    only_resource,
    parsed,
    resolved_value,
    strings_in,
)

LEDGER = "11111111-1111-1111-1111-111111111111"
THREE = [LEDGER, "22222222-2222-2222-2222-222222222222", "33333333-3333-3333-3333-333333333333"]
RESOURCE_EVENTS = "Microsoft.Resources.Subscriptions"
HEALTH_EVENTS = "Microsoft.ResourceNotifications.HealthResources"


def unique_string(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:13]


def _value(expression: str, env: dict[str, Any]) -> str:
    expression = expression.strip()
    call = re.fullmatch(r"uniqueString\((.*)\)", expression)
    if call:
        return unique_string(*(_value(arg, env) for arg in call.group(1).split(",")))
    if expression == "subscription().id":
        return f"/subscriptions/{env['@subscription']}"
    if expression == "subscription().subscriptionId":
        return env["@subscription"]
    return str(env[expression])


def interpolate(template: Any, env: dict[str, Any]) -> str:
    """A name as Bicep would compute it: ``${...}`` parts evaluated, variables followed."""
    assert isinstance(template, str), template
    if template in env:
        return str(env[template])
    return re.sub(r"\$\{([^}]*)\}", lambda m: _value(m.group(1), env), template)


def _unique_string_of(doc: dict[str, Any], variable: str, env: dict[str, Any]) -> str:
    """A variable ``uniqueString(subscription().id)`` (pycep's form) evaluated."""
    function = doc["variables"][variable]["value"]["function"]
    assert function["type"] == "unique_string"
    operands = function["parameters"]["base_string"]["operator"]["operands"]
    assert operands["operand_1"]["function"]["type"] == "subscription" and operands["operand_2"] == "id"
    return unique_string(f"/subscriptions/{env['@subscription']}")


def expand(
    subscription_ids: list[str],
    *,
    health: bool = True,
    health_topics: dict[str, dict[str, str]] | None = None,
) -> dict[str, Any]:
    """The deployments, topics (created ones), readers and event subscriptions of one run of main.bicep;
    ``health_topics`` is main's ``existingHealthTopics``."""
    main = parsed(MAIN)
    ledger_group = main["parameters"]["resourceGroupName"]["default"]
    prefix = main["parameters"]["systemTopicNamePrefix"]["default"]
    watched = main["modules"]["watched"]
    assert watched["config"]["loop_type"]["detail"]["array_name"] == "subscriptionIds"
    item = watched["config"]["loop_type"]["detail"]["item_name"]
    body = body_of(watched)
    module = parsed(MODULES / "watchedSubscription.bicep")
    result: dict[str, Any] = {
        "deployments": [], "topics": [], "readers": [], "deliveries": [], "delivered_from": []
    }  # fmt: skip
    for subscription_id in subscription_ids:
        env = {item: subscription_id, "resourceGroupName": ledger_group, "systemTopicNamePrefix": prefix,
               "@subscription": LEDGER}  # fmt: skip
        assert body["scope"]["function"]["parameters"]["subscription_id"] == item
        result["deployments"].append((f"subscription {subscription_id}", interpolate(body["name"], env)))
        params = {
            "topicResourceGroupName": ledger_group,
            "resourceTopicName": interpolate(body["params"]["resourceTopicName"], env),
            "healthTopicName": interpolate(body["params"]["healthTopicName"], env),
            "ledgerSubscriptionId": LEDGER,
            "ledgerResourceGroupName": ledger_group,
            "@subscription": subscription_id,
        }
        params["resourceTopicResourceGroupName"] = ledger_group  # no resource topic reused in this expansion
        params["resourceTopicFinalName"] = params["resourceTopicName"]
        params["reuseResourceTopic"] = False
        reused = (health_topics or {}).get(subscription_id)
        params["reuseHealthTopic"] = reused is not None
        params["healthTopicFinalName"] = reused["name"] if reused else params["healthTopicName"]
        params["healthTopicResourceGroupName"] = reused["resourceGroup"] if reused else ledger_group
        params["subscriptionToken"] = _unique_string_of(module, "subscriptionToken", params)
        for nested in module["modules"].values():
            condition = condition_of(nested)
            if "deployHealthEvents" in str(condition) and not health:
                continue
            nested_body = body_of(nested)
            scope = nested_body.get("scope")
            if scope is None:
                where = f"subscription {subscription_id}"
            else:
                arguments = scope["function"]["parameters"]
                target = resolved_value(module, arguments.get("subscription_id")) or None
                where = f"resourceGroup {params[target] if target else subscription_id}/" + interpolate(
                    arguments["resource_group_name"], params
                )
            result["deployments"].append((where, interpolate(nested_body["name"], params)))
            path = nested["detail"]["path"]
            if path == "systemTopic.bicep" and not params[nested_body["params"]["reuseExisting"]]:
                topic_type = nested_body["params"]["topicType"]
                topic_name = interpolate(nested_body["params"]["systemTopicName"], params)
                result["topics"].append((subscription_id, topic_type, topic_name))
            elif path == "subscriptionReader.bicep":
                result["readers"].append(subscription_id)
            elif path in ("eventSubscription.bicep", "healthEventSubscription.bicep"):
                assert nested_body["params"]["functionAppSubscriptionId"] == "ledgerSubscriptionId"
                topic_name = _topic_of(module, nested_body["params"]["systemTopicName"], params)
                result["deliveries"].append((subscription_id, path))
                result["delivered_from"].append((where, topic_name))
    return result


def _topic_of(module: dict[str, Any], system_topic_name: Any, params: dict[str, Any]) -> str:
    """The topic an event subscription module is given: ``<topic module>.outputs.name``, which is the
    name that module was given."""
    operands = system_topic_name["operator"]["operands"]
    topic_module = module["modules"][operands["operand_1"]]
    assert operands["operand_2"]["operator"]["operands"] == {"operand_1": "outputs", "operand_2": "name"}
    return interpolate(body_of(topic_module)["params"]["systemTopicName"], params)


def three_deliveries() -> list[tuple[str, str]]:
    """Both event subscriptions in every one of the three subscriptions."""
    return [
        (sub, path) for sub in THREE for path in ("eventSubscription.bicep", "healthEventSubscription.bicep")
    ]


@pytest.fixture(scope="module")
def three() -> dict[str, Any]:
    return expand(THREE)


def test_no_two_deployments_share_a_name_at_one_scope(three):
    assert len(three["deployments"]) == len(set(three["deployments"]))
    # Every watched subscription deploys its dead-letter role into the ledger's resource group.
    into_ledger = [
        name for where, name in three["deployments"] if where == f"resourceGroup {LEDGER}/rg-vm-ledger"
    ]
    assert len([name for name in into_ledger if name.startswith("vmledger-dead-letter-")]) == 3


def test_the_check_would_catch_a_dead_letter_deployment_named_alike_in_every_subscription(three):
    names = [(where, re.sub(r"-[0-9a-f]{13}$", "", name)) for where, name in three["deployments"]]
    assert len(names) != len(set(names))


def test_one_topic_per_source_and_type_with_names_unique_per_subscription(three):
    assert sorted((sub, kind) for sub, kind, _ in three["topics"]) == sorted(
        (sub, kind) for sub in THREE for kind in (RESOURCE_EVENTS, HEALTH_EVENTS)
    )
    names = [name for _, _, name in three["topics"]]
    assert len(names) == len(set(names)) == 6
    doc = parsed(MODULES / "systemTopic.bicep")
    _, created = only_resource(doc, "Microsoft.EventGrid/systemTopics")
    source = body_of(created)["properties"]["source"]
    assert functions_in(source) == {"subscription"} and "id" in strings_in(source)


def test_reader_and_both_event_subscriptions_in_every_subscription_to_the_one_app(three):
    assert sorted(three["readers"]) == sorted(THREE)
    assert sorted(three["deliveries"]) == sorted(three_deliveries())


def test_without_health_events_only_the_resource_topic_is_deployed():
    one = expand(THREE[:1], health=False)
    assert [kind for _, kind, _ in one["topics"]] == [RESOURCE_EVENTS]
    assert [path for _, path in one["deliveries"]] == ["eventSubscription.bicep"]


def test_the_reconcile_lists_the_same_subscriptions():
    body = body_of(parsed(MAIN)["modules"]["functionApp"])
    assert body["params"]["reconcileSubscriptionIds"] == "subscriptionIds"


def test_health_events_are_on_by_default_and_documented_as_preview():
    main = parsed(MAIN)["parameters"]["deployHealthEvents"]
    assert main["default"] is True
    assert "preview" in next(d["argument"] for d in main["decorators"] if d["type"] == "description")
    module = parsed(MODULES / "watchedSubscription.bicep")
    assert module["modules"]["healthTopic"]["config"]["condition"] == "deployHealthEvents"


@pytest.mark.parametrize(
    ("module_param", "main_param"),
    [("existingResourceTopic", "existingSystemTopics"), ("existingHealthTopic", "existingHealthTopics")],
)
def test_a_reused_topic_is_looked_up_by_subscription(module_param, main_param):
    existing = body_of(parsed(MAIN)["modules"]["watched"])["params"][module_param]["operator"]["operands"]
    assert existing["condition"]["function"]["parameters"] == {
        "container": main_param,
        "item_to_find": "subscriptionId",
    }
    assert existing["false_value"] == {}


def test_the_health_subscription_filters_what_the_code_reads():
    from shared.sources.health_events import HEALTH_EVENT_TYPES, HEALTH_TARGET_TYPES

    doc = parsed(MODULES / "healthEventSubscription.bicep")
    _, subscription = only_resource(doc, "Microsoft.EventGrid/systemTopics/eventSubscriptions")
    properties = body_of(subscription)["properties"]
    assert properties["destination"]["endpointType"] == "AzureFunction"
    assert resolved_value(doc, "eventFunctionName") == "on_vm_event"
    assert list(resolved_value(doc, properties["filter"]["includedEventTypes"])) == list(HEALTH_EVENT_TYPES)
    [advanced] = properties["filter"]["advancedFilters"]
    assert (advanced["operatorType"], advanced["key"]) == (
        "StringIn",
        "data.resourceInfo.properties.targetResourceType",
    )
    assert list(resolved_value(doc, advanced["values"])) == list(HEALTH_TARGET_TYPES)
    assert "deadLetterWithResourceIdentity" in properties


def test_a_subscription_that_has_a_health_topic_reuses_it_and_gets_no_second_one():
    second = THREE[1]
    existing = {second: {"name": "evgt-health-made-elsewhere", "resourceGroup": "rg-monitoring"}}
    run = expand(THREE, health_topics=existing)
    assert (second, HEALTH_EVENTS) not in {(sub, kind) for sub, kind, _ in run["topics"]}
    assert sorted((sub, kind) for sub, kind, _ in run["topics"]) == sorted(
        [(sub, RESOURCE_EVENTS) for sub in THREE] + [(sub, HEALTH_EVENTS) for sub in THREE if sub != second]
    )
    # Its health events are delivered from the existing topic, by a deployment in that topic's group.
    assert (f"resourceGroup {second}/rg-monitoring", "evgt-health-made-elsewhere") in run["delivered_from"]
    assert len(run["deployments"]) == len(set(run["deployments"]))
    assert sorted(run["deliveries"]) == sorted(three_deliveries())
