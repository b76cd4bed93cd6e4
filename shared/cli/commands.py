"""Command line for the ledger: replay saved events, show VMs, reconcile; against Azurite or Azure.

Uses the same settings as the function app (``VM_LEDGER_STORAGE`` or ``VM_LEDGER_STORAGE__tableServiceUri``,
``VM_LEDGER_TABLE``, ...), read and built by the same composition root (``shared.context``), which each
command takes what it needs from. Examples::

    python -m shared.cli replay samples/events-day.json
    python -m shared.cli show
    python -m shared.cli show <VM resource id>
    python -m shared.cli reconcile
    python -m shared.cli reconcile --from-file listing.json
    python -m shared.cli findings [--kind stoppedButBilled] [--min-hours 2]
    python -m shared.cli backfill --days 90
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from shared.answers import transitions_page, vm_report
from shared.cli.failures import describe_failure
from shared.cli.findings import add_commands as add_findings_and_backfill
from shared.cli.saved_listing import load_saved_listings
from shared.cli.tables import VM_TABLE_HEADERS, print_table, vm_table
from shared.context import Root, root
from shared.domain.ids import parse_vm_id
from shared.domain.times import format_time, parse_time, utc_now
from shared.jobs import backfill_adopted, handle_event, reconcile_subscription, reconcile_subscriptions
from shared.sources import inbound_from_json


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; any failure is one line on stderr and a non-zero exit, never a traceback.

    Exit status: 0 done, 1 a failure worth retrying (storage or Azure unavailable, a reconcile that
    failed) or a reader that went away (``show | head``: quietly, as Python itself exits), 2 bad input or
    settings, 130 interrupted. Text from Azure that the terminal's encoding cannot carry (a lone
    surrogate in a message) is printed replaced, never a failure.
    """
    args = _parser().parse_args(argv)
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(errors="replace")
    try:
        app = root()
        app.ledger()  # storage trouble is what every command reports first, whatever its arguments
        status: int = args.run(args, app)
        sys.stdout.flush()  # a reader that went away shows here, not at exit
        return status
    except BrokenPipeError:
        # The Python docs' way: what is still buffered goes nowhere, so the exit's flush cannot fail too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # every failure ends as one line; unexpected ones say so
        message, status = describe_failure(err)
        print(f"error: {message}", file=sys.stderr)
        return status


def load_events(path: Path) -> list[Any]:
    """A JSON array of events (either schema), one event object, or JSON lines."""
    text = path.read_text(encoding="utf-8")
    try:
        loaded = json.loads(text)
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return loaded if isinstance(loaded, list) else [loaded]


def _replay(args: argparse.Namespace, app: Root) -> int:
    counts: dict[str, int] = {}
    for path in args.files:
        for body in load_events(Path(path)):
            outcome = handle_event(inbound_from_json(body), app.ledger(), app.arm)
            counts[outcome] = counts.get(outcome, 0) + 1
    print(", ".join(f"{count} {outcome}" for outcome, count in sorted(counts.items())) or "no events")
    return 0


def _show(args: argparse.Namespace, app: Root) -> int:
    ledger = app.ledger()
    as_of = utc_now()
    end = parse_time(args.to) if args.to else as_of
    start = parse_time(args.start) if args.start else end - timedelta(days=1)
    if not args.vm:
        print(f"Billed compute hours from {format_time(start)} to {format_time(end)}")
        print_table(vm_table(ledger, start, end, as_of), VM_TABLE_HEADERS)
        return 0
    vm = parse_vm_id(args.vm)
    if vm is None:
        raise ValueError("not a VM resource id")
    report = vm_report(ledger, vm, start, end, as_of)
    totals = report.totals
    print(f"{report.current.vm.resource_id} from {format_time(start)} to {format_time(end)}:")
    print(f"  billed {totals.billed_seconds / 3600:.2f} h, unknown {totals.unknown_seconds / 3600:.2f} h")
    _, page = transitions_page(ledger, vm, start, end, 1000, None)
    for row in page.items:
        print(
            f"  {format_time(row.time)}  {row.state.power_state or 'deleted':<12} {row.evidence.source:<9} "
            f"{row.evidence.operation_name}"
        )
    return 0


def _reconcile(args: argparse.Namespace, app: Root) -> int:
    ledger = app.ledger()
    if args.from_file:
        listings = load_saved_listings(Path(args.from_file), args.subscription)
        reports = [reconcile_subscription(ledger, saved.subscription, saved.pages()) for saved in listings]
    else:
        arm = app.arm()
        reports = reconcile_subscriptions(ledger, arm, args.subscription or app.subscriptions)
        adopted = [vm for report in reports for vm in report.adopted]
        backfill_adopted(ledger, arm, adopted, days=app.backfill_days, max_vms=app.backfill_max_vms)
    for report in reports:
        print(report.summary())
    return 1 if any(report.failure for report in reports) else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m shared.cli", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(required=True)
    replay = commands.add_parser("replay", help="record saved events (Event Grid or CloudEvents JSON)")
    replay.add_argument("files", nargs="+")
    replay.set_defaults(run=_replay)
    show = commands.add_parser("show", help="VMs and billed hours, or one VM's transitions")
    show.add_argument("vm", nargs="?", help="a VM resource id")
    show.add_argument("--from", dest="start", help="window start (ISO-8601), default 24 h before --to")
    show.add_argument("--to", help="window end (ISO-8601), default now")
    show.set_defaults(run=_show)
    reconcile = commands.add_parser("reconcile", help="reconcile with List All (or a saved listing)")
    reconcile.add_argument("--subscription", action="append", default=[], help="repeatable")
    reconcile.add_argument(
        "--from-file",
        help="a saved List All response (one page or an array of pages), or an object mapping "
        "subscription ids to arrays of VMs such as samples/list-all.json",
    )
    reconcile.set_defaults(run=_reconcile)
    add_findings_and_backfill(commands)
    return parser
