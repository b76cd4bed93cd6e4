"""The settings the code reads (``shared/settings.py``, direct reads of the environment, ``%NAME%`` binding
expressions in ``function_app.py``) and the app settings ``infra/bicep`` gives the function app: every
setting read must be set in Azure, but for the few that must not be."""

from __future__ import annotations

import ast
import functools
import re
from typing import Any

from tests.bicep_source import MODULES, ROOT, body_of, object_keys, only_resource, parsed

SHARED = ROOT / "shared"
FUNCTION_APP = ROOT / "function_app.py"

# Settings the code reads that must NOT be app settings in Azure, with the reason.
DEV_ONLY_SETTINGS = {
    # The Azurite/dev alternative to VM_LEDGER_STORAGE__tableServiceUri. The code requires exactly one
    # of the two, so setting the connection string in Azure (next to the URI) would fail every call.
    "VM_LEDGER_STORAGE": "connection string for Azurite; Azure uses VM_LEDGER_STORAGE__tableServiceUri",
    # The topic's keys are off in Azure (disableLocalAuth): the app publishes with its identity.
    "FINDINGS_TOPIC_KEY": "the loopback topic's key for local runs; Azure publishes with the identity",
}


_SETTING_NAME = re.compile(r"^[A-Z][A-Za-z0-9_]*$")
_CONSTANT_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
_BINDING_EXPRESSION = re.compile(r"%([A-Za-z][A-Za-z0-9_]*)%")


def settings_declared_in(source: str) -> set[str]:
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


def settings_read_directly_in(source: str) -> set[str]:
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


def settings_in_binding_expressions(source: str) -> set[str]:
    """``%NAME%`` binding expressions in string literals: settings that the Functions host resolves."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            names.update(_BINDING_EXPRESSION.findall(node.value))
    return names


@functools.cache
def settings_read_by_code() -> frozenset[str]:
    names = settings_declared_in((SHARED / "settings.py").read_text())
    for module in sorted(SHARED.rglob("*.py")):
        names |= settings_read_directly_in(module.read_text())
    if FUNCTION_APP.exists():
        source = FUNCTION_APP.read_text()
        names |= settings_read_directly_in(source) | settings_in_binding_expressions(source)
    return frozenset(names)


def code_constant(module: str, name: str) -> Any:
    """The literal value of a module-level constant of ``shared/<module>.py`` (e.g. a DEFAULT_*), read
    with ``ast`` so that this test does not depend on importing the app's packages."""
    for node in ast.parse((SHARED / f"{module}.py").read_text()).body:
        target = node.target if isinstance(node, ast.AnnAssign) else None
        targets = node.targets if isinstance(node, ast.Assign) else [target] if target else []
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            assert node.value is not None
            return ast.literal_eval(node.value)
    raise AssertionError(f"{name} is not a constant of shared/{module}.py")


def bicep_app_settings() -> tuple[dict[str, Any], set[str]]:
    doc = parsed(MODULES / "functionApp.bicep")
    _, config = only_resource(doc, "Microsoft.Web/sites/config")
    body = body_of(config)
    assert body["name"] == "appsettings"
    return body["properties"], object_keys(body["properties"])


def missing_settings(read_by_code: set[str] | frozenset[str], app_setting_names: set[str]) -> set[str]:
    return set(read_by_code) - app_setting_names - set(DEV_ONLY_SETTINGS)
