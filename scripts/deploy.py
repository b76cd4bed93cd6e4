"""Deploy the ledger to Azure, step by step: what-if, a question, phase 1 (the infrastructure), the code
package, phase 2 (the event subscriptions), then where the page is and when the first data shows.

    scripts/deploy.sh --location westeurope --resource-group rg-vm-ledger \\
        --subscription <ledger subscription> [--subscription <another> ...] [--dry-run] [--yes]

The first subscription holds the ledger (the deployment runs there); every one listed is watched. With
``--dry-run`` it prints the commands, a shell script to read or run by hand, and runs nothing. Each fact
it relies on is the deployment's: docs/deploy.md says what each step does and why there are two phases.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from devtools.package import package_files

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = "infra/bicep/main.bicep"
PARAMETERS = "infra/bicep/main.bicepparam"
DEPLOYMENT = "vm-ledger"
PACKAGE = "vm-ledger-app.zip"
WAIT_SECONDS, WAIT_TRIES = 15, 40  # the remote build and indexing take minutes, not ten
MIN_AZ_VERSION = (2, 54)  # supplemental parameters beside a .bicepparam file (Azure/azure-cli#27527)
_SUBSCRIPTION = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_RESOURCE_GROUP = re.compile(r"^[-\w.()]{0,89}[-\w()]$")
_INSTALL = {
    "az": "install the Azure CLI: https://learn.microsoft.com/cli/azure/install-azure-cli "
    "(Debian/Ubuntu: curl -sL https://aka.ms/InstallAzureCLIDeb | sudo bash), then az login",
    "bicep": "install Bicep into the Azure CLI: az bicep install (az bicep upgrade for a newer one)",
}


@dataclass(frozen=True)
class Step:
    """One command of the sequence; ``capture`` names the shell variable its output is kept in."""

    title: str
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()
    capture: str | None = None
    wait: bool = False  # tried again every WAIT_SECONDS until it succeeds, at most WAIT_TRIES times

    def shell(self) -> str:
        command = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env) + " " if self.env else ""
        command += " ".join(_shell_word(word) for word in self.argv)
        if self.wait:
            return f"until {command}; do sleep {WAIT_SECONDS}; done"
        return f"{self.capture}=$({command})" if self.capture else command


def _shell_word(word: str) -> str:
    # "$app" and the like stand for an earlier step's output: left for the shell to expand.
    return f'"{word}"' if re.fullmatch(r"\$\w+", word) else shlex.quote(word)


@dataclass(frozen=True)
class Target:
    location: str
    resource_group: str
    subscriptions: tuple[str, ...]

    @property
    def ledger_subscription(self) -> str:
        return self.subscriptions[0]


def _deployment(verb: str, target: Target) -> tuple[str, ...]:
    return (
        "az", "deployment", "sub", verb, "--subscription", target.ledger_subscription,
        "--location", target.location, "--name", DEPLOYMENT,
        "--template-file", TEMPLATE, "--parameters", PARAMETERS,
        "--parameters", f"resourceGroupName={target.resource_group}",
        "--parameters", f"subscriptionIds={json.dumps(list(target.subscriptions))}",
    )  # fmt: skip


def _output(name: str, target: Target) -> tuple[str, ...]:
    return (
        "az", "deployment", "sub", "show", "--subscription", target.ledger_subscription,
        "--name", DEPLOYMENT, "--query", f"properties.outputs.{name}.value", "--output", "tsv",
    )  # fmt: skip


def plan(target: Target) -> list[Step]:
    """The commands, in order. ``$app`` and ``$host`` are the outputs of phase 1."""
    app = ("--subscription", target.ledger_subscription, "--resource-group", target.resource_group)
    return [
        Step("What phase 1 would change (nothing is changed)", _deployment("what-if", target)),
        Step("Phase 1: the infrastructure", _deployment("create", target)),
        Step("The function app's name", _output("functionAppName", target), capture="app"),
        Step("Its host name", _output("functionAppHostName", target), capture="host"),
        Step(
            f"Publish the code package {PACKAGE}; Flex Consumption builds it from requirements.txt",
            (
                "az",
                "functionapp",
                "deployment",
                "source",
                "config-zip",
                *app,
                "--name",
                "$app",
                "--src",
                PACKAGE,
                "--build-remote",
                "true",
            ),
        ),  # fmt: skip
        Step(
            "Wait until the app has indexed on_vm_event (Event Grid refuses a subscription to a function "
            "that does not exist)",
            (
                "az",
                "functionapp",
                "function",
                "show",
                *app,
                "--name",
                "$app",
                "--function-name",
                "on_vm_event",
                "--query",
                "name",
                "--output",
                "tsv",
            ),
            wait=True,
        ),  # fmt: skip
        Step(
            "Phase 2: the event subscriptions, now that on_vm_event exists",
            _deployment("create", target),
            env=(("DEPLOY_EVENT_SUBSCRIPTION", "true"),),
        ),
    ]


def key_command(target: Target, app: str) -> str:
    # A host key: the page calls the API's other functions with the key it was opened with, and a
    # function key (az functionapp function keys list --function-name vm_timeline_page) opens the page only.
    return " ".join(_shell_word(word) for word in (
        "az", "functionapp", "keys", "list", "--subscription", target.ledger_subscription,
        "--resource-group", target.resource_group, "--name", app,
        "--query", "functionKeys.default", "--output", "tsv",
    ))  # fmt: skip


def reconcile_schedule() -> str:
    match = re.search(r"param\s+reconcileSchedule\s*=\s*'([^']*)'", (ROOT / PARAMETERS).read_text())
    return match.group(1) if match else "0 */15 * * * *"


def closing_lines(target: Target, app: str, host: str) -> list[str]:
    """Where the page is, how to get its key, and when the first data shows."""
    watched = ", ".join(target.subscriptions)
    return [
        f"The page: https://{host}/api/timeline?code=<key>, with the key (a host key: the page's calls to",
        f"  the API take the same key) from: {key_command(target, app)}",
        f"  The API takes it as ?code= or the x-functions-key header: https://{host}/api/vms.",
        f"First events: within seconds of the next VM operation (start, deallocate, ...) in {watched}.",
        f"First reconcile: at the next run of the timer ({reconcile_schedule()}, UTC), which adopts every "
        "VM that exists,",
        "  backfills up to 50 of them from the Activity Log, and lists sizes and prices for the estimates.",
    ]


def package_listing() -> list[str]:
    """What goes in the code package: the files Core Tools would zip, by .funcignore (devtools.package)."""
    return sorted(package_files(ROOT))


def write_package(path: Path) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in package_listing():
            archive.write(ROOT / name, name)


def missing_tools() -> list[str]:
    """What to install first: the Azure CLI (a recent one) and its Bicep."""
    if shutil.which("az") is None:
        return [_INSTALL["az"]]
    version = _run(("az", "version", "--query", '"azure-cli"', "--output", "tsv"), capture=True).stdout
    found = tuple(int(part) for part in re.findall(r"\d+", version or "")[:2])
    problems = []
    if found < MIN_AZ_VERSION:
        problems.append(f"Azure CLI {(version or '?').strip()} is too old (2.54 or newer): az upgrade")
    if _run(("az", "bicep", "version"), capture=True).returncode != 0:
        problems.append(_INSTALL["bicep"])
    if _run(("az", "account", "show", "--output", "none"), capture=True).returncode != 0:
        problems.append("sign in: az login")
    return problems


def _run(
    argv: Sequence[str], *, env: dict[str, str] | None = None, capture: bool = False
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv), cwd=ROOT, env={**os.environ, **(env or {})}, text=True,
        stdout=subprocess.PIPE if capture else None, check=False,
    )  # fmt: skip


def print_dry_run(target: Target) -> None:
    print("# scripts/deploy.sh --dry-run: the commands it runs, in order (nothing was run)")
    print("set -euo pipefail")
    for number, step in enumerate(plan(target), 1):
        print(f"\n# {number}. {step.title}")
        if step.argv[3:5] == ("source", "config-zip"):
            print(f"#    {PACKAGE} holds exactly these files (.funcignore, as Core Tools reads it):")
            print("\n".join(f"#      {name}" for name in package_listing()))
            print(f".venv/bin/python -m scripts.deploy --write-package {PACKAGE}")
        if step.argv[3] == "create" and not step.env:
            print("read -r -p 'Deploy these changes? [y/N] ' answer && [ \"$answer\" = y ]")
        print(step.shell())
    print()
    print("\n".join(f"# {line}" for line in closing_lines(target, "$app", "$host")))


def deploy(target: Target, *, assume_yes: bool) -> int:
    values: dict[str, str] = {}
    for step in plan(target):
        print(f"\n== {step.title}", flush=True)
        if step.argv[3] == "create" and not step.env and not assume_yes:
            if input("Deploy these changes? [y/N] ").strip().lower() != "y":
                print("Nothing deployed.")
                return 1
        argv = [values.get(word[1:], word) if word.startswith("$") else word for word in step.argv]
        if step.argv[3:5] == ("source", "config-zip"):
            folder = Path(tempfile.mkdtemp(prefix="vm-ledger-"))
            write_package(folder / PACKAGE)
            print(f"{PACKAGE}: " + ", ".join(package_listing()))
            argv[argv.index(PACKAGE)] = str(folder / PACKAGE)
        done = _run(argv, env=dict(step.env), capture=step.capture is not None)
        for _ in range(WAIT_TRIES if step.wait and done.returncode != 0 else 0):
            time.sleep(WAIT_SECONDS)
            done = _run(argv, capture=True)
            if done.returncode == 0:
                break
        if done.returncode != 0:
            print(f"failed ({done.returncode}): {shlex.join(argv)}", file=sys.stderr)
            return done.returncode
        if step.capture:
            values[step.capture] = done.stdout.strip()
    print()
    print("\n".join(closing_lines(target, values["app"], values["host"])))
    return 0


def parse_target(argv: Sequence[str] | None) -> tuple[Target | None, argparse.Namespace]:
    """The deployment's target from the command line; None with ``--write-package``, which needs none."""
    parser = argparse.ArgumentParser(prog="scripts/deploy.sh", description=__doc__.split("\n\n")[0])
    parser.add_argument("--location", help="an Azure region with Flex Consumption, e.g. westeurope")
    parser.add_argument("--resource-group", help="the ledger's resource group (created if missing)")
    parser.add_argument("--subscription", action="append", default=[], dest="subscriptions",
                        help="a subscription to watch; the first holds the ledger (repeat it)")  # fmt: skip
    parser.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    parser.add_argument("--yes", action="store_true", help="deploy without asking after the what-if")
    parser.add_argument("--write-package", type=Path, metavar="ZIP", help="only write the code package")
    options = parser.parse_args(argv)
    if options.write_package:
        return None, options
    if not (options.location and options.resource_group and options.subscriptions):
        parser.error("--location, --resource-group and at least one --subscription are needed")
    for subscription in options.subscriptions:
        if not _SUBSCRIPTION.match(subscription):
            parser.error(f"--subscription {subscription!r} is not a subscription id (a GUID)")
    if not _RESOURCE_GROUP.match(options.resource_group):
        parser.error("--resource-group: 1-90 letters, digits, '-', '_', '.', '(' or ')', not ending in '.'")
    if not re.fullmatch(r"[a-z0-9]+", options.location):
        parser.error("--location: a region name such as westeurope (az account list-locations -o table)")
    subscriptions = tuple(dict.fromkeys(s.lower() for s in options.subscriptions))
    return Target(options.location, options.resource_group, subscriptions), options


def main(argv: Sequence[str] | None = None) -> int:
    target, options = parse_target(argv)
    if target is None:
        write_package(options.write_package)
        print(f"{options.write_package}: {len(package_listing())} files")
        return 0
    if options.dry_run:
        print_dry_run(target)
        return 0
    problems = missing_tools()
    if problems:
        print("Before deploying:\n" + "\n".join(f"- {problem}" for problem in problems), file=sys.stderr)
        return 1
    return deploy(target, assume_yes=options.yes)


if __name__ == "__main__":
    raise SystemExit(main())
