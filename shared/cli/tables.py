"""Aligned text tables of VMs for the terminal (the CLI and the demo)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from shared.answers import iter_all, vm_report, vms_page
from shared.domain.ids import VmId
from shared.domain.times import format_time
from shared.store import Ledger


def vm_table(ledger: Ledger, start: datetime, end: datetime, as_of: datetime) -> list[dict[str, str]]:
    """One row per VM in the ledger: state, since when, billed hours in ``[start, end)``."""
    rows = []
    for current in iter_all(lambda after: vms_page(ledger, None, None, 1000, after)):
        totals = vm_report(ledger, current.vm, start, end, as_of).totals
        state = current.condition.state
        rows.append(
            {
                "vm": vm_label(current.vm),
                "power": power_label(state.power_state, state.hibernated, state.deleted),
                "provisioning": state.provisioning_state or "",
                "billable": "yes" if state.billable else "no",
                "since": format_time(state.since)[:19].replace("T", " "),
                "billed_h": f"{totals.billed_seconds / 3600:.2f}",
                "unknown_h": f"{totals.unknown_seconds / 3600:.2f}",
            }
        )
    return rows


def vm_label(vm: VmId) -> str:
    """``rg-app/web-01``; an instance by the name Azure shows, ``rg-app/web-ss_1`` (as ``vmName``)."""
    return f"{vm.resource_group}/{vm.display_name}"


def power_label(power_state: str | None, hibernated: bool, deleted: bool) -> str:
    """``deallocated (hibernated)``, ``running``, ``deleted``: the power column of a VM table."""
    if deleted:
        return "deleted"
    return (power_state or "") + (" (hibernated)" if hibernated else "")


def print_table(
    rows: list[dict[str, str]],
    headers: dict[str, str],
    marked: Callable[[dict[str, str]], bool] | None = None,
) -> None:
    """Aligned columns; with ``marked``, a leading ``*`` column flags the rows it selects."""
    widths = {key: max([len(title)] + [len(row[key]) for row in rows]) for key, title in headers.items()}
    blank = "   " if marked else ""
    print(blank + "  ".join(title.ljust(widths[key]) for key, title in headers.items()))
    print(blank + "  ".join("-" * widths[key] for key in headers))
    for row in rows:
        margin = (" * " if marked(row) else "   ") if marked else ""
        print(margin + "  ".join(row[key].ljust(widths[key]) for key in headers))


VM_TABLE_HEADERS = {
    "vm": "VM",
    "power": "POWER STATE",
    "provisioning": "PROVISIONING",
    "billable": "BILLING NOW",
    "since": "SINCE (UTC)",
    "billed_h": "BILLED H",
    "unknown_h": "UNKNOWN H",
}
