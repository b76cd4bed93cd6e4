"""The ``vm-ledger`` command as make installs it: it finds the store from ``local.settings.json``'s Values
with no variable set, the environment wins over the file (Core Tools' rule), and ``python -m shared.cli``
reads the same file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from devtools.events import vm_id
from shared import context, settings
from shared.errors import ConfigurationError
from tests.factories import deliver, sample_day

ROOT = Path(__file__).resolve().parent.parent
VM_LEDGER = Path(sys.executable).parent / "vm-ledger"
VM = vm_id("web-01", "rg-app")


def _environment_without_ledger_settings() -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("VM_LEDGER_")}
    return {**env, "PYTHONPATH": str(ROOT)}


def _write_local_settings(folder: Path, values: dict[str, str]) -> None:
    (folder / "local.settings.json").write_text(json.dumps({"IsEncrypted": False, "Values": values}))


def _run(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_the_console_script_is_declared_and_installed_into_the_venv():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert declared == {"vm-ledger": "scripts.vm_ledger:main"}
    assert VM_LEDGER.is_file(), "make installs the repo into .venv (pip install -e .)"


@pytest.mark.slow
@pytest.mark.azurite
def test_vm_ledger_show_reads_the_store_from_local_settings_with_no_variable_set(
    ledger_env, ledger, tmp_path
):
    deliver(*sample_day(VM))
    _write_local_settings(tmp_path, {
        "FUNCTIONS_WORKER_RUNTIME": "python",
        settings.STORAGE_CONNECTION: ledger_env[settings.STORAGE_CONNECTION],
        settings.TABLE_NAME: ledger_env[settings.TABLE_NAME],
    })  # fmt: skip
    done = _run([str(VM_LEDGER), "show"], tmp_path, _environment_without_ledger_settings())
    assert done.returncode == 0, done.stderr
    assert "rg-app/web-01" in done.stdout


@pytest.mark.slow
@pytest.mark.azurite
def test_the_environment_wins_over_local_settings_and_python_m_shared_cli_reads_them_too(
    ledger_env, ledger, tmp_path
):
    deliver(*sample_day(VM))
    _write_local_settings(tmp_path, {
        settings.STORAGE_CONNECTION: ledger_env[settings.STORAGE_CONNECTION],
        settings.TABLE_NAME: "tablethatisnotthere",
    })  # fmt: skip
    env = {**_environment_without_ledger_settings(), settings.TABLE_NAME: ledger_env[settings.TABLE_NAME]}
    done = _run([sys.executable, "-m", "shared.cli", "show"], tmp_path, env)
    assert done.returncode == 0, done.stderr
    assert "rg-app/web-01" in done.stdout


@pytest.mark.slow
def test_without_local_settings_or_variables_the_command_names_the_missing_setting(tmp_path):
    done = _run([str(VM_LEDGER), "show"], tmp_path, _environment_without_ledger_settings())
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and settings.STORAGE_CONNECTION in done.stderr


def test_a_local_settings_file_that_is_not_one_is_a_configuration_error(tmp_path, monkeypatch):
    for name in (settings.STORAGE_CONNECTION, settings.STORAGE_SERVICE_URI):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "local.settings.json").write_text('{"Values": {"VM_LEDGER_TABLE": 3}}')
    context.use_local_settings(tmp_path / "local.settings.json")
    try:
        with pytest.raises(ConfigurationError, match="Values must be an object of strings"):
            context.root()
    finally:
        context.reset()


def test_only_the_development_storage_setting_counts_as_azurite_at_its_standard_ports(monkeypatch):
    monkeypatch.delenv(settings.STORAGE_SERVICE_URI, raising=False)
    for connection, expected in (
        ("UseDevelopmentStorage=true", True),
        ("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
         "TableEndpoint=http://127.0.0.1:12345/devstoreaccount1;", False),
    ):  # fmt: skip
        monkeypatch.setenv(settings.STORAGE_CONNECTION, connection)
        context.reset()
        assert context.root().uses_development_storage() is expected
    context.reset()
