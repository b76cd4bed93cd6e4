"""Trim Bicep resource type definitions (``types.json`` of ``Azure/bicep-types-az``) to what we use.

A published ``types.json`` holds every resource type of a provider namespace at one API version and
runs to hundreds of kilobytes. The offline checker in ``tests/bicep_types.py`` needs only the resource
types that ``infra/bicep`` declares, so this keeps the ``ResourceType`` entries named in ``MANIFEST`` and
every type object reachable from them through ``$ref``, renumbered in their original order so that
the ``#/N`` references stay consistent. Nothing else is changed: property names, flags, literal values
and descriptions are the published ones.

Usage, from a checkout (or snapshot) of ``Azure/bicep-types-az``::

    python -m devtools.trim_bicep_types /path/to/bicep-types-az

It rewrites ``tests/data/published/bicep_types/<namespace>@<apiVersion>.json``; record the commit of
the checkout in ``SOURCES.md`` next to them.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from devtools.published import PUBLISHED

OUT_DIR = PUBLISHED / "bicep_types"

# Path under the repo's ``generated/`` folder -> resource types to keep (without ``@version``).
MANIFEST: dict[str, list[str]] = {
    "resources_11/microsoft.resources/2024-11-01/types.json": ["Microsoft.Resources/resourceGroups"],
    "storage/microsoft.storage/2025-01-01/types.json": [
        "Microsoft.Storage/storageAccounts",
        "Microsoft.Storage/storageAccounts/blobServices",
        "Microsoft.Storage/storageAccounts/blobServices/containers",
        "Microsoft.Storage/storageAccounts/tableServices",
        "Microsoft.Storage/storageAccounts/tableServices/tables",
        "Microsoft.Storage/storageAccounts/queueServices",
        "Microsoft.Storage/storageAccounts/queueServices/queues",
    ],
    "web/microsoft.web/2024-11-01/types.json": [
        "Microsoft.Web/serverfarms",
        "Microsoft.Web/sites",
        "Microsoft.Web/sites/config",
        "Microsoft.Web/sites/functions",
    ],
    # Not used by infra/bicep: the last version before functionAppConfig (Flex Consumption) was added,
    # kept so that a test can show the checker catches a property newer than the declared version.
    "web/microsoft.web/2023-01-01/types.json": ["Microsoft.Web/sites"],
    "eventgrid/microsoft.eventgrid/2025-02-15/types.json": [
        "Microsoft.EventGrid/systemTopics",
        "Microsoft.EventGrid/systemTopics/eventSubscriptions",
        "Microsoft.EventGrid/topics",
        "Microsoft.EventGrid/topics/eventSubscriptions",
    ],
    "authorization/microsoft.authorization/2022-04-01/types.json": [
        "Microsoft.Authorization/roleAssignments"
    ],
    "operationalinsights/microsoft.operationalinsights/2025-02-01/types.json": [
        "Microsoft.OperationalInsights/workspaces"
    ],
    "applicationinsights/microsoft.insights/2020-02-02/types.json": ["Microsoft.Insights/components"],
    "msi/microsoft.managedidentity/2024-11-30/types.json": [
        "Microsoft.ManagedIdentity/userAssignedIdentities"
    ],
    # Onboarding a management group by policy (infra/bicep/managementGroup.bicep).
    "resources_1/microsoft.authorization/2025-03-01/types.json": [
        "Microsoft.Authorization/policyDefinitions",
        "Microsoft.Authorization/policySetDefinitions",
        "Microsoft.Authorization/policyAssignments",
    ],
    "policyinsights/microsoft.policyinsights/2024-10-01/types.json": [
        "Microsoft.PolicyInsights/remediations"
    ],
}


def _refs(node: Any) -> Iterator[int]:
    """Indexes of every ``{"$ref": "#/N"}`` under ``node``."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/") and len(node) == 1:
            yield int(ref[2:])
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _renumber(node: Any, new_index: dict[int, int]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/") and len(node) == 1:
            return {"$ref": f"#/{new_index[int(ref[2:])]}"}
        return {key: _renumber(value, new_index) for key, value in node.items()}
    if isinstance(node, list):
        return [_renumber(value, new_index) for value in node]
    return node


def trim(types: list[dict[str, Any]], keep: list[str]) -> list[dict[str, Any]]:
    """The ``ResourceType`` entries whose name (before ``@``) is in ``keep`` (case-insensitive) and the
    type objects they reach, in their original order with ``$ref`` indexes rewritten."""
    wanted = {name.lower() for name in keep}
    roots = [
        index
        for index, item in enumerate(types)
        if item.get("$type") == "ResourceType" and item["name"].split("@")[0].lower() in wanted
    ]
    found = {types[index]["name"].split("@")[0].lower() for index in roots}
    missing = wanted - found
    if missing:
        raise SystemExit(f"not in this types.json: {sorted(missing)}")
    reachable: set[int] = set()
    stack = list(roots)
    while stack:
        index = stack.pop()
        if index in reachable:
            continue
        reachable.add(index)
        stack.extend(_refs(types[index]))
    order = sorted(reachable)
    new_index = {old: new for new, old in enumerate(order)}
    return [_renumber(types[old], new_index) for old in order]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo", type=Path, help="checkout of Azure/bicep-types-az")
    args = parser.parse_args()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for relative, keep in MANIFEST.items():
        types = json.loads((args.repo / "generated" / relative).read_text(encoding="utf-8"))
        namespace, version = relative.split("/")[1:3]
        out = OUT_DIR / f"{namespace}@{version}.json"
        out.write_text(json.dumps(trim(types, keep), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
