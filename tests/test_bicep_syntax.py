"""Offline checks of the Bicep deployment in ``infra/bicep``: every ``.bicep`` file parses without syntax
errors (``tree-sitter-bicep``) and the parameter file sets only declared params. The Bicep CLI cannot be
installed on the project's machines; when a ``bicep`` binary is on PATH, ``bicep build`` and ``bicep
lint`` run as well.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.bicep_source import BICEP_DIR, BICEP_FILES, MAIN, PARAMS, parsed, syntax_errors


def test_there_are_bicep_files_to_check() -> None:
    names = {path.relative_to(BICEP_DIR).as_posix() for path in BICEP_FILES}
    assert {"main.bicep", "modules/functionApp.bicep", "modules/eventSubscription.bicep"} <= names
    assert PARAMS.exists()


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: p.relative_to(BICEP_DIR).as_posix())
def test_bicep_file_has_no_syntax_errors(path: Path) -> None:
    assert syntax_errors(path.read_bytes()) == []
    # pycep has its own grammar; every file must also be readable by it for the checks below.
    assert isinstance(parsed(path), dict)


def test_syntax_check_reports_a_broken_file() -> None:
    broken = b"param location string = 'westeurope\nresource x 'Microsoft.Web/sites@2024-11-01' = {\n"
    assert syntax_errors(broken) != []


def test_bicepparam_sets_only_declared_params_with_valid_expressions() -> None:
    """tree-sitter-bicep has no .bicepparam grammar: each ``param NAME = value`` is checked as a
    ``var`` declaration of the same expression, which the Bicep grammar does cover."""
    text = PARAMS.read_text()
    using = re.search(r"^using\s+'([^']+)'", text, re.MULTILINE)
    assert using is not None and (BICEP_DIR / using.group(1)).resolve() == MAIN.resolve()
    as_bicep = re.sub(r"^param\s+(\w+)\s*=", r"var \1 =", text, flags=re.MULTILINE)
    assert syntax_errors(as_bicep.encode()) == []
    assigned = set(re.findall(r"^param\s+(\w+)\s*=", text, re.MULTILINE))
    declared = parsed(MAIN)["parameters"]
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
    assert parsed(MAIN)["parameters"]["deployEventSubscription"]["default"] is False


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
