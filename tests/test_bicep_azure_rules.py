"""Offline checks of ``infra/bicep`` against Azure's own rules, kept as data: what Flex Consumption
accepts and deprecates, the table name rules, and the properties of a reused system topic. The
parameters table of docs/deploy.md is checked in tests/test_docs.py."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from pycep import BicepParser

from tests.bicep_source import (
    MAIN,
    MODULES,
    PARAMS,
    ROOT,
    accessor_chain,
    body_of,
    decorator_of,
    functions_in,
    is_accessor,
    object_keys,
    only_resource,
    parsed,
    strings_in,
    walk,
)
from tests.settings_read_by_code import bicep_app_settings

AZURE_RULES = ROOT / "tests" / "data" / "azure_rules"
# Table names: 3-63 letters and digits, starting with a letter; "tables" is reserved (Learn, "Understanding
# the Table service data model").
TABLE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]{2,62}$")


def _flex_rules() -> dict[str, Any]:
    return json.loads((AZURE_RULES / "flex_consumption.json").read_text())


@pytest.mark.parametrize("path", [MAIN, MODULES / "functionApp.bicep"], ids=lambda path: path.name)
def test_flex_consumption_params_only_allow_what_the_plan_accepts(path: Path) -> None:
    rules = _flex_rules()
    params = parsed(path)["parameters"]
    memory = decorator_of(params["instanceMemoryMB"], "allowed")
    assert memory and set(memory) <= set(rules["instanceMemoryMB"])
    assert params["instanceMemoryMB"]["default"] in memory
    count = params["maximumInstanceCount"]
    low, high = decorator_of(count, "min_value"), decorator_of(count, "max_value")
    assert rules["maximumInstanceCount"]["min"] <= low <= count["default"] <= high
    assert high <= rules["maximumInstanceCount"]["max"]
    versions = decorator_of(params["pythonVersion"], "allowed")
    assert versions and set(versions) <= set(rules["pythonVersions"])


@pytest.mark.parametrize("path", [MAIN, MODULES / "storage.bicep"], ids=lambda path: path.name)
def test_ledger_table_name_param_is_bounded_to_the_table_name_rules(path: Path) -> None:
    spec = parsed(path)["parameters"]["ledgerTableName"]
    assert (decorator_of(spec, "min_length"), decorator_of(spec, "max_length")) == (3, 63)
    if spec.get("default") is not None:
        assert TABLE_NAME.match(spec["default"]) and spec["default"].lower() != "tables"


def test_ledger_table_name_in_the_parameter_file_is_a_valid_table_name() -> None:
    match = re.search(r"param\s+ledgerTableName\s*=\s*'([^']*)'", PARAMS.read_text())
    assert match, "main.bicepparam sets ledgerTableName"
    assert TABLE_NAME.match(match.group(1)) and match.group(1).lower() != "tables"


@pytest.mark.parametrize("name", ["ab", "1ledger", "vm-ledger", "vm_ledger", "x" * 64])
def test_the_table_name_rule_rejects_names_azure_rejects(name: str) -> None:
    assert not TABLE_NAME.match(name)


def _flex_rejections(setting_names: set[str], site_properties: set[str]) -> list[str]:
    """App settings and site (or siteConfig) properties that Flex Consumption deprecates, with Learn's
    reason; names compare case-insensitively."""
    rules = _flex_rules()
    settings = {name.lower(): (name, why) for name, why in rules["unsupportedAppSettings"].items()}
    properties = {name.lower(): (name, why) for name, why in rules["unsupportedSiteProperties"].items()}
    found = [
        f"app setting {settings[n.lower()][0]}: {settings[n.lower()][1]}"
        for n in setting_names
        if n.lower() in settings
    ]
    found += [
        f"site property {properties[n.lower()][0]}: {properties[n.lower()][1]}"
        for n in site_properties
        if n.lower() in properties
    ]
    return sorted(found)


def _site_property_names(doc: dict[str, Any]) -> set[str]:
    """Keys of the function app's ``properties`` and ``properties.siteConfig`` (both branches of any
    conditional), where Learn's deprecated site properties would be set."""
    _, site = only_resource(doc, "Microsoft.Web/sites")
    properties = body_of(site)["properties"]
    names = {key.strip("'") for key in properties}
    return names | object_keys(properties.get("siteConfig", {}))


def test_no_app_setting_or_site_property_is_one_flex_consumption_deprecates() -> None:
    _, setting_names = bicep_app_settings()
    site_properties = _site_property_names(parsed(MODULES / "functionApp.bicep"))
    assert {"serverFarmId", "functionAppConfig", "minTlsVersion"} <= site_properties
    assert _flex_rejections(setting_names, site_properties) == []


def test_the_flex_consumption_rule_finds_settings_and_site_properties_of_a_broken_copy() -> None:
    source = (MODULES / "functionApp.bicep").read_text()
    broken = source.replace(
        "minTlsVersion: '1.2'",
        "minTlsVersion: '1.2'\n      alwaysOn: true\n      LinuxFxVersion: 'Python|3.11'",
    ).replace(
        "COMPUTE_API_VERSION: computeApiVersion", "COMPUTE_API_VERSION: computeApiVersion\n        TZ: 'UTC'"
    )
    doc = BicepParser().parse(text=broken)
    _, config = only_resource(doc, "Microsoft.Web/sites/config")
    assert _flex_rejections(object_keys(body_of(config)["properties"]), _site_property_names(doc)) == [
        "app setting TZ: Not currently supported (Considerations: Timezones)",
        "site property alwaysOn: Not valid",
        "site property linuxFxVersion: Replaced by properties.functionAppConfig.runtime",
    ]


def test_flex_consumption_rules_hold_what_learn_lists() -> None:
    rules = _flex_rules()
    assert rules["instanceMemoryMB"] == [512, 2048, 4096]
    assert rules["maximumInstanceCount"] == {"min": 1, "max": 1000}
    assert rules["pythonVersions"] == ["3.10", "3.11", "3.12"]
    settings, properties = rules["unsupportedAppSettings"], rules["unsupportedSiteProperties"]
    assert {
        "FUNCTIONS_WORKER_RUNTIME",
        "FUNCTIONS_EXTENSION_VERSION",
        "WEBSITE_RUN_FROM_PACKAGE",
        "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
        "WEBSITE_CONTENTSHARE",
        "WEBSITE_NODE_DEFAULT_VERSION",
        "WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT",
    } <= set(settings)
    assert {
        "alwaysOn",
        "linuxFxVersion",
        "use32BitWorkerProcess",
        "javaVersion",
        "preWarmedInstanceCount",
    } <= set(properties)
    # Named in the brief but not in Learn's deprecation table or considerations: not listed.
    assert not {"AzureWebJobsFeatureFlags", "SCALE_CONTROLLER_LOGGING_ENABLED"} & set(settings)
    assert all(reason.strip() for reason in [*settings.values(), *properties.values()])


def _accessors_in(node: Any) -> set[tuple[str, ...]]:
    return {tuple(chain) for item in walk(node) if len(chain := accessor_chain(item)) > 1}


def test_a_reused_system_topic_is_checked_and_the_deployment_fails_with_a_message_otherwise() -> None:
    """The checks run at deployment time (the existing topic is read then), so offline we check their
    shape: each reads the property that Azure sets on the topic (tests/bicep_types.py checks those
    paths exist in the published type) and fail() stands where the principal id would be."""
    doc = parsed(MODULES / "systemTopic.bicep")
    existing, _ = only_resource(doc, "Microsoft.EventGrid/systemTopics", existing=True)
    variables = doc["variables"]
    assert ("existingTopic", "properties", "topicType") in _accessors_in(variables["reusedTopicType"])
    assert ("existingTopic", "properties", "source") in _accessors_in(variables["reusedTopicSource"])
    identity_type = variables["reusedIdentityType"]["value"]["operator"]["operands"]["true_value"]
    # pycep reads ``existingTopic!.identity.?type ?? 'None'`` as ``identity.(type ?? 'None')``: check
    # the names, not the shape.
    assert {existing, "identity", "type", "None"} <= strings_in(identity_type)

    checks = {
        "wrongTopicType": ("reusedTopicType", "topicType"),
        "wrongTopicSource": ("reusedTopicSource", None),
        "noSystemIdentity": ("reusedIdentityType", "SystemAssigned"),
    }
    for name, (value, literal) in checks.items():
        check = variables[name]["value"]["operator"]
        assert check["type"] == "and" and check["operands"]["operand_1"] == "reuseExisting", name
        strings = strings_in(check["operands"]["operand_2"])
        assert value in strings and (literal is None or literal in strings), name
    assert "subscription" in functions_in(variables["wrongTopicSource"])

    # Each failed check adds a sentence naming the topic and the cause to the message.
    for check, problem in (
        ("wrongTopicType", "topicTypeProblem"),
        ("wrongTopicSource", "topicSourceProblem"),
        ("noSystemIdentity", "identityProblem"),
    ):
        operands = variables[problem]["value"]["operator"]["operands"]
        assert operands["condition"] == check and operands["false_value"] == ""
        assert "System topic ${systemTopicName}" in operands["true_value"]
        assert problem in variables["reusedTopicProblem"]["value"]["function"]["parameters"]["string_to_trim"]

    output = doc["outputs"]["principalId"]["value"]["operator"]["operands"]
    assert output["condition"] == "reuseExisting"
    reused = output["true_value"]["operator"]["operands"]
    assert reused["condition"]["function"]["type"] == "empty"
    assert is_accessor(reused["true_value"], existing, "identity", "principalId")
    assert reused["false_value"] == {
        "function": {"type": "fail", "parameters": {"arg_1": "reusedTopicProblem"}}
    }
    assert is_accessor(output["false_value"], "createdTopic", "identity", "principalId")


def test_the_reused_topic_checks_read_only_properties_the_published_type_has() -> None:
    from tests.bicep_types import check_source

    source = (MODULES / "systemTopic.bicep").read_text()
    assert check_source(source, "systemTopic.bicep") == []
    broken = source.replace("properties.topicType", "properties.topicKind").replace(
        "identity.?type", "identity.?kind"
    )
    messages = [str(v) for v in check_source(broken, "systemTopic.bicep")]
    assert any(
        "properties.topicKind: read, but not a property of SystemTopicProperties" in m for m in messages
    )
    assert any("identity.kind: read, but not a property of IdentityInfo" in m for m in messages)
