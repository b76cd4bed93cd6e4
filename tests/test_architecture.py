"""The package's layout holds: layers import one way, private modules stay private, docs list every module.

The import contracts live in pyproject.toml and also run in ``make lint`` and ``make test``; this test
runs them too, and proves they can fail by breaking a copy of the package on purpose.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT / "shared"
MODULES = sorted(SHARED.rglob("*.py"))
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
MAX_MODULE_LINES = 300


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=root, env=env, capture_output=True, text=True, timeout=120
    )


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def test_the_import_contracts_hold():
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" not in result.stdout.split("Contracts:")[-1].replace("0 broken", "")


def _copy_of_the_packages(tmp_path: Path) -> Path:
    """The Python files of every package the contracts analyse, and pyproject.toml, in ``tmp_path``."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    for package in config["tool"]["importlinter"]["root_packages"]:
        for path in (ROOT / package).rglob("*.py"):
            copy = tmp_path / path.relative_to(ROOT)
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, copy)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _add_import(module: Path, name: str) -> None:
    module.write_text(module.read_text(encoding="utf-8") + f"\nimport {name}  # noqa: E402,F401\n")


def test_a_copy_of_the_packages_keeps_the_contracts(tmp_path):
    """The copy the tests below break is whole: unbroken, every contract holds."""
    result = _lint_imports(_copy_of_the_packages(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_an_import_against_the_layers_fails_the_contracts(tmp_path):
    copy = _copy_of_the_packages(tmp_path)
    _add_import(copy / "shared" / "domain" / "times.py", "shared.web")

    result = _lint_imports(copy)

    assert result.returncode != 0
    assert "shared/ layers point one way BROKEN" in result.stdout
    assert "shared.domain.times -> shared.web" in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("tool", ["devtools.fake_arm", "scripts.serve", "bench.harness", "tests.factories"])
def test_the_package_importing_a_tool_fails_the_contracts(tmp_path, tool):
    copy = _copy_of_the_packages(tmp_path)
    _add_import(copy / "shared" / "domain" / "times.py", tool)

    result = _lint_imports(copy)

    assert result.returncode != 0
    assert "shared/ imports no tool, script, benchmark or test BROKEN" in result.stdout
    assert f"shared.domain.times -> {tool}" in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("module", ["devtools/events.py", "scripts/demo/scenario.py", "bench/run.py"])
def test_a_tool_importing_the_tests_fails_the_contracts(tmp_path, module):
    copy = _copy_of_the_packages(tmp_path)
    _add_import(copy / module, "tests.factories")

    result = _lint_imports(copy)

    assert result.returncode != 0
    assert "tools, scripts and benchmarks never import the tests BROKEN" in result.stdout
    importer = module.removesuffix(".py").replace("/", ".")
    assert f"{importer} -> tests.factories" in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("tool", ["scripts.serve", "bench.harness"])
def test_devtools_importing_a_script_or_a_benchmark_fails_the_contracts(tmp_path, tool):
    copy = _copy_of_the_packages(tmp_path)
    _add_import(copy / "devtools" / "loopback.py", tool)

    result = _lint_imports(copy)

    assert result.returncode != 0
    assert "devtools/ imports no script or benchmark BROKEN" in result.stdout
    assert f"devtools.loopback -> {tool}" in result.stdout


def test_a_view_job_or_command_importing_the_settings_fails_the_contracts(tmp_path):
    copy = _copy_of_the_packages(tmp_path)
    _add_import(copy / "shared" / "web" / "costs.py", "shared.settings")

    result = _lint_imports(copy)

    assert result.returncode != 0
    assert "only the composition root reads the settings BROKEN" in result.stdout
    assert "shared.web.costs -> shared.settings" in result.stdout


def _calls_to(path: Path, names: set[str]) -> list[str]:
    """Where ``path`` calls or imports one of ``names``: ``f()``, ``m.f()``, ``from m import f``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        elif isinstance(node, ast.ImportFrom):
            name = next((alias.name for alias in node.names if alias.name in names), None)
        else:
            continue
        if name in names:
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}")
    return found


def test_only_the_composition_root_reads_the_settings():
    """No view, job or command reads a setting: ``shared/context.py`` reads them once and hands each
    step what it needs, for the triggers and the command line alike."""
    readers = {"read_settings", "get_settings"}
    calls = [call for path in [*MODULES, ROOT / "function_app.py"] for call in _calls_to(path, readers)]
    assert calls and all(call.startswith("shared/context.py:") for call in calls), calls


def test_the_package_never_imports_the_functions_runtime():
    offenders = [p.name for p in MODULES if any(n.startswith("azure.functions") for n in _imports(p))]
    assert offenders == []


def test_private_modules_are_imported_only_inside_their_own_package():
    offenders = []
    for path in MODULES:
        package = ".".join(_module_name(path).split(".")[:2])
        for name in _imports(path):
            parts = name.split(".")
            private = next((i for i, part in enumerate(parts) if part.startswith("_") and i > 0), None)
            if name.startswith("shared.") and private is not None and ".".join(parts[:2]) != package:
                offenders.append(f"{_module_name(path)} imports {name}")
    assert offenders == []


def test_each_subpackage_names_what_other_layers_may_use():
    for init in SHARED.glob("*/__init__.py"):
        tree = ast.parse(init.read_text(encoding="utf-8"))
        exported = next(
            (
                ast.literal_eval(node.value)
                for node in tree.body
                if isinstance(node, ast.Assign)
                and any(getattr(t, "id", "") == "__all__" for t in node.targets)
            ),
            None,
        )
        assert exported, f"{init.relative_to(ROOT)} has no __all__"
        module = __import__(_module_name(init.parent / "x").rsplit(".", 1)[0], fromlist=["*"])
        missing = [name for name in exported if not hasattr(module, name)]
        assert missing == [], f"{init.relative_to(ROOT)} lists names it does not define: {missing}"


@pytest.mark.parametrize("path", MODULES, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_module_is_listed_in_the_architecture_page_and_stays_short(path):
    listed = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert f"`{path.relative_to(ROOT).as_posix()}`" in listed
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_MODULE_LINES, f"{lines} lines: is it still one concern?"


def test_the_billing_semantics_page_says_how_an_event_and_an_activity_log_record_are_joined():
    """The page about what an event's time means must also say what joins an event to the Activity Log
    record of the same operation (docs/cli.md says it; the billing document did not), with the windows
    the code uses and the published sources, as the rest of the page cites them."""
    from shared.domain.same_operation import MATCH_WINDOW, TIME_TOLERANCE

    page = (ROOT / "docs" / "billing-semantics.md").read_text(encoding="utf-8")
    heading = "\n## One operation, two sources: the correlation id\n"
    assert heading in page
    section = page.split(heading, 1)[1].split("\n## ", 1)[0]
    for fact in (
        "`data.correlationId`",  # the only id an Event Grid resource event carries
        "`operationId`",
        "`eventDataId`",
        f"{MATCH_WINDOW.seconds // 60} minutes",
        f"{TIME_TOLERANCE.seconds // 60} minutes",
        "`shared/domain/same_operation.py`",
        # Sources: both schemas in the REST specs, and the two-write-events report.
        "specification/eventgrid/data-plane/Microsoft.Resources/stable/2018-01-01/Resources.json",
        "specification/monitor/resource-manager/Microsoft.Insights/stable/2015-04-01/activityLogs_API.json",
        "MicrosoftDocs/azure-docs/issues/12166",
    ):
        assert fact in section, fact
