"""Offline checks of the Bicep deployment in ``infra/bicep``.

The Bicep CLI cannot be installed on the project's machines, so these tests do what can be done
without it: every ``.bicep`` file must parse without syntax errors (``tree-sitter-bicep``), and the
structure read by ``pycep-parser`` must hold what a working deployment needs: descriptions on every
param and output, the subscription system topic, the event subscription to ``on_vm_event``, the role
assignments and their scopes, keyless storage, and an app setting for every setting the code reads.
When a ``bicep`` binary is on PATH, ``bicep build`` and ``bicep lint`` run as well.

pycep renders identifiers and string literals alike as plain strings (``'vmledger'`` and ``vmledger``
both become ``"vmledger"``), keeps quoted object keys with their quotes, drops ``!`` (non-null
assertions) and gives a param without a default ``"default": None``; the helpers below allow for that.
"""

from __future__ import annotations

import ast
import functools
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tree_sitter_bicep
from pycep import BicepParser
from tree_sitter import Language, Node, Parser

ROOT = Path(__file__).resolve().parents[1]
BICEP_DIR = ROOT / "infra" / "bicep"
MAIN = BICEP_DIR / "main.bicep"
PARAMS = BICEP_DIR / "main.bicepparam"
MODULES = BICEP_DIR / "modules"
SHARED = ROOT / "shared"
FUNCTION_APP = ROOT / "function_app.py"

BICEP_FILES = sorted(BICEP_DIR.rglob("*.bicep"))

# Built-in role definition ids (the same in every tenant).
STORAGE_TABLE_DATA_CONTRIBUTOR = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3"
STORAGE_BLOB_DATA_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
STORAGE_BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
STORAGE_QUEUE_DATA_CONTRIBUTOR = "974c5e8b-45b9-4653-ba55-5f855dd0fb88"
MONITORING_METRICS_PUBLISHER = "3913510d-42f4-4e42-8a64-420c390055eb"
READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"

EVENT_FUNCTION_NAME = "on_vm_event"
RESOURCE_EVENT_TYPES = {
    f"Microsoft.Resources.Resource{operation}{outcome}"
    for operation in ("Write", "Action", "Delete")
    for outcome in ("Success", "Failure", "Cancel")
}

# Settings the code reads that must NOT be app settings in Azure, with the reason.
DEV_ONLY_SETTINGS = {
    # The Azurite/dev alternative to VM_LEDGER_STORAGE__tableServiceUri. The code requires exactly one
    # of the two, so setting the connection string in Azure (next to the URI) would fail every call.
    "VM_LEDGER_STORAGE": "connection string for Azurite; Azure uses VM_LEDGER_STORAGE__tableServiceUri",
}

_SETTING_NAME = re.compile(r"^[A-Z][A-Za-z0-9_]*$")
_CONSTANT_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
_BINDING_EXPRESSION = re.compile(r"%([A-Za-z][A-Za-z0-9_]*)%")
_LOWER_CAMEL = re.compile(r"^[a-z][a-zA-Z0-9]*$")


# --------------------------------------------------------------------------------------------------
# Parsing helpers
# --------------------------------------------------------------------------------------------------


@functools.cache
def _ts_parser() -> Parser:
    return Parser(Language(tree_sitter_bicep.language()))


def _syntax_errors(source: bytes) -> list[str]:
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

    visit(_ts_parser().parse(source).root_node)
    return problems


@functools.cache
def _doc(path: Path) -> dict[str, Any]:
    return BicepParser().parse(text=path.read_text())


def _module_doc(main_module: dict[str, Any]) -> dict[str, Any]:
    return _doc((BICEP_DIR / main_module["detail"]["path"]).resolve())


def _body(element: dict[str, Any]) -> dict[str, Any]:
    """The object of a resource or module, unwrapped from ``if (...)`` and ``[for ...]``."""
    body = element["config"]
    while isinstance(body, dict) and ("condition" in body or "loop_type" in body) and "config" in body:
        body = body["config"]
    return body


def _condition(element: dict[str, Any]) -> Any:
    return element["config"].get("condition")


def _resources(doc: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        name: resource
        for name, resource in doc.get("resources", {}).items()
        if resource["type"].lower() == resource_type.lower()
    }


def _only(doc: dict[str, Any], resource_type: str, *, existing: bool = False) -> tuple[str, dict[str, Any]]:
    matches = {n: r for n, r in _resources(doc, resource_type).items() if r["existing"] is existing}
    assert len(matches) == 1, f"expected one {resource_type} (existing={existing}), found {sorted(matches)}"
    return next(iter(matches.items()))


def _walk(node: Any) -> Iterator[Any]:
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _strings(node: Any) -> set[str]:
    return {item for item in _walk(node) if isinstance(item, str)}


def _functions(node: Any) -> set[str]:
    return {item["function"]["type"] for item in _walk(node) if isinstance(item, dict) and "function" in item}


def _resolve(doc: dict[str, Any], value: Any) -> Any:
    """Follow a variable name to its value (pycep cannot tell a name from a literal, so only names of
    variables declared in the file are followed)."""
    seen: set[str] = set()
    while isinstance(value, str) and value in doc.get("variables", {}) and value not in seen:
        seen.add(value)
        value = doc["variables"][value]["value"]
    return value


def _expand(doc: dict[str, Any], node: Any, seen: frozenset[str] = frozenset()) -> Any:
    """``node`` with every variable name in it replaced by the variable's (expanded) value."""
    if isinstance(node, str) and node in doc.get("variables", {}) and node not in seen:
        return _expand(doc, doc["variables"][node]["value"], seen | {node})
    if isinstance(node, dict):
        return {key: _expand(doc, value, seen) for key, value in node.items()}
    if isinstance(node, list):
        return [_expand(doc, value, seen) for value in node]
    return node


def _object_keys(node: Any) -> set[str]:
    """Every key of every object literal under ``node`` (both branches of a ternary, every union arg)."""
    keys: set[str] = set()
    for item in _walk(node):
        if isinstance(item, dict):
            keys.update(key.strip("'") for key in item if isinstance(key, str))
    return keys


def _description(element: dict[str, Any]) -> str | None:
    for decorator in element.get("decorators", []):
        if decorator["type"] == "description":
            return decorator["argument"]
    return None


def _decorator(element: dict[str, Any], kind: str) -> Any:
    for decorator in element.get("decorators", []):
        if decorator["type"] == kind:
            return decorator["argument"]
    return None


def _is_accessor(node: Any, *path: str) -> bool:
    """True when ``node`` is the pycep form of ``path[0].path[1]...`` (e.g. ``storage.outputs.name``)."""
    if len(path) == 1:
        return node == path[0]
    if not (isinstance(node, dict) and node.get("operator", {}).get("type") == "property_accessor"):
        return False
    operands = node["operator"]["operands"]
    return operands["operand_1"] == path[0] and _is_accessor(operands["operand_2"], *path[1:])


def _accessor_chain(node: Any) -> list[str]:
    """``a.b.c`` as ``["a", "b", "c"]``; empty when ``node`` is not a plain property access chain."""
    if isinstance(node, str):
        return [node]
    if not (isinstance(node, dict) and node.get("operator", {}).get("type") == "property_accessor"):
        return []
    operands = node["operator"]["operands"]
    head, tail = _accessor_chain(operands["operand_1"]), _accessor_chain(operands["operand_2"])
    return head + tail if head and tail else []


def _references(source: bytes) -> set[str]:
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

    visit(_ts_parser().parse(source).root_node)
    return used


# --------------------------------------------------------------------------------------------------
# Settings the code reads
# --------------------------------------------------------------------------------------------------


def _settings_declared_in(source: str) -> set[str]:
    """Setting names declared as constants in a settings module.

    Rule: a module-level assignment ``NAME = "literal"`` where NAME is an UPPER_CASE constant that is
    not ``DEFAULT_*`` (defaults are values, not names) and the literal itself looks like an
    environment variable name (starts with an upper-case letter, then letters, digits and ``_``; this
    keeps ``VM_LEDGER_STORAGE__tableServiceUri`` and drops values such as ``vmledger`` or URLs).
    """
    names: set[str] = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if not (isinstance(target, ast.Name) and _CONSTANT_NAME.match(target.id)):
            continue
        if target.id.startswith("DEFAULT_"):
            continue
        if (
            isinstance(value, ast.Constant)
            and isinstance(value.value, str)
            and _SETTING_NAME.match(value.value)
        ):
            names.add(value.value)
    return names


def _settings_read_directly_in(source: str) -> set[str]:
    """Literal names read straight from the environment: ``os.environ.get("X")``, ``os.getenv("X")``,
    ``os.environ["X"]`` anywhere in a module (a setting read without going through settings.py)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        literal: ast.expr | None = None
        if isinstance(node, ast.Call) and node.args:
            called = ast.unparse(node.func)
            if called in {"os.environ.get", "os.getenv", "environ.get", "getenv"}:
                literal = node.args[0]
        elif isinstance(node, ast.Subscript) and ast.unparse(node.value) in {"os.environ", "environ"}:
            literal = node.slice
        if isinstance(literal, ast.Constant) and isinstance(literal.value, str):
            names.add(literal.value)
    return names


def _settings_in_binding_expressions(source: str) -> set[str]:
    """``%NAME%`` binding expressions in string literals: settings that the Functions host resolves."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            names.update(_BINDING_EXPRESSION.findall(node.value))
    return names


@functools.cache
def _settings_read_by_code() -> frozenset[str]:
    names = _settings_declared_in((SHARED / "settings.py").read_text())
    for module in sorted(SHARED.rglob("*.py")):
        names |= _settings_read_directly_in(module.read_text())
    if FUNCTION_APP.exists():
        source = FUNCTION_APP.read_text()
        names |= _settings_read_directly_in(source) | _settings_in_binding_expressions(source)
    return frozenset(names)


def _code_constant(module: str, name: str) -> Any:
    """The literal value of a module-level constant of ``shared/<module>.py`` (e.g. a DEFAULT_*), read
    with ``ast`` so that this test does not depend on importing the app's packages."""
    for node in ast.parse((SHARED / f"{module}.py").read_text()).body:
        target = node.target if isinstance(node, ast.AnnAssign) else None
        targets = node.targets if isinstance(node, ast.Assign) else [target] if target else []
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            assert node.value is not None
            return ast.literal_eval(node.value)
    raise AssertionError(f"{name} is not a constant of shared/{module}.py")


def _app_settings() -> tuple[dict[str, Any], set[str]]:
    doc = _doc(MODULES / "functionApp.bicep")
    _, config = _only(doc, "Microsoft.Web/sites/config")
    body = _body(config)
    assert body["name"] == "appsettings"
    return body["properties"], _object_keys(body["properties"])


def _missing_settings(read_by_code: set[str] | frozenset[str], app_setting_names: set[str]) -> set[str]:
    return set(read_by_code) - app_setting_names - set(DEV_ONLY_SETTINGS)


# --------------------------------------------------------------------------------------------------
# Syntax
# --------------------------------------------------------------------------------------------------


def test_there_are_bicep_files_to_check() -> None:
    names = {path.relative_to(BICEP_DIR).as_posix() for path in BICEP_FILES}
    assert {"main.bicep", "modules/functionApp.bicep", "modules/eventSubscription.bicep"} <= names
    assert PARAMS.exists()


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: p.relative_to(BICEP_DIR).as_posix())
def test_bicep_file_has_no_syntax_errors(path: Path) -> None:
    assert _syntax_errors(path.read_bytes()) == []
    # pycep has its own grammar; every file must also be readable by it for the checks below.
    assert isinstance(_doc(path), dict)


def test_syntax_check_reports_a_broken_file() -> None:
    broken = b"param location string = 'westeurope\nresource x 'Microsoft.Web/sites@2024-11-01' = {\n"
    assert _syntax_errors(broken) != []


def test_bicepparam_sets_only_declared_params_with_valid_expressions() -> None:
    """tree-sitter-bicep has no .bicepparam grammar: each ``param NAME = value`` is checked as a
    ``var`` declaration of the same expression, which the Bicep grammar does cover."""
    text = PARAMS.read_text()
    using = re.search(r"^using\s+'([^']+)'", text, re.MULTILINE)
    assert using is not None and (BICEP_DIR / using.group(1)).resolve() == MAIN.resolve()
    as_bicep = re.sub(r"^param\s+(\w+)\s*=", r"var \1 =", text, flags=re.MULTILINE)
    assert _syntax_errors(as_bicep.encode()) == []
    assigned = set(re.findall(r"^param\s+(\w+)\s*=", text, re.MULTILINE))
    declared = _doc(MAIN)["parameters"]
    assert assigned, "main.bicepparam sets no parameter"
    assert assigned <= set(declared), f"not params of main.bicep: {sorted(assigned - set(declared))}"
    required = {name for name, param in declared.items() if param.get("default") is None}
    assert required <= assigned, f"required params not set: {sorted(required - assigned)}"


def test_bicepparam_keeps_the_event_subscription_off_unless_asked() -> None:
    text = PARAMS.read_text()
    line = re.search(r"^param\s+deployEventSubscription\s*=\s*(.+)$", text, re.MULTILINE)
    assert line is not None
    value = line.group(1).strip()
    assert value == "false" or re.fullmatch(
        r"bool\(readEnvironmentVariable\('DEPLOY_EVENT_SUBSCRIPTION',\s*'false'\)\)", value
    ), value
    assert _doc(MAIN)["parameters"]["deployEventSubscription"]["default"] is False


# --------------------------------------------------------------------------------------------------
# Conventions
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: p.relative_to(BICEP_DIR).as_posix())
def test_every_param_and_output_has_a_description(path: Path) -> None:
    doc = _doc(path)
    undocumented = [
        f"{kind} {name}"
        for kind in ("parameters", "outputs")
        for name, element in doc.get(kind, {}).items()
        if not (_description(element) or "").strip()
    ]
    assert undocumented == []


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: p.relative_to(BICEP_DIR).as_posix())
def test_symbols_are_lower_camel_case_and_params_and_vars_are_used(path: Path) -> None:
    doc = _doc(path)
    symbols = [
        name
        for kind in ("parameters", "variables", "resources", "modules", "outputs")
        for name in doc.get(kind, {})
    ]
    # Nested resources appear as parent__child in pycep; each part is a symbol of its own.
    bad = [part for name in symbols for part in name.split("__") if not _LOWER_CAMEL.match(part)]
    assert bad == []
    used = _references(path.read_bytes())
    unused = [name for kind in ("parameters", "variables") for name in doc.get(kind, {}) if name not in used]
    assert unused == []


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: p.relative_to(BICEP_DIR).as_posix())
def test_api_versions_are_stable_and_cloud_urls_are_not_hardcoded(path: Path) -> None:
    doc = _doc(path)
    preview = [name for name, res in doc.get("resources", {}).items() if "preview" in res["api_version"]]
    assert preview == []
    text = path.read_text().lower()
    for host in ("core.windows.net", "management.azure.com", "azurewebsites.net", "login.microsoftonline"):
        assert host not in text


def test_bicepconfig_turns_the_linter_on() -> None:
    config = json.loads((BICEP_DIR / "bicepconfig.json").read_text())
    core = config["analyzers"]["core"]
    assert core["enabled"] is True
    rules = core["rules"]
    for rule in ("no-hardcoded-env-urls", "outputs-should-not-contain-secrets", "no-unused-params"):
        assert rules[rule]["level"] == "error"


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: p.relative_to(BICEP_DIR).as_posix())
def test_outputs_hold_no_secrets(path: Path) -> None:
    for name, output in _doc(path).get("outputs", {}).items():
        assert _decorator(output, "secure") is None, name
        assert not re.search(r"key|secret|password|connectionstring|token", name, re.IGNORECASE), name
        functions = {f.lower() for f in _functions(output["value"])}
        assert not {f for f in functions if f.startswith("list")}, name
        assert not [s for s in _strings(output["value"]) if "connectionstring" in s.lower()], name


# --------------------------------------------------------------------------------------------------
# main.bicep wiring
# --------------------------------------------------------------------------------------------------


def test_main_deploys_at_subscription_scope_into_a_created_or_existing_resource_group() -> None:
    doc = _doc(MAIN)
    assert doc["globals"]["scope"]["value"] == "subscription"
    name, group = _only(doc, "Microsoft.Resources/resourceGroups")
    assert _condition(group) == "createResourceGroup"
    assert _body(group)["name"] == "resourceGroupName"
    for module_name in ("monitoring", "storage", "functionApp", "roleAssignments"):
        scope = _body(doc["modules"][module_name])["scope"]["function"]
        assert scope["type"] == "resource_group"
        assert scope["parameters"]["resource_group_name"] == "resourceGroupName"
    for module_name in ("monitoring", "storage"):
        assert name in _body(doc["modules"][module_name])["dependsOn"]


def test_main_outputs_what_a_deployer_needs() -> None:
    outputs = _doc(MAIN)["outputs"]
    for name in (
        "functionAppName",
        "functionAppHostName",
        "storageAccountName",
        "tableEndpoint",
        "watchedSubscriptionIds",
        "systemTopicNames",
    ):
        assert name in outputs
    assert _is_accessor(outputs["functionAppHostName"]["value"], "functionApp", "outputs", "defaultHostName")
    assert _is_accessor(outputs["tableEndpoint"]["value"], "storage", "outputs", "tableEndpoint")


def test_modules_exist_and_their_params_and_outputs_match() -> None:
    """What ``bicep build`` would catch first: a module param that does not exist, a required one that
    is not passed, or an output read that the module does not declare."""
    doc = _doc(MAIN)
    for name, module in doc["modules"].items():
        path = (BICEP_DIR / module["detail"]["path"]).resolve()
        assert path.exists(), name
        declared = _module_doc(module)["parameters"]
        passed = set(_body(module).get("params", {}))
        assert passed <= set(declared), f"{name}: unknown params {sorted(passed - set(declared))}"
        required = {param for param, spec in declared.items() if spec.get("default") is None}
        assert required <= passed, f"{name}: required params not passed {sorted(required - passed)}"
    reads = 0
    for node in _walk(doc):
        chain = _accessor_chain(node)
        if len(chain) >= 3 and chain[0] in doc["modules"] and chain[1] == "outputs":
            reads += 1
            assert chain[2] in _module_doc(doc["modules"][chain[0]])["outputs"], ".".join(chain)
    assert reads > 0


def _watched() -> tuple[dict[str, Any], dict[str, Any]]:
    """main.bicep's loop over the watched subscriptions, and the module it deploys in each."""
    module = _doc(MAIN)["modules"]["watched"]
    return module, _module_doc(module)


def test_reader_is_granted_on_every_watched_subscription() -> None:
    doc = _doc(MAIN)
    watched, module = _watched()
    loop = watched["config"]["loop_type"]["detail"]
    assert loop["array_name"] == "subscriptionIds"
    body = _body(watched)
    assert body["scope"]["function"]["type"] == "subscription"
    assert body["scope"]["function"]["parameters"]["subscription_id"] == loop["item_name"]
    assert _is_accessor(body["params"]["appPrincipalId"], "functionApp", "outputs", "principalId")
    reader = module["modules"]["reader"]
    assert reader["detail"]["path"] == "subscriptionReader.bicep" and _condition(reader) is None
    assert "scope" not in _body(reader)  # the watched subscription itself
    assert _body(reader)["params"]["principalId"] == "appPrincipalId"
    default = doc["parameters"]["subscriptionIds"]["default"]
    assert len(default) == 1
    assert _functions(default) == {"subscription"} and "subscriptionId" in _strings(default)
    roles = _body(doc["modules"]["roleAssignments"])["params"]
    assert _is_accessor(roles["appPrincipalId"], "functionApp", "outputs", "principalId")
    dead_letter = _body(module["modules"]["deadLetter"])["params"]
    assert _is_accessor(dead_letter["resourceTopicPrincipalId"], "resourceTopic", "outputs", "principalId")


def test_event_subscriptions_are_the_gated_second_phase() -> None:
    doc = _doc(MAIN)
    watched, module = _watched()
    assert _body(watched)["params"]["deployEventSubscription"] == "deployEventSubscription"
    resource_events, health_events = module["modules"]["resourceEvents"], module["modules"]["healthEvents"]
    assert _condition(resource_events) == "deployEventSubscription"
    assert _strings(_condition(health_events)) >= {"deployEventSubscription", "deployHealthEvents"}
    for subscription in (resource_events, health_events):
        body = _body(subscription)
        # Dead-lettering needs the topic's role on the container before the first undeliverable event.
        assert "deadLetter" in body["dependsOn"]
        params = body["params"]
        assert params["deadLetterContainerName"] == "deadLetterContainerName"
        assert params["functionAppName"] == "functionAppName"
        assert params["functionAppSubscriptionId"] == "ledgerSubscriptionId"
    assert _is_accessor(
        _body(resource_events)["params"]["systemTopicName"], "resourceTopic", "outputs", "name"
    )
    main_params = _body(watched)["params"]
    assert _is_accessor(
        main_params["deadLetterContainerName"], "storage", "outputs", "deadLetterContainerName"
    )
    assert _is_accessor(main_params["deadLetterStorageAccountId"], "storage", "outputs", "id")
    assert _is_accessor(main_params["functionAppName"], "functionApp", "outputs", "name")
    for param, low, high in (("maxDeliveryAttempts", 1, 30), ("eventTimeToLiveInMinutes", 1, 1440)):
        assert main_params[param] == param
        spec = doc["parameters"][param]
        assert (_decorator(spec, "min_value"), _decorator(spec, "max_value")) == (low, high)
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
    doc = _doc(MAIN)
    assert doc["parameters"][main_param]["default"] == {}
    _, module = _watched()  # main looks each up by subscription: test_bicep_subscriptions.py
    assert module["parameters"][module_param]["default"] == {}
    assert module_param in _strings(module["variables"][reuse]["value"])
    assert "empty" in _functions(module["variables"][reuse]["value"])
    assert {reuse, module_param, "name"} <= _strings(module["variables"][final_name]["value"])
    assert {reuse, module_param, "resourceGroup"} <= _strings(module["variables"][group]["value"])
    topic = _body(module["modules"][topic_module])
    assert (topic["params"]["reuseExisting"], topic["params"]["systemTopicName"]) == (reuse, final_name)
    # The topic and its event subscription are looked for where the reused topic is.
    for body in (topic, _body(module["modules"][delivery])):
        assert body["scope"]["function"]["parameters"]["resource_group_name"] == group
    for spec in (doc["parameters"][main_param], module["parameters"][module_param]):
        assert "reuse" in _decorator(spec, "description").lower()


def test_the_topic_module_creates_a_topic_or_reads_the_one_it_reuses() -> None:
    topic = _doc(MODULES / "systemTopic.bicep")
    _, existing = _only(topic, "Microsoft.EventGrid/systemTopics", existing=True)
    _, created = _only(topic, "Microsoft.EventGrid/systemTopics")
    assert _condition(existing) == "reuseExisting"
    assert _condition(created) == {"operator": {"type": "not", "operands": {"bool_value": "reuseExisting"}}}


# --------------------------------------------------------------------------------------------------
# Resources
# --------------------------------------------------------------------------------------------------


def test_storage_account_is_keyless_and_private() -> None:
    doc = _doc(MODULES / "storage.bicep")
    _, account = _only(doc, "Microsoft.Storage/storageAccounts")
    properties = _body(account)["properties"]
    assert properties["allowSharedKeyAccess"] is False
    assert properties["allowBlobPublicAccess"] is False
    assert properties["minimumTlsVersion"] == "TLS1_2"
    assert properties["supportsHttpsTrafficOnly"] is True
    containers = {
        _body(container)["name"]: _body(container)["properties"]["publicAccess"]
        for container in _resources(doc, "Microsoft.Storage/storageAccounts/blobServices/containers").values()
    }
    assert containers == {"deploymentContainerName": "None", "deadLetterContainerName": "None"}
    _, table = _only(doc, "Microsoft.Storage/storageAccounts/tableServices/tables")
    assert _body(table)["name"] == "ledgerTableName"
    assert "${environment().suffixes.storage}" in doc["outputs"]["tableEndpoint"]["value"]


def test_function_app_runs_python_on_flex_consumption_with_a_managed_identity() -> None:
    doc = _doc(MODULES / "functionApp.bicep")
    _, plan = _only(doc, "Microsoft.Web/serverfarms")
    assert _body(plan)["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    _, site = _only(doc, "Microsoft.Web/sites")
    body = _body(site)
    assert "functionapp" in body["kind"]
    config = body["properties"]["functionAppConfig"]
    assert config["runtime"] == {"name": "python", "version": "pythonVersion"}
    versions = _decorator(doc["parameters"]["pythonVersion"], "allowed")
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
    assert set(_decorator(doc["parameters"]["identityType"], "allowed")) == {"SystemAssigned", "UserAssigned"}


def test_app_settings_cover_every_setting_the_code_reads() -> None:
    """Fails when the code starts reading a setting that the deployment does not set (the names come
    from the code, see ``_settings_declared_in``). Keys of both identity branches count: the client id
    settings exist only for a user-assigned identity, where they are required."""
    _, names = _app_settings()
    assert _missing_settings(_settings_read_by_code(), names) == set()
    for dev_only, reason in DEV_ONLY_SETTINGS.items():
        assert dev_only not in names, f"{dev_only} must stay unset in Azure: {reason}"


def test_settings_rule_finds_the_code_settings_and_a_new_one() -> None:
    found = _settings_read_by_code()
    assert {"VM_LEDGER_STORAGE__tableServiceUri", "VM_LEDGER_TABLE", "RECONCILE_SCHEDULE"} <= found
    assert not {"vmledger", "https://management.azure.com", "2024-07-01"} & found
    module = 'NEW = "VM_LEDGER_NEW"\nDEFAULT_NEW = "VM_LEDGER_OLD"\n_PRIVATE = "X"\nlower = "Y"\n'
    assert _settings_declared_in(module) == {"VM_LEDGER_NEW"}
    assert _settings_read_directly_in(
        'import os\nos.environ.get("A")\nos.getenv("B")\nos.environ["C"]\n'
    ) == {
        "A",
        "B",
        "C",
    }
    _, names = _app_settings()
    assert _missing_settings(found | {"VM_LEDGER_NEW"}, names) == {"VM_LEDGER_NEW"}


def test_app_settings_use_identities_and_the_code_defaults() -> None:
    properties, names = _app_settings()
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
    doc = _doc(MODULES / "functionApp.bicep")
    # Telemetry with an Entra token of the app's identity, whichever identity type is chosen.
    auth = _resolve(doc, base["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"])["operator"]["operands"]
    assert auth["condition"] == "useUserAssigned"
    assert auth["true_value"] == "ClientId=${identityClientId};Authorization=AAD"
    assert auth["false_value"] == "Authorization=AAD"
    assert base["VM_LEDGER_STORAGE__tableServiceUri"] == "tableEndpoint"
    arm = _expand(doc, base["ARM_ENDPOINT"])
    assert "environment" in _functions(arm) and "resourceManager" in _strings(arm)
    main = _doc(MAIN)["parameters"]
    assert main["reconcileSchedule"]["default"] == "0 */15 * * * *"
    assert main["computeApiVersion"]["default"] == _code_constant("settings", "DEFAULT_COMPUTE_API_VERSION")
    assert main["ledgerTableName"]["default"] == _code_constant("settings", "DEFAULT_TABLE_NAME")
    billed = _code_constant("domain/vm_state", "DEFAULT_BILLED_POWER_STATES")
    assert main["billedPowerStates"]["default"] == ",".join(billed)
    # Cost settings: the code's defaults, and the period reads back as the code's default.
    assert main["pricesCurrency"]["default"] == _code_constant("settings", "DEFAULT_PRICES_CURRENCY")
    assert main["retailPricesEndpoint"]["default"] == _code_constant(
        "settings", "DEFAULT_RETAIL_PRICES_ENDPOINT"
    )
    from shared.settings import DEFAULT_INVENTORY_REFRESH, read_settings

    period = {
        "VM_LEDGER_STORAGE": "UseDevelopmentStorage=true",
        "INVENTORY_REFRESH": main["inventoryRefresh"]["default"],
    }
    assert read_settings(period).inventory_refresh == DEFAULT_INVENTORY_REFRESH


def test_system_topic_is_the_subscription_topic_at_global_location() -> None:
    doc = _doc(MODULES / "systemTopic.bicep")
    _, created = _only(doc, "Microsoft.EventGrid/systemTopics")
    body = _body(created)
    assert body["location"] == "global"
    assert body["properties"]["topicType"] == "topicType"
    allowed = _decorator(doc["parameters"]["topicType"], "allowed")
    assert allowed == ["Microsoft.Resources.Subscriptions", "Microsoft.ResourceNotifications.HealthResources"]
    assert doc["parameters"]["topicType"]["default"] == "Microsoft.Resources.Subscriptions"
    _, module = _watched()
    kinds = {
        name: _body(module["modules"][name])["params"]["topicType"]
        for name in ("resourceTopic", "healthTopic")
    }
    assert kinds == {"resourceTopic": allowed[0], "healthTopic": allowed[1]}
    assert _functions(body["properties"]["source"]) == {"subscription"} and "id" in _strings(
        body["properties"]["source"]
    )
    assert body["identity"] == {"type": "SystemAssigned"}


def test_event_subscription_delivers_vm_operations_to_on_vm_event() -> None:
    doc = _doc(MODULES / "eventSubscription.bicep")
    _, subscription = _only(doc, "Microsoft.EventGrid/systemTopics/eventSubscriptions")
    body = _body(subscription)
    topic, _ = _only(doc, "Microsoft.EventGrid/systemTopics", existing=True)
    assert body["parent"] == topic
    properties = body["properties"]
    assert properties["eventDeliverySchema"] == "EventGridSchema"

    destination = properties["destination"]
    assert destination["endpointType"] == "AzureFunction"
    target = destination["properties"]["resourceId"]
    assert target["operator"]["operands"]["operand_2"] == "id"
    function = doc["resources"][target["operator"]["operands"]["operand_1"]]
    assert function["type"] == "Microsoft.Web/sites/functions" and function["existing"] is True
    assert _resolve(doc, _body(function)["name"]) == EVENT_FUNCTION_NAME
    assert doc["resources"][_body(function)["parent"]]["type"] == "Microsoft.Web/sites"

    event_filter = properties["filter"]
    assert set(_resolve(doc, event_filter["includedEventTypes"])) == RESOURCE_EVENT_TYPES
    [advanced] = event_filter["advancedFilters"]
    assert (advanced["operatorType"], advanced["key"]) == ("StringBeginsWith", "data.operationName")

    assert properties["retryPolicy"] == {
        "maxDeliveryAttempts": "maxDeliveryAttempts",
        "eventTimeToLiveInMinutes": "eventTimeToLiveInMinutes",
    }
    for param, low, high in (("maxDeliveryAttempts", 1, 30), ("eventTimeToLiveInMinutes", 1, 1440)):
        spec = doc["parameters"][param]
        assert (_decorator(spec, "min_value"), _decorator(spec, "max_value")) == (low, high)

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
    doc = _doc(MODULES / "eventSubscription.bicep")
    _, subscription = _only(doc, "Microsoft.EventGrid/systemTopics/eventSubscriptions")
    [advanced] = _body(subscription)["properties"]["filter"]["advancedFilters"]
    return [_resolve(doc, value) for value in advanced["values"]]


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
        doc = _doc(path)
        target_scope = doc.get("globals", {}).get("scope", {}).get("value", "resourceGroup")
        for name, assignment in _resources(doc, "Microsoft.Authorization/roleAssignments").items():
            body = _body(assignment)
            definition = body["properties"]["roleDefinitionId"]["function"]
            assert definition["type"] == "subscription_resource_id", name
            assert definition["parameters"]["resource_type"] == "Microsoft.Authorization/roleDefinitions"
            role = _resolve(doc, definition["parameters"]["resource_name_1"])
            principal = body["properties"]["principalId"]
            assert body["properties"]["principalType"] == "ServicePrincipal", name
            # Deterministic name: guid() of values fixed for this scope, principal and role.
            guid = body["name"]["function"]
            assert guid["type"] == "guid", name
            arguments = _strings(guid["parameters"])
            assert principal in arguments and definition["parameters"]["resource_name_1"] in arguments, name
            assert not {"newGuid", "utcNow"} & _functions(guid), name
            if "scope" in body:
                scope = doc["resources"][body["scope"]]
                assert scope["existing"] is True, name
                scope_name = scope["type"]
                if scope_name.endswith("/containers"):
                    assert _body(scope)["name"] == "deadLetterContainerName", name
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
    }


# Azure's queue name rule (the published type's pattern), and room for the host's "-poison" suffix.
QUEUE_NAME = re.compile(r"^[a-z0-9]([a-z0-9]|(-(?!-))){1,61}[a-z0-9]$")


def test_the_work_queue_and_its_poison_queue_live_in_the_ledgers_account() -> None:
    doc = _doc(MODULES / "storage.bicep")
    queues = {
        _body(queue)["name"]
        for queue in _resources(doc, "Microsoft.Storage/storageAccounts/queueServices/queues").values()
    }
    assert queues == {"ledgerQueueName", "${ledgerQueueName}-poison"}
    for path in (MAIN, MODULES / "storage.bicep"):
        spec = _doc(path)["parameters"]["ledgerQueueName"]
        assert (_decorator(spec, "min_length"), _decorator(spec, "max_length")) == (3, 56)
    default = _doc(MAIN)["parameters"]["ledgerQueueName"]["default"]
    assert default == _code_constant("settings", "DEFAULT_QUEUE_NAME")
    assert QUEUE_NAME.match(default) and QUEUE_NAME.match(default + "-poison")
    assert re.search(rf"param\s+ledgerQueueName\s*=\s*'{default}'", PARAMS.read_text())
    passed = _body(_doc(MAIN)["modules"]["functionApp"])["params"]["ledgerQueueName"]
    assert _is_accessor(passed, "storage", "outputs", "ledgerQueueName")


def test_the_queue_trigger_reads_the_ledgers_account_with_the_identity() -> None:
    """The trigger's ``connection`` names the setting prefix; in Azure only the identity form is set:
    ``<prefix>__queueServiceUri`` and ``__credential`` (Learn, "identity-based connections"), the client id
    of a user-assigned identity, and never the connection string itself."""
    source = FUNCTION_APP.read_text()
    connections = re.findall(r"queue_trigger\([^)]*connection=\"([A-Za-z_]+)\"", source)
    queue_names = re.findall(r"queue_trigger\([^)]*queue_name=\"%([A-Z_]+)%\"", source)
    assert connections == ["VM_LEDGER_STORAGE"] and queue_names == ["VM_LEDGER_QUEUE"]
    properties, names = _app_settings()
    base = properties["function"]["parameters"]["arg_1"]
    user_assigned = properties["function"]["parameters"]["arg_2"]["operator"]["operands"]["true_value"]
    assert base["VM_LEDGER_STORAGE__queueServiceUri"] == "queueEndpoint"
    assert base["VM_LEDGER_STORAGE__credential"] == "managedidentity"
    assert base["VM_LEDGER_QUEUE"] == "ledgerQueueName"
    assert "VM_LEDGER_STORAGE__clientId" in user_assigned and "VM_LEDGER_STORAGE" not in names
    endpoint = _doc(MODULES / "storage.bicep")["outputs"]["queueEndpoint"]["value"]
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


# --------------------------------------------------------------------------------------------------
# The real compiler, where there is one
# --------------------------------------------------------------------------------------------------


@pytest.mark.skipif(
    shutil.which("bicep") is None, reason="no bicep binary on PATH (Bicep CLI not installable here)"
)
def test_bicep_cli_builds_and_lints(tmp_path: Path) -> None:
    bicep = shutil.which("bicep")
    assert bicep is not None
    commands = [
        [bicep, "build", str(MAIN), "--outdir", str(tmp_path)],
        [bicep, "build-params", str(PARAMS), "--outfile", str(tmp_path / "main.parameters.json")],
        *([bicep, "lint", str(path)] for path in BICEP_FILES),
    ]
    for command in commands:
        result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
        assert result.returncode == 0, f"{' '.join(command)}\n{result.stdout}\n{result.stderr}"


# --------------------------------------------------------------------------------------------------
# Azure's own rules, as data
# --------------------------------------------------------------------------------------------------

AZURE_RULES = ROOT / "tests" / "data" / "azure_rules"
# Table names: 3-63 letters and digits, starting with a letter; "tables" is reserved (Learn, "Understanding
# the Table service data model").
TABLE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]{2,62}$")


def _flex_rules() -> dict[str, Any]:
    return json.loads((AZURE_RULES / "flex_consumption.json").read_text())


@pytest.mark.parametrize("path", [MAIN, MODULES / "functionApp.bicep"], ids=lambda path: path.name)
def test_flex_consumption_params_only_allow_what_the_plan_accepts(path: Path) -> None:
    rules = _flex_rules()
    params = _doc(path)["parameters"]
    memory = _decorator(params["instanceMemoryMB"], "allowed")
    assert memory and set(memory) <= set(rules["instanceMemoryMB"])
    assert params["instanceMemoryMB"]["default"] in memory
    count = params["maximumInstanceCount"]
    low, high = _decorator(count, "min_value"), _decorator(count, "max_value")
    assert rules["maximumInstanceCount"]["min"] <= low <= count["default"] <= high
    assert high <= rules["maximumInstanceCount"]["max"]
    versions = _decorator(params["pythonVersion"], "allowed")
    assert versions and set(versions) <= set(rules["pythonVersions"])


@pytest.mark.parametrize("path", [MAIN, MODULES / "storage.bicep"], ids=lambda path: path.name)
def test_ledger_table_name_param_is_bounded_to_the_table_name_rules(path: Path) -> None:
    spec = _doc(path)["parameters"]["ledgerTableName"]
    assert (_decorator(spec, "min_length"), _decorator(spec, "max_length")) == (3, 63)
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
    _, site = _only(doc, "Microsoft.Web/sites")
    properties = _body(site)["properties"]
    names = {key.strip("'") for key in properties}
    return names | _object_keys(properties.get("siteConfig", {}))


def test_no_app_setting_or_site_property_is_one_flex_consumption_deprecates() -> None:
    _, setting_names = _app_settings()
    site_properties = _site_property_names(_doc(MODULES / "functionApp.bicep"))
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
    _, config = _only(doc, "Microsoft.Web/sites/config")
    assert _flex_rejections(_object_keys(_body(config)["properties"]), _site_property_names(doc)) == [
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
    return {tuple(chain) for item in _walk(node) if len(chain := _accessor_chain(item)) > 1}


def test_a_reused_system_topic_is_checked_and_the_deployment_fails_with_a_message_otherwise() -> None:
    """The checks run at deployment time (the existing topic is read then), so offline we check their
    shape: each reads the property that Azure sets on the topic (tests/bicep_types.py checks those
    paths exist in the published type) and fail() stands where the principal id would be."""
    doc = _doc(MODULES / "systemTopic.bicep")
    existing, _ = _only(doc, "Microsoft.EventGrid/systemTopics", existing=True)
    variables = doc["variables"]
    assert ("existingTopic", "properties", "topicType") in _accessors_in(variables["reusedTopicType"])
    assert ("existingTopic", "properties", "source") in _accessors_in(variables["reusedTopicSource"])
    identity_type = variables["reusedIdentityType"]["value"]["operator"]["operands"]["true_value"]
    # pycep reads ``existingTopic!.identity.?type ?? 'None'`` as ``identity.(type ?? 'None')``: check
    # the names, not the shape.
    assert {existing, "identity", "type", "None"} <= _strings(identity_type)

    checks = {
        "wrongTopicType": ("reusedTopicType", "topicType"),
        "wrongTopicSource": ("reusedTopicSource", None),
        "noSystemIdentity": ("reusedIdentityType", "SystemAssigned"),
    }
    for name, (value, literal) in checks.items():
        check = variables[name]["value"]["operator"]
        assert check["type"] == "and" and check["operands"]["operand_1"] == "reuseExisting", name
        strings = _strings(check["operands"]["operand_2"])
        assert value in strings and (literal is None or literal in strings), name
    assert "subscription" in _functions(variables["wrongTopicSource"])

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
    assert _is_accessor(reused["true_value"], existing, "identity", "principalId")
    assert reused["false_value"] == {
        "function": {"type": "fail", "parameters": {"arg_1": "reusedTopicProblem"}}
    }
    assert _is_accessor(output["false_value"], "createdTopic", "identity", "principalId")


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


def test_the_readme_parameter_table_lists_every_parameter_of_main_and_no_other() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    header = readme.index("| parameter |", readme.index("### Parameters"))
    table = readme[header : readme.index("\n\n", header)]
    named: set[str] = set()
    for line in table.splitlines()[2:]:
        named |= set(re.findall(r"`([^`]+)`", line.split("|")[1]))
    # ``location`` is the deployment's -l, said in the sentence above the table.
    assert named == set(_doc(MAIN)["parameters"]) - {"location"}
