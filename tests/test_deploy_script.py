"""scripts/deploy.sh as a newcomer runs it: ``--dry-run`` prints the whole sequence for two subscriptions
(what-if before anything is deployed, a question, phase 1, the code package and what is in it, the wait
for on_vm_event, phase 2, the page and its key, when the first data shows), as a shell script that
parses; without the Azure CLI it says how to install it and runs nothing."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from devtools.package import package_files

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
LEDGER_SUB = "00000000-0000-0000-0000-000000000001"
OTHER_SUB = "00000000-0000-0000-0000-000000000002"
ARGS = ["--location", "westeurope", "--resource-group", "rg-ledger",
        "--subscription", LEDGER_SUB, "--subscription", OTHER_SUB]  # fmt: skip


def _deploy_sh(*args: str, path: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": path or os.environ["PATH"]}
    return subprocess.run([str(ROOT / "scripts" / "deploy.sh"), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


@pytest.fixture(scope="module")
def dry_run() -> str:
    done = _deploy_sh("--dry-run", *ARGS)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _commands(script: str) -> list[list[str]]:
    return [shlex.split(line) for line in script.splitlines() if line and not line.startswith("#")]


def _options(words: list[str], name: str) -> list[str]:
    return [words[i + 1] for i, word in enumerate(words) if word == name]


def test_the_dry_run_is_a_shell_script_that_parses(dry_run, tmp_path):
    script = tmp_path / "deploy.sh"
    script.write_text(dry_run)
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0


def test_what_if_comes_first_then_the_question_then_phase_1_package_wait_and_phase_2(dry_run):
    steps = [" ".join(words[:4]) for words in _commands(dry_run) if words[0] != "set"]
    assert steps == [
        "az deployment sub what-if",
        "read -r -p Deploy these changes? [y/N] ",
        "az deployment sub create",
        "app=$(az deployment sub show",
        "host=$(az deployment sub show",
        ".venv/bin/python -m scripts.deploy --write-package",
        "az functionapp deployment source",
        "until az functionapp function",
        "DEPLOY_EVENT_SUBSCRIPTION=true az deployment sub",
    ]


def test_every_deployment_targets_the_ledger_subscription_and_watches_both(dry_run):
    deployments = [w for w in _commands(dry_run) if "deployment" in w and "sub" in w and "show" not in w]
    assert len(deployments) == 3  # what-if, phase 1, phase 2
    for words in deployments:
        assert _options(words, "--subscription") == [LEDGER_SUB]
        assert _options(words, "--location") == ["westeurope"]
        assert _options(words, "--template-file") == ["infra/bicep/main.bicep"]
        parameters = _options(words, "--parameters")
        assert parameters[0] == "infra/bicep/main.bicepparam"
        assert "resourceGroupName=rg-ledger" in parameters
        subscriptions = next(p for p in parameters if p.startswith("subscriptionIds="))
        assert json.loads(subscriptions.split("=", 1)[1]) == [LEDGER_SUB, OTHER_SUB]
    assert deployments[-1][0] == "DEPLOY_EVENT_SUBSCRIPTION=true"


def test_the_package_step_lists_what_core_tools_would_ship_and_publishes_it_remote_built(dry_run):
    listed = [line.removeprefix("#      ") for line in dry_run.splitlines() if line.startswith("#      ")]
    assert listed == sorted(package_files(ROOT))
    assert {"function_app.py", "host.json", "requirements.txt"} <= set(listed)
    assert not [name for name in listed if name.startswith(("tests/", "devtools/", "docs/"))]
    zip_deploy = next(
        w for w in _commands(dry_run) if w[1:5] == ["functionapp", "deployment", "source", "config-zip"]
    )
    assert _options(zip_deploy, "--src") == ["vm-ledger-app.zip"]
    assert _options(zip_deploy, "--build-remote") == ["true"]
    assert _options(zip_deploy, "--name") == ["$app"] and _options(zip_deploy, "--resource-group") == [
        "rg-ledger"
    ]


def test_the_written_package_holds_exactly_the_listed_files(tmp_path):
    command = [sys.executable, "-m", "scripts.deploy", "--write-package", str(tmp_path / "app.zip")]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(tmp_path / "app.zip") as archive:
        assert sorted(archive.namelist()) == sorted(package_files(ROOT))


def test_it_ends_with_the_page_its_key_and_when_the_first_data_shows(dry_run):
    closing = dry_run.split("\n# The page:", 1)[1]
    assert "https://$host/api/timeline?code=<key>" in closing
    assert f'az functionapp keys list --subscription {LEDGER_SUB} --resource-group rg-ledger --name "$app" ' \
        "--query functionKeys.default --output tsv" in closing  # fmt: skip
    watched = f"{LEDGER_SUB}, {OTHER_SUB}"
    assert (
        f"First events: within seconds of the next VM operation (start, deallocate, ...) in {watched}."
        in closing
    )
    assert "First reconcile: at the next run of the timer (0 */15 * * * *, UTC)" in closing


def test_without_the_azure_cli_it_says_how_to_install_it_and_runs_nothing(tmp_path):
    done = _deploy_sh(*ARGS, path=f"{Path(sys.executable).parent}:/usr/bin:/bin")
    assert done.returncode == 1
    assert "install the Azure CLI: https://learn.microsoft.com/cli/azure/install-azure-cli" in done.stderr
    assert not (ROOT / "vm-ledger-app.zip").exists()


def test_a_subscription_that_is_not_a_guid_is_refused_before_anything_runs():
    done = _deploy_sh(
        "--dry-run", "--location", "westeurope", "--resource-group", "rg", "--subscription", "prod"
    )
    assert done.returncode == 2 and "is not a subscription id" in done.stderr
