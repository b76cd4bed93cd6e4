"""The Bicep in ``infra/bicep`` against the published Bicep resource type definitions.

``tests/bicep_types.py`` does offline what the Bicep compiler does with ``Azure/bicep-types-az``: every
``type@apiVersion`` must exist, every property set must exist in that API version with a fitting
type and an allowed enum value. The broken copies below are our own files with one change each, so
the messages are checked on real declarations.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from devtools.trim_bicep_types import MANIFEST, trim
from tests.bicep_types import TYPES_DIR, Violation, check_files, check_source, declared_types

ROOT = Path(__file__).resolve().parents[1]
BICEP_DIR = ROOT / "infra" / "bicep"
BICEP_FILES = sorted(BICEP_DIR.rglob("*.bicep"))


def _source(relative: str) -> str:
    return (BICEP_DIR / relative).read_text(encoding="utf-8")


def _line(relative: str, text: str) -> int:
    """1-based line of the first occurrence of ``text`` in a Bicep file, so messages are checked
    without pinning line numbers that any edit above would shift."""
    source = _source(relative)
    return source[: source.index(text)].count("\n") + 1


def _at(relative: str, text: str) -> str:
    return f"{relative}:{_line(relative, text)}"


def _broken(relative: str, old: str, new: str) -> list[str]:
    source = _source(relative)
    assert source.count(old) == 1, f"{old!r} must occur once in {relative}"
    return [str(violation) for violation in check_source(source.replace(old, new), relative)]


def test_our_bicep_uses_only_published_types_properties_and_values() -> None:
    violations = check_files(BICEP_FILES, BICEP_DIR)
    assert [str(violation) for violation in violations] == []


def test_every_declared_type_and_nested_child_resolves_to_a_published_definition() -> None:
    declared = {name for path in BICEP_FILES for name in declared_types(path.read_text(encoding="utf-8"))}
    # Nested and parent: children come out with their full type names.
    assert {
        "Microsoft.Web/sites/config@2024-11-01",
        "Microsoft.Storage/storageAccounts/tableServices/tables@2025-01-01",
        "Microsoft.Web/sites/functions@2024-11-01",
        "Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15",
    } <= declared
    kept = {
        f"{resource_type}@{relative.split('/')[2]}".lower()
        for relative, types in MANIFEST.items()
        for resource_type in types
    }
    assert {name.lower() for name in declared} <= kept


def test_a_misspelled_property_is_reported_with_its_path_and_the_right_spelling() -> None:
    assert _broken("modules/storage.bicep", "allowSharedKeyAccess: false", "allowSharedKeyAcess: false") == [
        _at("modules/storage.bicep", "allowSharedKeyAccess")
        + " storageAccount (Microsoft.Storage/storageAccounts@2025-01-01) "
        "properties.allowSharedKeyAcess: not a property of "
        "StorageAccountPropertiesCreateParametersOrStorageAccountProperties in API version 2025-01-01; "
        "did you mean 'allowSharedKeyAccess'?"
    ]


def test_a_value_outside_a_closed_enum_is_reported_with_the_allowed_values() -> None:
    violations = _broken(
        "modules/eventSubscription.bicep",
        "operatorType: 'StringBeginsWith'",
        "operatorType: 'StringStartsWith'",
    )
    assert len(violations) == 1
    assert violations[0].startswith(
        _at("modules/eventSubscription.bicep", "StringBeginsWith") + " "
        "eventSubscription "
        "(Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15) "
        "properties.filter.advancedFilters[0].operatorType: 'StringStartsWith' is not one of 'BoolEquals', "
    )
    assert "'StringBeginsWith'" in violations[0]


def test_a_wrong_enum_value_in_a_nested_child_resource_is_reported() -> None:
    source = _source("modules/storage.bicep")
    broken = source.replace("publicAccess: 'None'", "publicAccess: 'Private'", 1)
    assert [str(v) for v in check_source(broken, "storage.bicep")] == [
        _at("modules/storage.bicep", "publicAccess").removeprefix("modules/")
        + " deploymentContainer (Microsoft.Storage/storageAccounts/blobServices/containers@2025-01-01) "
        "properties.publicAccess: 'Private' is not one of 'Container', 'Blob', 'None'"
    ]


def test_a_property_newer_than_the_declared_api_version_is_reported() -> None:
    """functionAppConfig (Flex Consumption) came with Microsoft.Web 2023-12-01; 2023-01-01 lacks it."""
    violations = _broken(
        "modules/functionApp.bicep",
        "resource functionApp 'Microsoft.Web/sites@2024-11-01' = {",
        "resource functionApp 'Microsoft.Web/sites@2023-01-01' = {",
    )
    assert (
        _at("modules/functionApp.bicep", "functionAppConfig:")
        + " functionApp (Microsoft.Web/sites@2023-01-01) properties.functionAppConfig: "
        "not a property of SiteProperties in API version 2023-01-01"
    ) in violations
    # The nested config child inherits the older version, for which no definition is kept.
    assert any(
        v.startswith(
            _at("modules/functionApp.bicep", "resource appSettings")
            + " appSettings (Microsoft.Web/sites/config@2023-01-01)"
        )
        for v in violations
    )


def test_an_api_version_without_a_definition_is_reported() -> None:
    assert _broken(
        "modules/monitoring.bicep",
        "'Microsoft.OperationalInsights/workspaces@2025-02-01'",
        "'Microsoft.OperationalInsights/workspaces@2025-02-30'",
    ) == [
        _at("modules/monitoring.bicep", "resource logAnalytics")
        + " logAnalytics (Microsoft.OperationalInsights/workspaces@2025-02-30): "
        "no published type definition for this type@apiVersion (definitions exist for 2025-02-01; "
        "see devtools/trim_bicep_types.py)"
    ]


def test_a_literal_of_the_wrong_type_is_reported() -> None:
    assert _broken(
        "modules/storage.bicep", "supportsHttpsTrafficOnly: true", "supportsHttpsTrafficOnly: 'true'"
    ) == [
        _at("modules/storage.bicep", "supportsHttpsTrafficOnly")
        + " storageAccount (Microsoft.Storage/storageAccounts@2025-01-01) "
        "properties.supportsHttpsTrafficOnly: a string where the type is bool"
    ]


def test_a_read_only_property_cannot_be_set() -> None:
    violations = _broken(
        "modules/storage.bicep", "accessTier: 'Hot'", "accessTier: 'Hot'\n    provisioningState: 'Succeeded'"
    )
    assert len(violations) == 1 and "properties.provisioningState: read-only" in violations[0]


def test_both_branches_of_a_conditional_object_are_checked() -> None:
    violations = _broken(
        "modules/functionApp.bicep", "type: 'SystemAssigned'\n  }", "typ: 'SystemAssigned'\n  }"
    )
    assert any("identity.typ: not a property of ManagedServiceIdentity" in v for v in violations), violations


def test_a_parent_of_the_wrong_type_is_reported() -> None:
    assert _broken("modules/storage.bicep", "parent: tableService", "parent: blobService") == [
        _at("modules/storage.bicep", "parent: tableService")
        + " ledgerTable (Microsoft.Storage/storageAccounts/tableServices/tables@2025-01-01) "
        "parent: 'blobService' is a Microsoft.Storage/storageAccounts/blobServices, "
        "a Microsoft.Storage/storageAccounts/tableServices/tables needs a "
        "Microsoft.Storage/storageAccounts/tableServices"
    ]


def test_a_property_read_through_an_existing_resource_must_exist() -> None:
    violations = _broken(
        "modules/functionApp.bicep",
        "applicationInsights.properties.ConnectionString",
        "applicationInsights.properties.ConnectionStrin",
    )
    assert violations == [
        _at("modules/functionApp.bicep", "applicationInsights.properties")
        + " applicationInsights (Microsoft.Insights/components@2020-02-02) "
        "properties.ConnectionStrin: read, but not a property of ApplicationInsightsComponentProperties"
    ]


def test_a_missing_required_property_is_reported() -> None:
    violations = _broken("modules/storage.bicep", "  sku: {\n    name: 'Standard_LRS'\n  }\n", "")
    assert violations == [
        _at("modules/storage.bicep", "resource storageAccount")
        + " storageAccount (Microsoft.Storage/storageAccounts@2025-01-01) sku: "
        "required by Microsoft.Storage/storageAccounts, not set"
    ]


def test_violation_text_names_file_line_symbol_type_path_and_problem() -> None:
    violation = Violation("a.bicep", 3, "sym", "X/y@1", "properties.z", "wrong")
    assert str(violation) == "a.bicep:3 sym (X/y@1) properties.z: wrong"


# --------------------------------------------------------------------------------------------------
# The trimmed published files
# --------------------------------------------------------------------------------------------------


def _refs(node: Any) -> list[int]:
    if isinstance(node, dict):
        if set(node) == {"$ref"}:
            return [int(node["$ref"][2:])]
        return [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


@pytest.mark.parametrize("path", sorted(TYPES_DIR.glob("*.json")), ids=lambda path: path.name)
def test_trimmed_type_files_are_self_contained(path: Path) -> None:
    types = json.loads(path.read_text(encoding="utf-8"))
    assert all(0 <= ref < len(types) for ref in _refs(types))
    assert [t for t in types if t["$type"] == "ResourceType"]
    assert path.name in (TYPES_DIR / "SOURCES.md").read_text(encoding="utf-8")


def test_trim_keeps_the_named_resource_types_and_what_they_reach_renumbered() -> None:
    types = [
        {"$type": "StringType"},
        {"$type": "IntegerType"},
        {"$type": "ObjectType", "name": "Unused", "properties": {"n": {"type": {"$ref": "#/1"}, "flags": 0}}},
        {"$type": "ObjectType", "name": "Body", "properties": {"s": {"type": {"$ref": "#/0"}, "flags": 0}}},
        {"$type": "ResourceType", "name": "A.B/c@1", "body": {"$ref": "#/3"}},
        {"$type": "ResourceType", "name": "A.B/other@1", "body": {"$ref": "#/2"}},
    ]
    assert trim(types, ["a.b/C"]) == [
        {"$type": "StringType"},
        {"$type": "ObjectType", "name": "Body", "properties": {"s": {"type": {"$ref": "#/0"}, "flags": 0}}},
        {"$type": "ResourceType", "name": "A.B/c@1", "body": {"$ref": "#/1"}},
    ]
    with pytest.raises(SystemExit, match="a.b/missing"):
        trim(types, ["A.B/missing"])
