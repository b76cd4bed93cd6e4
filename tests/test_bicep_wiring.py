"""Offline checks of how ``main.bicep`` wires the deployment: its scope and resource group, its outputs,
its modules' params and outputs, Reader on every watched subscription, the gated event subscriptions
and the reuse of an existing system topic."""

from __future__ import annotations

import pytest

from tests.bicep_source import (
    BICEP_DIR,
    MAIN,
    MODULES,
    accessor_chain,
    body_of,
    condition_of,
    decorator_of,
    functions_in,
    is_accessor,
    only_resource,
    parsed,
    parsed_module,
    strings_in,
    walk,
    watched_module,
)


def test_main_deploys_at_subscription_scope_into_a_created_or_existing_resource_group() -> None:
    doc = parsed(MAIN)
    assert doc["globals"]["scope"]["value"] == "subscription"
    name, group = only_resource(doc, "Microsoft.Resources/resourceGroups")
    assert condition_of(group) == "createResourceGroup"
    assert body_of(group)["name"] == "resourceGroupName"
    for module_name in ("monitoring", "storage", "functionApp", "roleAssignments"):
        scope = body_of(doc["modules"][module_name])["scope"]["function"]
        assert scope["type"] == "resource_group"
        assert scope["parameters"]["resource_group_name"] == "resourceGroupName"
    for module_name in ("monitoring", "storage"):
        assert name in body_of(doc["modules"][module_name])["dependsOn"]


def test_main_outputs_what_a_deployer_needs() -> None:
    outputs = parsed(MAIN)["outputs"]
    for name in (
        "functionAppName",
        "functionAppHostName",
        "storageAccountName",
        "tableEndpoint",
        "watchedSubscriptionIds",
        "systemTopicNames",
    ):
        assert name in outputs
    assert is_accessor(outputs["functionAppHostName"]["value"], "functionApp", "outputs", "defaultHostName")
    assert is_accessor(outputs["tableEndpoint"]["value"], "storage", "outputs", "tableEndpoint")


def test_modules_exist_and_their_params_and_outputs_match() -> None:
    """What ``bicep build`` would catch first: a module param that does not exist, a required one that
    is not passed, or an output read that the module does not declare."""
    doc = parsed(MAIN)
    for name, module in doc["modules"].items():
        path = (BICEP_DIR / module["detail"]["path"]).resolve()
        assert path.exists(), name
        declared = parsed_module(module)["parameters"]
        passed = set(body_of(module).get("params", {}))
        assert passed <= set(declared), f"{name}: unknown params {sorted(passed - set(declared))}"
        required = {param for param, spec in declared.items() if spec.get("default") is None}
        assert required <= passed, f"{name}: required params not passed {sorted(required - passed)}"
    reads = 0
    for node in walk(doc):
        chain = accessor_chain(node)
        if len(chain) >= 3 and chain[0] in doc["modules"] and chain[1] == "outputs":
            reads += 1
            assert chain[2] in parsed_module(doc["modules"][chain[0]])["outputs"], ".".join(chain)
    assert reads > 0


def test_reader_is_granted_on_every_watched_subscription() -> None:
    doc = parsed(MAIN)
    watched, module = watched_module()
    loop = watched["config"]["loop_type"]["detail"]
    assert loop["array_name"] == "subscriptionIds"
    body = body_of(watched)
    assert body["scope"]["function"]["type"] == "subscription"
    assert body["scope"]["function"]["parameters"]["subscription_id"] == loop["item_name"]
    assert is_accessor(body["params"]["appPrincipalId"], "functionApp", "outputs", "principalId")
    reader = module["modules"]["reader"]
    assert reader["detail"]["path"] == "subscriptionReader.bicep" and condition_of(reader) is None
    assert "scope" not in body_of(reader)  # the watched subscription itself
    assert body_of(reader)["params"]["principalId"] == "appPrincipalId"
    default = doc["parameters"]["subscriptionIds"]["default"]
    assert len(default) == 1
    assert functions_in(default) == {"subscription"} and "subscriptionId" in strings_in(default)
    roles = body_of(doc["modules"]["roleAssignments"])["params"]
    assert is_accessor(roles["appPrincipalId"], "functionApp", "outputs", "principalId")
    dead_letter = body_of(module["modules"]["deadLetter"])["params"]
    assert is_accessor(dead_letter["resourceTopicPrincipalId"], "resourceTopic", "outputs", "principalId")


def test_event_subscriptions_are_the_gated_second_phase() -> None:
    doc = parsed(MAIN)
    watched, module = watched_module()
    assert body_of(watched)["params"]["deployEventSubscription"] == "deployEventSubscription"
    resource_events, health_events = module["modules"]["resourceEvents"], module["modules"]["healthEvents"]
    assert condition_of(resource_events) == "deployEventSubscription"
    assert strings_in(condition_of(health_events)) >= {"deployEventSubscription", "deployHealthEvents"}
    for subscription in (resource_events, health_events):
        body = body_of(subscription)
        # Dead-lettering needs the topic's role on the container before the first undeliverable event.
        assert "deadLetter" in body["dependsOn"]
        params = body["params"]
        assert params["deadLetterContainerName"] == "deadLetterContainerName"
        assert params["functionAppName"] == "functionAppName"
        assert params["functionAppSubscriptionId"] == "ledgerSubscriptionId"
    assert is_accessor(
        body_of(resource_events)["params"]["systemTopicName"], "resourceTopic", "outputs", "name"
    )
    main_params = body_of(watched)["params"]
    assert is_accessor(
        main_params["deadLetterContainerName"], "storage", "outputs", "deadLetterContainerName"
    )
    assert is_accessor(main_params["deadLetterStorageAccountId"], "storage", "outputs", "id")
    assert is_accessor(main_params["functionAppName"], "functionApp", "outputs", "name")
    for param, low, high in (("maxDeliveryAttempts", 1, 30), ("eventTimeToLiveInMinutes", 1, 1440)):
        assert main_params[param] == param
        spec = doc["parameters"][param]
        assert (decorator_of(spec, "min_value"), decorator_of(spec, "max_value")) == (low, high)
        assert low <= spec["default"] <= high


# Each kind of system topic: main's parameter, the module's, its reuse flag, final name and resource
# group variables, the topic module and the event subscription module on it.
REUSABLE_TOPICS = {
    "resource": (
        "existingSystemTopics", "existingResourceTopic", "reuseResourceTopic", "resourceTopicFinalName",
        "resourceTopicResourceGroupName", "resourceTopic", "resourceEvents",
    ),
    "health": (
        "existingHealthTopics", "existingHealthTopic", "reuseHealthTopic", "healthTopicFinalName",
        "healthTopicResourceGroupName", "healthTopic", "healthEvents",
    ),
}  # fmt: skip


@pytest.mark.parametrize("kind", sorted(REUSABLE_TOPICS))
def test_an_existing_system_topic_of_either_kind_can_be_reused(kind: str) -> None:
    """Azure allows one system topic per source and type: a subscription that has a HealthResources
    topic already (another tool made it) must be able to deploy, as one with a resource events topic."""
    main_param, module_param, reuse, final_name, group, topic_module, delivery = REUSABLE_TOPICS[kind]
    doc = parsed(MAIN)
    assert doc["parameters"][main_param]["default"] == {}
    _, module = watched_module()  # main looks each up by subscription: test_bicep_subscriptions.py
    assert module["parameters"][module_param]["default"] == {}
    assert module_param in strings_in(module["variables"][reuse]["value"])
    assert "empty" in functions_in(module["variables"][reuse]["value"])
    assert {reuse, module_param, "name"} <= strings_in(module["variables"][final_name]["value"])
    assert {reuse, module_param, "resourceGroup"} <= strings_in(module["variables"][group]["value"])
    topic = body_of(module["modules"][topic_module])
    assert (topic["params"]["reuseExisting"], topic["params"]["systemTopicName"]) == (reuse, final_name)
    # The topic and its event subscription are looked for where the reused topic is.
    for body in (topic, body_of(module["modules"][delivery])):
        assert body["scope"]["function"]["parameters"]["resource_group_name"] == group
    for spec in (doc["parameters"][main_param], module["parameters"][module_param]):
        assert "reuse" in decorator_of(spec, "description").lower()


def test_the_topic_module_creates_a_topic_or_reads_the_one_it_reuses() -> None:
    topic = parsed(MODULES / "systemTopic.bicep")
    _, existing = only_resource(topic, "Microsoft.EventGrid/systemTopics", existing=True)
    _, created = only_resource(topic, "Microsoft.EventGrid/systemTopics")
    assert condition_of(existing) == "reuseExisting"
    assert condition_of(created) == {"operator": {"type": "not", "operands": {"bool_value": "reuseExisting"}}}
