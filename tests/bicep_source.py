"""The Bicep files of ``infra/bicep``, parsed for the offline checks (``test_bicep_*.py``): syntax by
``tree-sitter-bicep``, structure by ``pycep-parser``, and helpers that read that structure.

pycep renders identifiers and string literals alike as plain strings (``'vmledger'`` and ``vmledger``
both become ``"vmledger"``), keeps quoted object keys with their quotes, drops ``!`` (non-null
assertions) and gives a param without a default ``"default": None``; the helpers below allow for that.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import tree_sitter_bicep
from pycep import BicepParser
from tree_sitter import Language, Node, Parser

ROOT = Path(__file__).resolve().parents[1]
BICEP_DIR = ROOT / "infra" / "bicep"
MAIN = BICEP_DIR / "main.bicep"
PARAMS = BICEP_DIR / "main.bicepparam"
MODULES = BICEP_DIR / "modules"

BICEP_FILES = sorted(BICEP_DIR.rglob("*.bicep"))


@functools.cache
def tree_sitter_parser() -> Parser:
    return Parser(Language(tree_sitter_bicep.language()))


def syntax_errors(source: bytes) -> list[str]:
    """ERROR and MISSING nodes of the tree-sitter tree, as ``line:column kind text`` strings."""
    problems: list[str] = []

    def visit(node: Node) -> None:
        if node.type == "ERROR" or node.is_missing:
            line, column = node.start_point
            kind = "missing" if node.is_missing else "error"
            text = node.text.decode(errors="replace")[:60] if node.text else ""
            problems.append(f"{line + 1}:{column + 1} {kind} {node.type} {text!r}")
        for child in node.children:
            visit(child)

    visit(tree_sitter_parser().parse(source).root_node)
    return problems


@functools.cache
def parsed(path: Path) -> dict[str, Any]:
    return BicepParser().parse(text=path.read_text())


def parsed_module(main_module: dict[str, Any]) -> dict[str, Any]:
    return parsed((BICEP_DIR / main_module["detail"]["path"]).resolve())


def body_of(element: dict[str, Any]) -> dict[str, Any]:
    """The object of a resource or module, unwrapped from ``if (...)`` and ``[for ...]``."""
    body = element["config"]
    while isinstance(body, dict) and ("condition" in body or "loop_type" in body) and "config" in body:
        body = body["config"]
    return body


def condition_of(element: dict[str, Any]) -> Any:
    return element["config"].get("condition")


def resources_of(doc: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        name: resource
        for name, resource in doc.get("resources", {}).items()
        if resource["type"].lower() == resource_type.lower()
    }


def only_resource(
    doc: dict[str, Any], resource_type: str, *, existing: bool = False
) -> tuple[str, dict[str, Any]]:
    matches = {n: r for n, r in resources_of(doc, resource_type).items() if r["existing"] is existing}
    assert len(matches) == 1, f"expected one {resource_type} (existing={existing}), found {sorted(matches)}"
    return next(iter(matches.items()))


def walk(node: Any) -> Iterator[Any]:
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def strings_in(node: Any) -> set[str]:
    return {item for item in walk(node) if isinstance(item, str)}


def functions_in(node: Any) -> set[str]:
    return {item["function"]["type"] for item in walk(node) if isinstance(item, dict) and "function" in item}


def resolved_value(doc: dict[str, Any], value: Any) -> Any:
    """Follow a variable name to its value (pycep cannot tell a name from a literal, so only names of
    variables declared in the file are followed)."""
    seen: set[str] = set()
    while isinstance(value, str) and value in doc.get("variables", {}) and value not in seen:
        seen.add(value)
        value = doc["variables"][value]["value"]
    return value


def expanded(doc: dict[str, Any], node: Any, seen: frozenset[str] = frozenset()) -> Any:
    """``node`` with every variable name in it replaced by the variable's (expanded) value."""
    if isinstance(node, str) and node in doc.get("variables", {}) and node not in seen:
        return expanded(doc, doc["variables"][node]["value"], seen | {node})
    if isinstance(node, dict):
        return {key: expanded(doc, value, seen) for key, value in node.items()}
    if isinstance(node, list):
        return [expanded(doc, value, seen) for value in node]
    return node


def object_keys(node: Any) -> set[str]:
    """Every key of every object literal under ``node`` (both branches of a ternary, every union arg)."""
    keys: set[str] = set()
    for item in walk(node):
        if isinstance(item, dict):
            keys.update(key.strip("'") for key in item if isinstance(key, str))
    return keys


def description_of(element: dict[str, Any]) -> str | None:
    for decorator in element.get("decorators", []):
        if decorator["type"] == "description":
            return decorator["argument"]
    return None


def decorator_of(element: dict[str, Any], kind: str) -> Any:
    for decorator in element.get("decorators", []):
        if decorator["type"] == kind:
            return decorator["argument"]
    return None


def is_accessor(node: Any, *path: str) -> bool:
    """True when ``node`` is the pycep form of ``path[0].path[1]...`` (e.g. ``storage.outputs.name``)."""
    if len(path) == 1:
        return node == path[0]
    if not (isinstance(node, dict) and node.get("operator", {}).get("type") == "property_accessor"):
        return False
    operands = node["operator"]["operands"]
    return operands["operand_1"] == path[0] and is_accessor(operands["operand_2"], *path[1:])


def accessor_chain(node: Any) -> list[str]:
    """``a.b.c`` as ``["a", "b", "c"]``; empty when ``node`` is not a plain property access chain."""
    if isinstance(node, str):
        return [node]
    if not (isinstance(node, dict) and node.get("operator", {}).get("type") == "property_accessor"):
        return []
    operands = node["operator"]["operands"]
    head, tail = accessor_chain(operands["operand_1"]), accessor_chain(operands["operand_2"])
    return head + tail if head and tail else []


def references_in(source: bytes) -> set[str]:
    """Identifiers used as values: not object keys, not the names being declared."""
    used: set[str] = set()
    declarations = {
        "parameter_declaration",
        "variable_declaration",
        "resource_declaration",
        "module_declaration",
        "output_declaration",
    }

    def visit(node: Node) -> None:
        if node.type == "identifier":
            parent = node.parent
            is_key = parent is not None and parent.type == "object_property" and parent.children[0] == node
            is_declared = (
                parent is not None and parent.type in declarations and parent.named_children[0] == node
            )
            if not (is_key or is_declared) and node.text:
                used.add(node.text.decode())
        for child in node.children:
            visit(child)

    visit(tree_sitter_parser().parse(source).root_node)
    return used


def watched_module() -> tuple[dict[str, Any], dict[str, Any]]:
    """main.bicep's loop over the watched subscriptions, and the module it deploys in each."""
    module = parsed(MAIN)["modules"]["watched"]
    return module, parsed_module(module)
