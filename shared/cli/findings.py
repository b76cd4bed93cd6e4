"""``findings`` and ``backfill``: the findings table, and history from the Activity Log.

python -m shared.cli findings [--kind stoppedButBilled] [--min-hours 2] [--subscription S]
python -m shared.cli backfill --days 90 [--subscription S] [--vm VM_RESOURCE_ID]
"""

from __future__ import annotations

import argparse
from typing import Any

from shared.answers import findings_page, iter_all
from shared.cli.tables import power_label, print_table, vm_label
from shared.context import Root
from shared.domain.findings import RULES, FindingKind, Thresholds
from shared.domain.ids import parse_vm_id
from shared.domain.times import format_time, utc_now
from shared.errors import InvalidInput
from shared.jobs import backfill_subscriptions, backfill_vms
from shared.store import Ledger
from shared.web.findings import MAX_MIN_HOURS

FINDING_HEADERS = {
    "kind": "FINDING",
    "vm": "VM",
    "power": "POWER STATE",
    "since": "SINCE (UTC)",
    "hours": "HOURS",
    "billed_h": "BILLED H SINCE",
    "how": "HOW",
}


def add_commands(commands: Any) -> None:
    """Register ``findings`` and ``backfill`` on the CLI's subparsers."""
    findings = commands.add_parser("findings", help="VMs to act on: " + ", ".join(RULES))
    findings.add_argument("--kind", action="append", choices=[kind.value for kind in RULES], default=[])
    findings.add_argument("--min-hours", type=float, help="minimum hours in state, for every kind")
    findings.add_argument("--subscription", help="one subscription")
    findings.set_defaults(run=_findings)
    backfill = commands.add_parser("backfill", help="record VM operations from the Activity Log")
    backfill.add_argument("--days", type=int, required=True, help="days back from now, 1 to 90")
    backfill.add_argument("--subscription", action="append", default=[], help="repeatable; default all")
    backfill.add_argument("--vm", action="append", default=[], help="a VM resource id; repeatable")
    backfill.set_defaults(run=_backfill)


def finding_rows(
    ledger: Ledger,
    kinds: list[FindingKind],
    min_hours: float | None,
    subscription: str | None,
    *,
    currency: str,
    thresholds: Thresholds,
) -> list[dict[str, str]]:
    """One row per finding, for the terminal (the demo prints the same table)."""
    if min_hours is not None:
        if not 0 <= min_hours <= MAX_MIN_HOURS:  # NaN fails every comparison; inf is above the bound
            raise InvalidInput("minHours", f"--min-hours must be a number of hours from 0 to {MAX_MIN_HOURS}")
        thresholds = thresholds.with_min_hours(min_hours)
    as_of = utc_now()
    items = iter_all(
        lambda after: findings_page(
            ledger,
            subscription,
            None,
            kinds=kinds,
            thresholds=thresholds,
            top=1000,
            after=after,
            as_of=as_of,
            currency=currency,
        )  # fmt: skip
    )
    rows = []
    for item in items:
        state, finding = item.current.condition.state, item.finding
        rows.append(
            {
                "kind": finding.kind.value,
                "vm": vm_label(item.current.vm),
                "power": power_label(state.power_state, state.hibernated, state.deleted),
                "since": format_time(finding.since)[:16].replace("T", " "),
                "hours": f"{finding.hours:.2f}",
                "billed_h": f"{finding.billed_hours:.2f}",
                "how": finding.reached_by.value if finding.reached_by else "",
            }
        )
    return rows


def _findings(args: argparse.Namespace, app: Root) -> int:
    kinds = [FindingKind(kind) for kind in args.kind] or list(RULES)
    rows = finding_rows(
        app.ledger(),
        kinds,
        args.min_hours,
        args.subscription,
        currency=app.currency,
        thresholds=app.thresholds,
    )
    if rows:
        print_table(rows, FINDING_HEADERS)
    else:
        print("no findings")
    return 0


def _backfill(args: argparse.Namespace, app: Root) -> int:
    ledger, client = app.ledger(), app.arm()
    if args.vm:
        vms = [parse_vm_id(text) for text in args.vm]
        if any(vm is None for vm in vms):
            raise InvalidInput("vm", "--vm must be a VM resource id")
        report = backfill_vms(ledger, client, [vm for vm in vms if vm is not None], days=args.days)
    else:
        report = backfill_subscriptions(ledger, client, args.subscription or None, days=args.days)
    print(report.summary())
    for failure in report.failures:
        print(f"  not backfilled: {failure}")
    return 1 if report.failures else 0
