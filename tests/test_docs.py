"""The docs cannot drift from the code: the parameters table of docs/deploy.md is main.bicep's parameters
(names and defaults), the settings table of docs/settings.md is the settings the code reads, docs/api.md
names every route of function_app.py and no other, and every error code the API answers. Each check is a
function of the text, so each is also shown to fail on a deliberate mismatch."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.bicep_source import MAIN
from tests.settings_read_by_code import settings_read_by_code

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
FUNCTION_APP = ROOT / "function_app.py"

_PARAM = re.compile(r"^param\s+(\w+)\s+[^=\n]+?(?:=\s*(.+))?$", re.MULTILINE)
_LITERAL = re.compile(r"^(?:'[^'$]*'|-?\d+|true|false|\{\}|\[\])$")
_INTERPOLATED = re.compile(r"^'[^']*\$\{\w+\}[^']*'$")
_DOCUMENTED_ROUTE = re.compile(r"`GET /([^`?\s]*)")


def _doc(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def table_rows(text: str, header: str) -> list[list[str]]:
    """Cells of the Markdown table whose header row starts with ``header``, header and rule excluded."""
    start = text.index(header)
    rows = []
    for line in text[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def bicep_parameters(source: str) -> dict[str, str]:
    """Each ``param`` of a Bicep file and its default as written (``[`` for a multi-line array)."""
    return {name: (default or "").strip() for name, default in _PARAM.findall(source)}


def documented_default(bicep_default: str) -> str | None:
    """How the table must show a default: a literal as itself, an interpolated name with ``<param>`` for
    ``${param}``, a parameter's name as that name; None for a computed default, which prose describes."""
    if bicep_default == "''":
        return "`''`"
    if _LITERAL.match(bicep_default):
        return f"`{bicep_default.strip(chr(39))}`"
    if _INTERPOLATED.match(bicep_default):
        return "`" + re.sub(r"\$\{(\w+)\}", r"<\1>", bicep_default.strip("'")) + "`"
    if re.fullmatch(r"\w+", bicep_default):
        return f"`{bicep_default}`"
    return None


def parameter_table_problems(deploy_md: str, main_bicep: str) -> list[str]:
    rows = table_rows(deploy_md, "| parameter | default |")
    named = [re.fullmatch(r"`(\w+)`", row[0]) for row in rows]
    documented = {m.group(1): row[1] for m, row in zip(named, rows, strict=True) if m}
    problems = [f"not one parameter: {row[0]}" for m, row in zip(named, rows, strict=True) if not m]
    parameters = bicep_parameters(main_bicep)
    problems += [f"{name}: not in main.bicep" for name in documented.keys() - parameters.keys()]
    problems += [f"{name}: missing from the table" for name in parameters.keys() - documented.keys()]
    if len(documented) != len([m for m in named if m]):
        problems.append("a parameter is listed twice")
    for name in documented.keys() & parameters.keys():
        expected = documented_default(parameters[name])
        cell = documented[name]
        if expected is not None and not cell.startswith(expected):
            problems.append(f"{name}: default {cell!r}, main.bicep says {expected!r}")
        if expected is None and (not cell or cell.startswith("`")):
            problems.append(f"{name}: a computed default must be described, not shown as a value")
    return problems


def settings_table_problems(settings_md: str, read_by_code: frozenset[str]) -> list[str]:
    documented = [row[0].strip("`") for row in table_rows(settings_md, "| setting | default |")]
    problems = [f"{name}: listed twice" for name in set(documented) if documented.count(name) > 1]
    problems += [f"{name}: not read by the code" for name in set(documented) - read_by_code]
    problems += [f"{name}: read by the code, not in the table" for name in read_by_code - set(documented)]
    return problems


def routes_of_function_app(source: str) -> set[str]:
    routes = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg == "route" and isinstance(keyword.value, ast.Constant):
                    routes.add(str(keyword.value.value))
    return routes


def route_problems(api_md: str, routes: set[str]) -> list[str]:
    documented = set(_DOCUMENTED_ROUTE.findall(api_md))
    return [f"/{route}: not a route of function_app.py" for route in sorted(documented - routes)] + [
        f"/{route}: a route of function_app.py that docs/api.md does not document"
        for route in sorted(routes - documented)
    ]


def test_the_parameters_table_is_main_bicep_names_and_defaults():
    assert parameter_table_problems(_doc("deploy.md"), MAIN.read_text(encoding="utf-8")) == []


def test_the_parameters_check_fails_on_a_wrong_default_a_missing_and_an_unknown_parameter():
    deploy, main = _doc("deploy.md"), MAIN.read_text(encoding="utf-8")
    wrong_default = deploy.replace("| `pricesCurrency` | `USD` |", "| `pricesCurrency` | `EUR` |")
    assert parameter_table_problems(wrong_default, main) == [
        "pricesCurrency: default '`EUR`', main.bicep says '`USD`'"
    ]
    new_param = main + "\nparam brandNewThing int = 3\n"
    assert parameter_table_problems(deploy, new_param) == ["brandNewThing: missing from the table"]
    removed = main.replace("param maxEventsPerBatch int = 1", "")
    assert parameter_table_problems(deploy, removed) == ["maxEventsPerBatch: not in main.bicep"]


def test_the_settings_table_lists_exactly_the_settings_the_code_reads():
    assert settings_table_problems(_doc("settings.md"), settings_read_by_code()) == []


def test_the_settings_check_fails_on_a_setting_the_code_does_not_read_or_one_it_reads_unlisted():
    settings = _doc("settings.md")
    invented = settings.replace("| `PRICES_CURRENCY` |", "| `PRICE_CURRENCY` |")
    assert sorted(settings_table_problems(invented, settings_read_by_code())) == [
        "PRICES_CURRENCY: read by the code, not in the table",
        "PRICE_CURRENCY: not read by the code",
    ]


def test_every_route_in_the_api_page_is_a_route_of_the_function_app_and_back():
    routes = routes_of_function_app(FUNCTION_APP.read_text(encoding="utf-8"))
    assert "vms/{subscriptionId}/{resourceGroup}/{vmName}" in routes
    assert route_problems(_doc("api.md"), routes) == []


def test_the_route_check_fails_on_a_route_the_app_does_not_have():
    routes = routes_of_function_app(FUNCTION_APP.read_text(encoding="utf-8"))
    stale = _doc("api.md").replace("`GET /costs?", "`GET /cost?")
    assert route_problems(stale, routes) == [
        "/cost: not a route of function_app.py",
        "/costs: a route of function_app.py that docs/api.md does not document",
    ]


def test_the_api_page_lists_every_error_code_the_api_answers():
    from shared.web.api_errors import ApiErrorCode

    codes = {row[1].strip("`") for row in table_rows(_doc("api.md"), "| status | code |")}
    assert {code.value for code in ApiErrorCode} == codes
