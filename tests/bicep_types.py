"""Check Bicep resource declarations against the published Bicep resource type definitions.

The Bicep compiler checks every ``type@apiVersion``, property name, property type and enum value
against the type definitions of ``Azure/bicep-types-az``. The compiler cannot run here, so this module
does the same check offline with the trimmed copies in ``tests/data/published/bicep_types/`` (see
``SOURCES.md`` there) and the ``tree-sitter-bicep`` syntax tree, which, unlike pycep, tells a string
literal from an identifier.

What is checked, for each resource declaration (nested ones and ``existing`` ones included):

* the ``type@apiVersion`` has a definition; a nested child (``resource x 'config'``) takes its
  parent's type and version, a ``parent:`` must be a resource of the parent type;
* every property set in the body exists at that path in that API version and is not read-only;
  literal values (strings, numbers, booleans, objects, arrays) must fit the type, string literal
  unions (enums) must contain the literal, integer and string bounds must hold; expressions are of
  unknown type, so only their property name is checked, except that ``cond ? a : b`` checks both
  branches, ``union(a, b, ...)`` checks each argument, and a ``var`` name is followed to its value;
* every property read through a resource symbol (``topic.properties.topicType``) exists.

Each problem is a :class:`Violation` whose ``str`` names the file and line, the resource symbol and
type, the property path and what is wrong.
"""

from __future__ import annotations

import difflib
import functools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tree_sitter_bicep
from tree_sitter import Language, Node, Parser

TYPES_DIR = Path(__file__).resolve().parent / "data" / "published" / "bicep_types"

# Bits of a property's ``flags`` in types.json.
REQUIRED = 1
READ_ONLY = 2
WRITE_ONLY = 4

# Keys of a resource body that are Bicep syntax, not properties of the resource type.
BICEP_ONLY_KEYS = {"parent", "scope", "dependsOn"}

_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", "'": "'", "$": "$"}


@dataclass(frozen=True)
class Violation:
    """One property (or declaration) that the published types reject."""

    file: str
    line: int
    symbol: str
    resource_type: str
    path: str
    message: str

    def __str__(self) -> str:
        where = f" {self.path}:" if self.path else ":"
        return f"{self.file}:{self.line} {self.symbol} ({self.resource_type}){where} {self.message}"


# --------------------------------------------------------------------------------------------------
# The published types
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TypeFile:
    types: list[dict[str, Any]]

    def get(self, ref: dict[str, str]) -> dict[str, Any]:
        return self.types[int(ref["$ref"][2:])]


class TypeIndex:
    """Every ``ResourceType`` of the JSON files in a directory, by lower-cased ``type@apiVersion``."""

    def __init__(self, directory: Path = TYPES_DIR) -> None:
        self.resources: dict[str, tuple[TypeFile, dict[str, Any]]] = {}
        for path in sorted(directory.glob("*.json")):
            file = TypeFile(json.loads(path.read_text(encoding="utf-8")))
            for item in file.types:
                if item.get("$type") == "ResourceType":
                    self.resources[item["name"].lower()] = (file, file.get(item["body"]))

    def lookup(self, type_and_version: str) -> tuple[TypeFile, dict[str, Any]] | None:
        return self.resources.get(type_and_version.lower())

    def versions_of(self, resource_type: str) -> list[str]:
        prefix = resource_type.lower() + "@"
        return sorted(name.split("@")[1] for name in self.resources if name.startswith(prefix))


@functools.cache
def published_types() -> TypeIndex:
    return TypeIndex()


# --------------------------------------------------------------------------------------------------
# Syntax helpers
# --------------------------------------------------------------------------------------------------


@functools.cache
def _parser() -> Parser:
    return Parser(Language(tree_sitter_bicep.language()))


def _text(node: Node) -> str:
    return node.text.decode() if node.text else ""


def string_literal(node: Node) -> str | None:
    """The value of a string node without interpolation, else None."""
    if node.type != "string":
        return None
    parts: list[str] = []
    for child in node.named_children:
        if child.type == "string_content":
            parts.append(_text(child))
        elif child.type == "escape_sequence":
            raw = _text(child)[1:]
            parts.append(_ESCAPES.get(raw, raw))
        else:
            return None
    return "".join(parts)


def _unwrap(node: Node) -> Node:
    while node.type == "parenthesized_expression" and node.named_children:
        node = node.named_children[0]
    return node


def _property_key(prop: Node) -> tuple[str | None, Node]:
    """Key text of an ``object_property`` (None for an interpolated key) and the value node."""
    key, value = prop.named_children[0], prop.named_children[-1]
    if key.type == "identifier":
        return _text(key), value
    return string_literal(key), value


def _resource_body(declaration: Node) -> Node | None:
    """The object of a resource declaration, inside ``[for ...]`` and ``if (...)``."""
    node: Node | None = declaration.named_children[-1]
    while node is not None and node.type in {"for_statement", "if_statement"}:
        node = node.child_by_field_name("body") or node.named_children[-1]
    return node if node is not None and node.type == "object" else None


# --------------------------------------------------------------------------------------------------
# Checking one file
# --------------------------------------------------------------------------------------------------


@dataclass
class _Resource:
    symbol: str
    type: str  # Microsoft.X/y/z
    version: str
    node: Node
    body: Node | None
    parent_symbol: str | None  # the enclosing resource of a nested declaration


class _FileChecker:
    def __init__(self, source: str, name: str, index: TypeIndex) -> None:
        self.name = name
        self.index = index
        self.root = _parser().parse(source.encode()).root_node
        self.variables: dict[str, Node] = {}
        self.resources: dict[str, _Resource] = {}
        self.violations: list[Violation] = []
        for node in self.root.named_children:
            if node.type == "variable_declaration":
                self.variables[_text(node.named_children[0])] = node.named_children[-1]
            elif node.type == "resource_declaration":
                self._collect(node, None)

    def _collect(self, node: Node, enclosing: _Resource | None) -> None:
        symbol = _text(node.named_children[0])
        declared = string_literal(node.named_children[1]) or ""
        type_name, _, version = declared.partition("@")
        if enclosing is not None and "/" not in type_name:
            type_name = f"{enclosing.type}/{type_name}"
            version = version or enclosing.version
        body = _resource_body(node)
        resource = _Resource(symbol, type_name, version, node, body, enclosing.symbol if enclosing else None)
        self.resources[symbol] = resource
        if body is not None:
            for prop in body.named_children:
                nested = prop.named_children[0] if prop.type == "object_property" else None
                if nested is not None and nested.type == "resource_declaration":
                    self._collect(nested, resource)

    # -- reporting ------------------------------------------------------------------------------

    def _report(self, resource: _Resource, node: Node, path: str, message: str) -> None:
        self.violations.append(
            Violation(
                self.name,
                node.start_point[0] + 1,
                resource.symbol,
                f"{resource.type}@{resource.version}",
                path,
                message,
            )
        )

    # -- declarations ---------------------------------------------------------------------------

    def check(self) -> list[Violation]:
        for resource in self.resources.values():
            self._check_resource(resource)
        self._check_accesses(self.root)
        return self.violations

    def _check_resource(self, resource: _Resource) -> None:
        found = self.index.lookup(f"{resource.type}@{resource.version}")
        if found is None:
            have = self.index.versions_of(resource.type)
            known = (
                f"definitions exist for {', '.join(have)}" if have else "no definition of this type at all"
            )
            self._report(
                resource,
                resource.node,
                "",
                f"no published type definition for this type@apiVersion ({known}; "
                "see devtools/trim_bicep_types.py)",
            )
            return
        file, body_type = found
        if resource.body is None:
            return
        parent_node = None
        properties: list[Node] = []
        for prop in resource.body.named_children:
            if prop.type != "object_property" or prop.named_children[0].type == "resource_declaration":
                continue
            key, value = _property_key(prop)
            if key == "parent":
                parent_node = value
            elif key not in BICEP_ONLY_KEYS:
                properties.append(prop)
        self._check_parent(resource, parent_node)
        # An existing resource names what it refers to; nothing else is required there.
        partial = any(child.type == "existing" for child in resource.node.children)
        self._check_object_properties(resource, file, body_type, properties, "", resource.body, partial)

    def _check_parent(self, resource: _Resource, parent_node: Node | None) -> None:
        if parent_node is None:
            return
        parent_symbol = _text(_unwrap(parent_node))
        parent = self.resources.get(parent_symbol)
        expected = resource.type.rsplit("/", 1)[0]
        if parent is None:
            self._report(resource, parent_node, "parent", f"'{parent_symbol}' is not a resource of this file")
        elif parent.type.lower() != expected.lower():
            self._report(
                resource,
                parent_node,
                "parent",
                f"'{parent_symbol}' is a {parent.type}, a {resource.type} needs a {expected}",
            )

    # -- values ---------------------------------------------------------------------------------

    def _check_value(
        self,
        resource: _Resource,
        file: TypeFile,
        type_: dict[str, Any],
        value: Node,
        path: str,
        *,
        partial: bool = False,
        seen: frozenset[str] = frozenset(),
    ) -> None:
        value = _unwrap(value)
        kind = type_["$type"]
        if kind == "AnyType":
            return
        if value.type == "ternary_expression":
            for field in ("consequence", "alternative"):
                branch = value.child_by_field_name(field)
                if branch is not None:
                    self._check_value(resource, file, type_, branch, path, partial=partial, seen=seen)
            return
        if value.type == "call_expression" and _text(value.child_by_field_name("function")) == "union":
            arguments = value.child_by_field_name("arguments")
            for argument in arguments.named_children if arguments else []:
                self._check_value(resource, file, type_, argument, path, partial=True, seen=seen)
            return
        if value.type == "identifier" and _text(value) in self.variables and _text(value) not in seen:
            name = _text(value)
            self._check_value(
                resource, file, type_, self.variables[name], path, partial=partial, seen=seen | {name}
            )
            return
        literal_kind = {
            "string": "string",
            "number": "int",
            "boolean": "bool",
            "object": "object",
            "array": "array",
            "null": "null",
        }.get(value.type)
        if literal_kind is None:
            return  # an expression: its type is not known here
        if literal_kind == "null":
            return
        if kind == "UnionType":
            self._check_union(resource, file, type_, value, literal_kind, path, partial, seen)
            return
        expected = {
            "StringType": "string",
            "StringLiteralType": "string",
            "IntegerType": "int",
            "BooleanType": "bool",
            "ObjectType": "object",
            "DiscriminatedObjectType": "object",
            "ArrayType": "array",
        }.get(kind)
        if expected is None:
            return
        if expected != literal_kind:
            self._report(
                resource, value, path, f"a {literal_kind} where the type is {_describe(file, type_)}"
            )
            return
        if kind == "StringLiteralType":
            literal = string_literal(value)
            if literal is not None and literal != type_["value"]:
                self._report(
                    resource, value, path, f"'{literal}' is not the allowed value '{type_['value']}'"
                )
        elif kind == "StringType":
            literal = string_literal(value)
            if literal is not None:
                self._check_bounds(
                    resource, value, path, len(literal), type_, "minLength", "maxLength", "length"
                )
        elif kind == "IntegerType":
            self._check_bounds(
                resource, value, path, int(_text(value)), type_, "minValue", "maxValue", "value"
            )
        elif kind == "ArrayType":
            items = [item for item in value.named_children if item.type != "comment"]
            self._check_bounds(resource, value, path, len(items), type_, "minLength", "maxLength", "length")
            for position, item in enumerate(items):
                self._check_value(
                    resource, file, file.get(type_["itemType"]), item, f"{path}[{position}]", seen=seen
                )
        elif kind in {"ObjectType", "DiscriminatedObjectType"}:
            properties = [prop for prop in value.named_children if prop.type == "object_property"]
            self._check_object_properties(resource, file, type_, properties, path, value, partial, seen)

    def _check_bounds(
        self,
        resource: _Resource,
        node: Node,
        path: str,
        measured: int,
        type_: dict[str, Any],
        low_key: str,
        high_key: str,
        what: str,
    ) -> None:
        low, high = type_.get(low_key), type_.get(high_key)
        if (low is not None and measured < low) or (high is not None and measured > high):
            self._report(resource, node, path, f"{what} {measured} is outside {low}..{high}")

    def _check_union(
        self,
        resource: _Resource,
        file: TypeFile,
        type_: dict[str, Any],
        value: Node,
        literal_kind: str,
        path: str,
        partial: bool,
        seen: frozenset[str],
    ) -> None:
        members = [file.get(ref) for ref in type_["elements"]]
        if literal_kind == "string" and all(
            m["$type"] in {"StringType", "StringLiteralType"} for m in members
        ):
            literal = string_literal(value)
            if any(m["$type"] == "StringType" for m in members) or literal is None:
                return
            allowed = [m["value"] for m in members]
            if literal not in allowed:
                self._report(
                    resource, value, path, f"'{literal}' is not one of {', '.join(map(repr, allowed))}"
                )
            return
        # Mixed unions: accept the value when any member takes it without a violation.
        best: list[Violation] | None = None
        for member in members:
            before = self.violations
            self.violations = []
            self._check_value(resource, file, member, value, path, partial=partial, seen=seen)
            found, self.violations = self.violations, before
            if not found:
                return
            if best is None or len(found) < len(best):
                best = found
        self.violations.extend(best or [])

    def _check_object_properties(
        self,
        resource: _Resource,
        file: TypeFile,
        type_: dict[str, Any],
        properties: list[Node],
        path: str,
        where: Node,
        partial: bool,
        seen: frozenset[str] = frozenset(),
    ) -> None:
        if type_["$type"] == "DiscriminatedObjectType":
            self._check_discriminator(resource, type_, properties, path)
        defined, additional, type_name = self._object_shape(file, type_, properties)
        set_keys: set[str] = set()
        for prop in properties:
            key, value = _property_key(prop)
            if key is None:  # an interpolated key: only a map (additionalProperties) can take it
                if additional is None:
                    self._report(
                        resource,
                        prop,
                        path or "(body)",
                        f"a computed key, but {type_name} has fixed properties",
                    )
                else:
                    self._check_value(resource, file, file.get(additional), value, f"{path}[*]", seen=seen)
                continue
            child_path = f"{path}.{key}" if path else key
            set_keys.add(key)
            definition = defined.get(key)
            if definition is None:
                casing = {name.lower(): name for name in defined}.get(key.lower())
                if casing is not None:
                    self._report(resource, prop, child_path, f"spelled '{casing}' in {type_name}")
                    continue
                if additional is not None:
                    self._check_value(resource, file, file.get(additional), value, child_path, seen=seen)
                    continue
                close = difflib.get_close_matches(key, list(defined), n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                self._report(
                    resource,
                    prop,
                    child_path,
                    f"not a property of {type_name} in API version {resource.version}{hint}",
                )
                continue
            flags = definition.get("flags", 0)
            if flags & READ_ONLY and not flags & WRITE_ONLY:
                self._report(resource, prop, child_path, f"read-only in {type_name}, it cannot be set")
                continue
            if definition["type"] is not None:
                self._check_value(resource, file, file.get(definition["type"]), value, child_path, seen=seen)
        if partial:
            return
        for name, definition in defined.items():
            flags = definition.get("flags", 0)
            if flags & REQUIRED and not flags & READ_ONLY and name not in set_keys:
                self._report(
                    resource, where, f"{path}.{name}" if path else name, f"required by {type_name}, not set"
                )

    def _check_discriminator(
        self, resource: _Resource, type_: dict[str, Any], properties: list[Node], path: str
    ) -> None:
        discriminator = type_["discriminator"]
        for prop in properties:
            key, value = _property_key(prop)
            literal = string_literal(_unwrap(value)) if key == discriminator else None
            if literal is not None and literal not in type_["elements"]:
                allowed = ", ".join(map(repr, sorted(type_["elements"])))
                child_path = f"{path}.{key}" if path else discriminator
                self._report(resource, value, child_path, f"'{literal}' is not one of {allowed}")

    def _object_shape(
        self, file: TypeFile, type_: dict[str, Any], properties: list[Node]
    ) -> tuple[dict[str, Any], dict[str, str] | None, str]:
        """Properties, additionalProperties ref and name of an object or discriminated object type, the
        discriminated element chosen by the literal value of its discriminator when there is one."""
        if type_["$type"] == "ObjectType":
            return (
                dict(type_.get("properties", {})),
                type_.get("additionalProperties"),
                type_.get("name", "object"),
            )
        discriminator = type_["discriminator"]
        defined = dict(type_.get("baseProperties", {}))
        chosen = None
        for prop in properties:
            key, value = _property_key(prop)
            if key == discriminator:
                chosen = string_literal(_unwrap(value))
        elements = type_["elements"]
        if chosen is not None and chosen in elements:
            element = file.get(elements[chosen])
            defined.update(element.get("properties", {}))
            return defined, element.get("additionalProperties"), element.get("name", type_["name"])
        # Unknown or unlisted discriminator: any element's property name is possible, with a type that
        # depends on the element, so only the name is checked (``"type": None``).
        for ref in elements.values():
            for name in file.get(ref).get("properties", {}):
                defined.setdefault(name, {"type": None, "flags": 0})
        return defined, None, type_.get("name", "object")

    # -- reads through resource symbols ---------------------------------------------------------

    def _check_accesses(self, node: Node) -> None:
        if node.type == "member_expression" and (
            node.parent is None or node.parent.type != "member_expression"
        ):
            self._check_access_chain(node)
        for child in node.children:
            self._check_accesses(child)

    def _check_access_chain(self, node: Node) -> None:
        names: list[str] = []
        current = node
        while current.type == "member_expression":
            prop = current.child_by_field_name("property")
            names.append(_text(prop) if prop is not None else "")
            current = current.child_by_field_name("object") or current.named_children[0]
        if current.type != "identifier" or _text(current) not in self.resources:
            return
        resource = self.resources[_text(current)]
        found = self.index.lookup(f"{resource.type}@{resource.version}")
        if found is None:
            return
        file, type_ = found
        path: list[str] = []
        for name in reversed(names):
            path.append(name)
            defined, additional, type_name = (
                self._object_shape(file, type_, [])
                if type_.get("$type")
                in {
                    "ObjectType",
                    "DiscriminatedObjectType",
                }
                else ({}, None, "")
            )
            if not type_name:
                return
            definition = defined.get(name)
            if definition is None:
                if additional is None:
                    self._report(resource, node, ".".join(path), f"read, but not a property of {type_name}")
                return
            if definition["type"] is None:
                return
            type_ = file.get(definition["type"])


def _describe(file: TypeFile, type_: dict[str, Any]) -> str:
    kind = type_["$type"]
    if kind == "StringLiteralType":
        return f"'{type_['value']}'"
    if kind == "ObjectType":
        return f"object {type_.get('name', '')}".strip()
    return {
        "StringType": "string",
        "IntegerType": "int",
        "BooleanType": "bool",
        "ArrayType": "array",
        "DiscriminatedObjectType": "object",
    }.get(kind, kind)


def check_source(source: str, name: str, index: TypeIndex | None = None) -> list[Violation]:
    """Violations of one Bicep file's text (``name`` labels the messages)."""
    return _FileChecker(source, name, index or published_types()).check()


def check_files(paths: list[Path], root: Path) -> list[Violation]:
    return [
        violation
        for path in paths
        for violation in check_source(path.read_text(encoding="utf-8"), path.relative_to(root).as_posix())
    ]


def declared_types(source: str) -> Iterator[str]:
    """``type@apiVersion`` of every resource declared in ``source`` (nested children resolved)."""
    checker = _FileChecker(source, "", published_types())
    for resource in checker.resources.values():
        yield f"{resource.type}@{resource.version}"
