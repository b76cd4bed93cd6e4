"""Run every benchmark against a fresh Azurite and print one table: measure, value, target, pass/fail.

    python -m bench.run            # what ``make bench`` runs
    python -m bench.run --only roundtrips,coldstart

The table goes to stdout and to ``bench/results-latest.txt`` (not committed); progress goes to stderr.
Values are round-trip counts and ratios measured side by side in this run: absolute times on a shared
machine mean little. ``docs/performance.md`` explains each line. With ``--strict`` the exit status is 1
if a target failed.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

from bench.harness import FAIL, Result, progress
from devtools.azurite import Azurite
from devtools.faultproxy import FaultProxy

RESULTS_FILE = Path(__file__).resolve().parent / "results-latest.txt"
SECTIONS = (
    "roundtrips",
    "repair",
    "throughput",
    "reconcile",
    "scalesets",
    "scalesetqueue",
    "findings",
    "findingstopic",
    "costs",
    "days",
    "attached",
    "coldstart",
    "sweep",
    "firstrun",
    "storage",
)
# Run only when named in --only: each takes more than a few minutes.
SLOW_SECTIONS = ("simulation",)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help=f"comma list of {', '.join(SECTIONS + SLOW_SECTIONS)} (default: all but "
        f"{', '.join(SLOW_SECTIONS)})",
    )
    parser.add_argument("--strict", action="store_true", help="exit with status 1 if a target failed")
    parser.add_argument(
        "--long-history",
        type=int,
        default=10_000,
        help="transitions of the long VM in the repair section (50,000 takes Azurite too long to seed)",
    )
    parser.add_argument(
        "--full-sweep",
        action="store_true",
        help="sweep 100,000 VMs in 1,000 subscriptions (+100 x 100 instances) instead of 10,000 in 100",
    )
    parser.add_argument(
        "--full-first-run",
        action="store_true",
        help="first run over 10,000 VMs in 10 subscriptions + 100 x 100 instances instead of a tenth of it",
    )
    parser.add_argument(
        "--sim-vms", type=int, default=100_000, help="VMs of the fleet simulation (section simulation)"
    )
    parser.add_argument(
        "--sim-subscriptions", type=int, default=100, help="subscriptions of the fleet simulation"
    )
    args = parser.parse_args(argv)
    sections = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(sections) - set(SECTIONS + SLOW_SECTIONS))
    if unknown:
        parser.error(f"unknown section(s): {', '.join(unknown)}")

    began = time.monotonic()
    results: list[Result] = []
    notes: list[str] = []
    with Azurite() as azurite, FaultProxy(azurite.port, queue_port=azurite.queue_port) as proxy:
        progress(f"Azurite on 127.0.0.1:{azurite.port}, counting proxy on 127.0.0.1:{proxy.port}")
        runners: dict[str, Callable[[], tuple[list[Result], list[str]]]] = {
            "roundtrips": lambda: _roundtrips(proxy, azurite),
            "repair": lambda: _repair(proxy, azurite, args.long_history),
            "throughput": lambda: _throughput(azurite),
            "reconcile": lambda: _reconcile(proxy),
            "scalesets": lambda: _scale_sets(proxy),
            "scalesetqueue": lambda: _scale_set_queue(azurite),
            "findings": lambda: _findings(proxy, azurite),
            "findingstopic": lambda: _findings_topic(proxy, azurite),
            "costs": lambda: _costs(proxy, azurite),
            "days": lambda: _days(proxy, azurite),
            "attached": lambda: _attached(proxy),
            "coldstart": _coldstart,
            "sweep": lambda: _sweep(proxy, args.full_sweep),
            "firstrun": lambda: _first_run(proxy, args.full_first_run),
            "storage": _storage,
            "simulation": lambda: _simulation(proxy, azurite, args.sim_vms, args.sim_subscriptions),
        }
        for name in sections:
            section_results, section_notes = runners[name]()
            results += section_results
            notes += section_notes
    report = _format(results, notes, time.monotonic() - began)
    print(report)
    RESULTS_FILE.write_text(report + "\n", encoding="utf-8")
    return 1 if args.strict and any(result.verdict == FAIL for result in results) else 0


def _roundtrips(proxy: FaultProxy, azurite: Azurite) -> tuple[list[Result], list[str]]:
    from bench.roundtrips import per_event, per_query

    results = per_event(proxy)
    query_results, notes = per_query(proxy, azurite.connection_string)
    return results + query_results, notes


def _repair(proxy: FaultProxy, azurite: Azurite, long_history: int) -> tuple[list[Result], list[str]]:
    from bench.repair_cost import repair_cost

    return repair_cost(proxy, azurite.connection_string, long_history)


def _throughput(azurite: Azurite) -> tuple[list[Result], list[str]]:
    from bench.throughput import ingest

    return ingest(azurite.connection_string)


def _reconcile(proxy: FaultProxy) -> tuple[list[Result], list[str]]:
    from bench.reconcile_cost import reconcile_cost

    return reconcile_cost(proxy)


def _scale_sets(proxy: FaultProxy) -> tuple[list[Result], list[str]]:
    from bench.scale_set_cost import scale_set_cost

    return scale_set_cost(proxy)


def _scale_set_queue(azurite: Azurite) -> tuple[list[Result], list[str]]:
    from bench.scale_set_queue import scale_set_queue_cost

    return scale_set_queue_cost(azurite)


def _findings(proxy: FaultProxy, azurite: Azurite) -> tuple[list[Result], list[str]]:
    from bench.findings_cost import findings_cost

    return findings_cost(proxy, azurite.connection_string)


def _findings_topic(proxy: FaultProxy, azurite: Azurite) -> tuple[list[Result], list[str]]:
    from bench.findings_topic import findings_topic_cost

    return findings_topic_cost(proxy, azurite.connection_string)


def _costs(proxy: FaultProxy, azurite: Azurite) -> tuple[list[Result], list[str]]:
    from bench.costs import costs

    return costs(proxy, azurite.connection_string)


def _days(proxy: FaultProxy, azurite: Azurite) -> tuple[list[Result], list[str]]:
    from bench.day_totals_cost import day_totals_cost

    return day_totals_cost(proxy, azurite.connection_string)


def _attached(proxy: FaultProxy) -> tuple[list[Result], list[str]]:
    from bench.attached_cost import attached_cost

    return attached_cost(proxy)


def _first_run(proxy: FaultProxy, full: bool) -> tuple[list[Result], list[str]]:
    from bench.first_run import DEFAULT_FLEET, FULL_FLEET, first_run

    return first_run(proxy, FULL_FLEET if full else DEFAULT_FLEET)


def _sweep(proxy: FaultProxy, full: bool) -> tuple[list[Result], list[str]]:
    from bench.sweep_cost import DEFAULT_FLEET, FULL_FLEET, sweep_cost
    from bench.sweep_reconcile_cost import sweep_reconcile_cost

    results, notes = sweep_cost(FULL_FLEET if full else DEFAULT_FLEET)
    more_results, more_notes = sweep_reconcile_cost(proxy)
    return results + more_results, notes + more_notes


def _simulation(
    proxy: FaultProxy, azurite: Azurite, vms: int, subscriptions: int
) -> tuple[list[Result], list[str]]:
    from bench.fleet_sim import simulation

    return simulation(proxy, azurite.connection_string, vms, subscriptions)


def _storage() -> tuple[list[Result], list[str]]:
    from bench.storage_size import storage_size

    return storage_size()


def _coldstart() -> tuple[list[Result], list[str]]:
    from bench.coldstart import cold_start

    return cold_start()


def _format(results: list[Result], notes: list[str], seconds: float) -> str:
    header = ("measure", "value", "target", "result")
    rows = [header] + [(r.measure, r.value, r.target, r.verdict) for r in results]
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    lines = [
        f"VM billing ledger benchmarks, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"Python {platform.python_version()}, azure-data-tables {version('azure-data-tables')}, "
        f"azure-functions {version('azure-functions')}, Azurite 3.35.0 (in memory), "
        f"{os.cpu_count()} CPUs, {seconds:.0f} s",
        "",
    ]
    for index, row in enumerate(rows):
        lines.append(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[3]
        )
        if index == 0:
            lines.append("  ".join("-" * width for width in widths) + "  ------")
    if notes:
        lines += ["", *[f"- {note}" for note in notes]]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
