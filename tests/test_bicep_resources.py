"""Offline checks of the resources ``infra/bicep`` declares: keyless and private storage, the Flex
Consumption function app with its identity and an app setting for every setting the code reads, the
system topic and the event subscription to ``on_vm_event``, the role assignments and their scopes, the
work queue."""

from __future__ import annotations

import ast
import re

import pytest

from tests.bicep_source import (
    MAIN,
    MODULES,
    PARAMS,
    body_of,
    decorator_of,
    expanded,
    functions_in,
    is_accessor,
    only_resource,
    parsed,
    resolved_value,
    resources_of,
    strings_in,
    watched_module,
)
from tests.settings_read_by_code import (
    DEV_ONLY_SETTINGS,
    FUNCTION_APP,
    bicep_app_settings,
    code_constant,
    missing_settings,
    settings_declared_in,
    settings_read_by_code,
    settings_read_directly_in,
)

# Built-in role definition ids (the same in every tenant).
STORAGE_TABLE_DATA_CONTRIBUTOR = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3"
STORAGE_BLOB_DATA_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
STORAGE_BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
STORAGE_QUEUE_DATA_CONTRIBUTOR = "974c5e8b-45b9-4653-ba55-5f855dd0fb88"
MONITORING_METRICS_PUBLISHER = "3913510d-42f4-4e42-8a64-420c390055eb"
EVENTGRID_DATA_SENDER = "d5a91429-5739-47e2-a06b-3470a27159e7"  # Learn, Azure built-in roles, Integration
READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
COST_MANAGEMENT_READER = "72fafb9e-0641-4937-9268-a91bfd8191a3"

EVENT_FUNCTION_NAME = "on_vm_event"
RESOURCE_EVENT_TYPES = {
    f"Microsoft.Resources.Resource{operation}{outcome}"
    for operation in ("Write", "Action", "Delete")
    for outcome in ("Success", "Failure", "Cancel")
}


def test_storage_account_is_keyless_and_private() -> None:
    doc = parsed(MODULES / "storage.bicep")
    _, account = only_resource(doc, "Microsoft.Storage/storageAccounts")
    properties = body_of(account)["properties"]
    assert properties["allowSharedKeyAccess"] is False
    assert properties["allowBlobPublicAccess"] is False
    assert properties["minimumTlsVersion"] == "TLS1_2"
    assert properties["supportsHttpsTrafficOnly"] is True
    containers = {
        body_of(container)["name"]: body_of(container)["properties"]["publicAccess"]
        for container in resources_of(
            doc, "Microsoft.Storage/storageAccounts/blobServices/containers"
        ).values()
    }
    assert containers == {"deploymentContainerName": "None", "deadLetterContainerName": "None"}
    _, table = only_resource(doc, "Microsoft.Storage/storageAccounts/tableServices/tables")
    assert body_of(table)["name"] == "ledgerTableName"
    assert "${environment().suffixes.storage}" in doc["outputs"]["tableEndpoint"]["value"]


def test_function_app_runs_python_on_flex_consumption_with_a_managed_identity() -> None:
    doc = parsed(MODULES / "functionApp.bicep")
    _, plan = only_resource(doc, "Microsoft.Web/serverfarms")
    assert body_of(plan)["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    _, site = only_resource(doc, "Microsoft.Web/sites")
    body = body_of(site)
    assert "functionapp" in body["kind"]
    config = body["properties"]["functionAppConfig"]
    assert config["runtime"] == {"name": "python", "version": "pythonVersion"}
    versions = decorator_of(doc["parameters"]["pythonVersion"], "allowed")
    assert versions and all(version.startswith("3.") for version in versions)
    storage = config["deployment"]["storage"]
    assert storage["type"] == "blobContainer"
    assert "deploymentContainerName" in storage["value"]
    auth = storage["authentication"]["operator"]["operands"]
    assert {auth["true_value"]["type"], auth["false_value"]["type"]} == {
        "UserAssignedIdentity",
        "SystemAssignedIdentity",
    }
    identity = body["identity"]["operator"]["operands"]
    assert {identity["true_value"]["type"], identity["false_value"]["type"]} == {
        "UserAssigned",
        "SystemAssigned",
    }
    assert set(decorator_of(doc["parameters"]["identityType"], "allowed")) == {
        "SystemAssigned",
        "UserAssigned",
    }


def test_app_settings_cover_every_setting_the_code_reads() -> None:
    """Fails when the code starts reading a setting that the deployment does not set (the names come
    from the code, see ``settings_declared_in``). Keys of both identity branches count: the client id
    settings exist only for a user-assigned identity, where they are required."""
    _, names = bicep_app_settings()
    assert missing_settings(settings_read_by_code(), names) == set()
    for dev_only, reason in DEV_ONLY_SETTINGS.items():
        assert dev_only not in names, f"{dev_only} must stay unset in Azure: {reason}"


def test_settings_rule_finds_the_code_settings_and_a_new_one() -> None:
    found = settings_read_by_code()
    assert {"VM_LEDGER_STORAGE__tableServiceUri", "VM_LEDGER_TABLE", "RECONCILE_SCHEDULE"} <= found
    assert not {"vmledger", "https://management.azure.com", "2024-07-01"} & found
    module = 'NEW = "VM_LEDGER_NEW"\nDEFAULT_NEW = "VM_LEDGER_OLD"\n_PRIVATE = "X"\nlower = "Y"\n'
    assert settings_declared_in(module) == {"VM_LEDGER_NEW"}
    assert settings_read_directly_in('import os\nos.environ.get("A")\nos.getenv("B")\nos.environ["C"]\n') == {
        "A",
        "B",
        "C",
    }
    _, names = bicep_app_settings()
    assert missing_settings(found | {"VM_LEDGER_NEW"}, names) == {"VM_LEDGER_NEW"}


def test_app_settings_use_identities_and_the_code_defaults() -> None:
    properties, names = bicep_app_settings()
    base = properties["function"]["parameters"]["arg_1"]
    user_assigned = properties["function"]["parameters"]["arg_2"]["operator"]["operands"]
    assert user_assigned["condition"] == "useUserAssigned"
    assert set(user_assigned["true_value"]) == {
        "AzureWebJobsStorage__clientId",
        "VM_LEDGER_STORAGE__clientId",
        "AZURE_CLIENT_ID",
    }
    assert base["AzureWebJobsStorage__credential"] == "managedidentity"
    assert {"AzureWebJobsStorage__blobServiceUri", "AzureWebJobsStorage__queueServiceUri"} <= names
    assert {"APPLICATIONINSIGHTS_CONNECTION_STRING", "APPLICATIONINSIGHTS_AUTHENTICATION_STRING"} <= names
    # Keys and connection strings with secrets, or settings Flex Consumption rejects.
    assert not {"AzureWebJobsStorage", "FUNCTIONS_WORKER_RUNTIME", "APPINSIGHTS_INSTRUMENTATIONKEY"} & names
    doc = parsed(MODULES / "functionApp.bicep")
    # Telemetry with an Entra token of the app's identity, whichever identity type is chosen.
    auth = resolved_value(doc, base["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"])["operator"]["operands"]
    assert auth["condition"] == "useUserAssigned"
    assert auth["true_value"] == "ClientId=${identityClientId};Authorization=AAD"
    assert auth["false_value"] == "Authorization=AAD"
    assert base["VM_LEDGER_STORAGE__tableServiceUri"] == "tableEndpoint"
    arm = expanded(doc, base["ARM_ENDPOINT"])
    assert "environment" in functions_in(arm) and "resourceManager" in strings_in(arm)
    main = parsed(MAIN)["parameters"]
    assert main["reconcileSchedule"]["default"] == "0 */15 * * * *"
    assert main["computeApiVersion"]["default"] == code_constant("settings", "DEFAULT_COMPUTE_API_VERSION")
    assert main["ledgerTableName"]["default"] == code_constant("settings", "DEFAULT_TABLE_NAME")
    billed = code_constant("domain/vm_state", "DEFAULT_BILLED_POWER_STATES")
    assert main["billedPowerStates"]["default"] == ",".join(billed)
    # Cost settings: the code's defaults, and the period reads back as the code's default.
    assert main["pricesCurrency"]["default"] == code_constant("settings", "DEFAULT_PRICES_CURRENCY")
    assert main["retailPricesEndpoint"]["default"] == code_constant(
        "settings", "DEFAULT_RETAIL_PRICES_ENDPOINT"
    )
    from shared.settings import DEFAULT_INVENTORY_REFRESH, read_settings

    period = {
        "VM_LEDGER_STORAGE": "UseDevelopmentStorage=true",
        "INVENTORY_REFRESH": main["inventoryRefresh"]["default"],
    }
    assert read_settings(period).inventory_refresh == DEFAULT_INVENTORY_REFRESH


def test_system_topic_is_the_subscription_topic_at_global_location() -> None:
    doc = parsed(MODULES / "systemTopic.bicep")
    _, created = only_resource(doc, "Microsoft.EventGrid/systemTopics")
    body = body_of(created)
    assert body["location"] == "global"
    assert body["properties"]["topicType"] == "topicType"
    allowed = decorator_of(doc["parameters"]["topicType"], "allowed")
    assert allowed == ["Microsoft.Resources.Subscriptions", "Microsoft.ResourceNotifications.HealthResources"]
    assert doc["parameters"]["topicType"]["default"] == "Microsoft.Resources.Subscriptions"
    _, module = watched_module()
    kinds = {
        name: body_of(module["modules"][name])["params"]["topicType"]
        for name in ("resourceTopic", "healthTopic")
    }
    assert kinds == {"resourceTopic": allowed[0], "healthTopic": allowed[1]}
    assert functions_in(body["properties"]["source"]) == {"subscription"} and "id" in strings_in(
        body["properties"]["source"]
    )
    assert body["identity"] == {"type": "SystemAssigned"}


def test_event_subscription_delivers_vm_operations_to_on_vm_event() -> None:
    doc = parsed(MODULES / "eventSubscription.bicep")
    _, subscription = only_resource(doc, "Microsoft.EventGrid/systemTopics/eventSubscriptions")
    body = body_of(subscription)
    topic, _ = only_resource(doc, "Microsoft.EventGrid/systemTopics", existing=True)
    assert body["parent"] == topic
    properties = body["properties"]
    assert properties["eventDeliverySchema"] == "EventGridSchema"

    destination = properties["destination"]
    assert destination["endpointType"] == "AzureFunction"
    target = destination["properties"]["resourceId"]
    assert target["operator"]["operands"]["operand_2"] == "id"
    function = doc["resources"][target["operator"]["operands"]["operand_1"]]
    assert function["type"] == "Microsoft.Web/sites/functions" and function["existing"] is True
    assert resolved_value(doc, body_of(function)["name"]) == EVENT_FUNCTION_NAME
    assert doc["resources"][body_of(function)["parent"]]["type"] == "Microsoft.Web/sites"

    event_filter = properties["filter"]
    assert set(resolved_value(doc, event_filter["includedEventTypes"])) == RESOURCE_EVENT_TYPES
    [advanced] = event_filter["advancedFilters"]
    assert (advanced["operatorType"], advanced["key"]) == ("StringBeginsWith", "data.operationName")

    assert properties["retryPolicy"] == {
        "maxDeliveryAttempts": "maxDeliveryAttempts",
        "eventTimeToLiveInMinutes": "eventTimeToLiveInMinutes",
    }
    for param, low, high in (("maxDeliveryAttempts", 1, 30), ("eventTimeToLiveInMinutes", 1, 1440)):
        spec = doc["parameters"][param]
        assert (decorator_of(spec, "min_value"), decorator_of(spec, "max_value")) == (low, high)

    dead_letter = properties["deadLetterWithResourceIdentity"]
    assert dead_letter["identity"] == {"type": "SystemAssigned"}
    assert dead_letter["deadLetterDestination"] == {
        "endpointType": "StorageBlob",
        "properties": {
            "resourceId": "deadLetterStorageAccountId",
            "blobContainerName": "deadLetterContainerName",
        },
    }
    assert "deadLetterDestination" not in properties  # the identity-less form would bypass the role


def _operation_name_prefixes() -> list[str]:
    doc = parsed(MODULES / "eventSubscription.bicep")
    _, subscription = only_resource(doc, "Microsoft.EventGrid/systemTopics/eventSubscriptions")
    [advanced] = body_of(subscription)["properties"]["filter"]["advancedFilters"]
    return [resolved_value(doc, value) for value in advanced["values"]]


def _passes_event_grid_filter(operation_name: str, prefixes: list[str]) -> bool:
    """Event Grid's ``StringBeginsWith``: a case-insensitive prefix match on any of the values."""
    return any(operation_name.lower().startswith(prefix.lower()) for prefix in prefixes)


def test_event_filter_values_are_the_codes_own_prefixes() -> None:
    from shared.domain.operations import OPERATION_PREFIX, event_filter_prefixes

    prefixes = _operation_name_prefixes()
    assert prefixes == event_filter_prefixes()
    assert prefixes[0].lower() == OPERATION_PREFIX
    assert len(prefixes) <= 25  # Event Grid's limit of values in one advanced filter


def test_event_filter_admits_every_operation_the_code_knows_and_no_other_scale_set_operation() -> None:
    from shared.domain.operations import (
        DELETE,
        POWER_AFTER_SUCCESS,
        SCALE_SET_OPERATIONS,
        WRITE,
        classify_operation,
        operation_suffix,
    )

    prefixes = _operation_name_prefixes()
    for suffix in [WRITE, DELETE, *POWER_AFTER_SUCCESS]:
        operation = "Microsoft.Compute/virtualMachines/" + suffix
        assert _passes_event_grid_filter(operation, prefixes), operation
        assert operation_suffix(operation) == suffix.lower()
        instance = "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/" + suffix
        assert _passes_event_grid_filter(instance, prefixes), instance
    for name in SCALE_SET_OPERATIONS:
        operation = "Microsoft.Compute/virtualMachineScaleSets/" + name
        assert _passes_event_grid_filter(operation, prefixes), operation
        assert classify_operation(operation) is not None
    for operation in (
        "Microsoft.Compute/virtualMachineScaleSets/extensions/write",
        "Microsoft.Compute/virtualMachineScaleSets/rollingUpgrades/action",
        "Microsoft.Compute/virtualMachineScaleSetsX/write",
    ):
        assert not _passes_event_grid_filter(operation, prefixes), operation


def test_the_old_filter_without_a_slash_would_have_admitted_scale_sets() -> None:
    assert _passes_event_grid_filter(
        "Microsoft.Compute/virtualMachineScaleSets/start/action", ["Microsoft.Compute/virtualMachines"]
    )


def _role_assignments() -> set[tuple[str, str, str]]:
    """(role definition id, scope, principal) of every role assignment in the modules. The scope is the
    type of the resource it is attached to, or ``subscription`` in a subscription-scope file."""
    found: set[tuple[str, str, str]] = set()
    for path in sorted(MODULES.glob("*.bicep")):
        doc = parsed(path)
        target_scope = doc.get("globals", {}).get("scope", {}).get("value", "resourceGroup")
        for name, assignment in resources_of(doc, "Microsoft.Authorization/roleAssignments").items():
            body = body_of(assignment)
            definition = body["properties"]["roleDefinitionId"]["function"]
            assert definition["type"] == "subscription_resource_id", name
            assert definition["parameters"]["resource_type"] == "Microsoft.Authorization/roleDefinitions"
            role = resolved_value(doc, definition["parameters"]["resource_name_1"])
            principal = body["properties"]["principalId"]
            assert body["properties"]["principalType"] == "ServicePrincipal", name
            # Deterministic name: guid() of values fixed for this scope, principal and role.
            guid = body["name"]["function"]
            assert guid["type"] == "guid", name
            arguments = strings_in(guid["parameters"])
            assert principal in arguments and definition["parameters"]["resource_name_1"] in arguments, name
            assert not {"newGuid", "utcNow"} & functions_in(guid), name
            if "scope" in body:
                scope = doc["resources"][body["scope"]]
                assert scope["existing"] is True, name
                scope_name = scope["type"]
                if scope_name.endswith("/containers"):
                    assert body_of(scope)["name"] == "deadLetterContainerName", name
            else:
                assert target_scope == "subscription", f"{name} has no scope in a {target_scope} file"
                scope_name = "subscription"
            found.add((role, scope_name, principal))
    return found


def test_role_assignments_grant_the_needed_roles_at_the_right_scopes() -> None:
    assert _role_assignments() == {
        (STORAGE_TABLE_DATA_CONTRIBUTOR, "Microsoft.Storage/storageAccounts", "appPrincipalId"),
        (STORAGE_BLOB_DATA_OWNER, "Microsoft.Storage/storageAccounts", "appPrincipalId"),
        (STORAGE_QUEUE_DATA_CONTRIBUTOR, "Microsoft.Storage/storageAccounts", "appPrincipalId"),
        (MONITORING_METRICS_PUBLISHER, "Microsoft.Insights/components", "appPrincipalId"),
        (EVENTGRID_DATA_SENDER, "Microsoft.EventGrid/topics", "appPrincipalId"),
        (
            STORAGE_BLOB_DATA_CONTRIBUTOR,
            "Microsoft.Storage/storageAccounts/blobServices/containers",
            "resourceTopicPrincipalId",
        ),
        (
            STORAGE_BLOB_DATA_CONTRIBUTOR,
            "Microsoft.Storage/storageAccounts/blobServices/containers",
            "healthTopicPrincipalId",
        ),
        (READER, "subscription", "principalId"),
        (COST_MANAGEMENT_READER, "subscription", "principalId"),
    }


# Azure's queue name rule (the published type's pattern), and room for the host's "-poison" suffix.
QUEUE_NAME = re.compile(r"^[a-z0-9]([a-z0-9]|(-(?!-))){1,61}[a-z0-9]$")


def test_the_work_queue_and_its_poison_queue_live_in_the_ledgers_account() -> None:
    doc = parsed(MODULES / "storage.bicep")
    queues = {
        body_of(queue)["name"]
        for queue in resources_of(doc, "Microsoft.Storage/storageAccounts/queueServices/queues").values()
    }
    assert queues == {"ledgerQueueName", "${ledgerQueueName}-poison"}
    for path in (MAIN, MODULES / "storage.bicep"):
        spec = parsed(path)["parameters"]["ledgerQueueName"]
        assert (decorator_of(spec, "min_length"), decorator_of(spec, "max_length")) == (3, 56)
    default = parsed(MAIN)["parameters"]["ledgerQueueName"]["default"]
    assert default == code_constant("settings", "DEFAULT_QUEUE_NAME")
    assert QUEUE_NAME.match(default) and QUEUE_NAME.match(default + "-poison")
    assert re.search(rf"param\s+ledgerQueueName\s*=\s*'{default}'", PARAMS.read_text())
    passed = body_of(parsed(MAIN)["modules"]["functionApp"])["params"]["ledgerQueueName"]
    assert is_accessor(passed, "storage", "outputs", "ledgerQueueName")


def test_the_queue_trigger_reads_the_ledgers_account_with_the_identity() -> None:
    """The trigger's ``connection`` names the setting prefix; in Azure only the identity form is set:
    ``<prefix>__queueServiceUri`` and ``__credential`` (Learn, "identity-based connections"), the client id
    of a user-assigned identity, and never the connection string itself."""
    source = FUNCTION_APP.read_text()
    connections = re.findall(r"queue_trigger\([^)]*connection=\"([A-Za-z_]+)\"", source)
    queue_names = re.findall(r"queue_trigger\([^)]*queue_name=\"%([A-Z_]+)%\"", source)
    assert connections == ["VM_LEDGER_STORAGE"] and queue_names == ["VM_LEDGER_QUEUE"]
    properties, names = bicep_app_settings()
    base = properties["function"]["parameters"]["arg_1"]
    user_assigned = properties["function"]["parameters"]["arg_2"]["operator"]["operands"]["true_value"]
    assert base["VM_LEDGER_STORAGE__queueServiceUri"] == "queueEndpoint"
    assert base["VM_LEDGER_STORAGE__credential"] == "managedidentity"
    assert base["VM_LEDGER_QUEUE"] == "ledgerQueueName"
    assert "VM_LEDGER_STORAGE__clientId" in user_assigned and "VM_LEDGER_STORAGE" not in names
    endpoint = parsed(MODULES / "storage.bicep")["outputs"]["queueEndpoint"]["value"]
    assert ".queue.${environment().suffixes.storage}" in endpoint


def test_function_app_registers_the_event_function_name() -> None:
    if not FUNCTION_APP.exists():
        pytest.skip("function_app.py is not in the tree yet")
    constants = {
        node.value
        for node in ast.walk(ast.parse(FUNCTION_APP.read_text()))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }
    assert EVENT_FUNCTION_NAME in constants


def test_the_findings_topic_takes_cloudevents_with_keys_off_and_its_webhook_gets_raised_findings():
    doc = parsed(MODULES / "findingsTopic.bicep")
    [topic] = resources_of(doc, "Microsoft.EventGrid/topics").values()
    properties = body_of(topic)["properties"]
    assert properties["inputSchema"] == "CloudEventSchemaV1_0" and properties["disableLocalAuth"] is True
    [subscription] = resources_of(doc, "Microsoft.EventGrid/topics/eventSubscriptions").values()
    body = body_of(subscription)["properties"]
    assert body["eventDeliverySchema"] == "CloudEventSchemaV1_0"
    assert body["destination"]["endpointType"] == "WebHook"
    assert body["filter"]["includedEventTypes"] == ["VmLedger.FindingRaised"]
    decorators = [decorator["type"] for decorator in doc["parameters"]["webhookUrl"]["decorators"]]
    assert "secure" in decorators  # a workflow URL carries its signature: never in deployment history
