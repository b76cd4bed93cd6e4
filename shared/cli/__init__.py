"""The command line: replay saved events, show VMs, reconcile, findings, backfill; and the demo's tables
and snapshot."""

from shared.cli.commands import main
from shared.cli.findings import FINDING_HEADERS, finding_rows
from shared.cli.snapshot import write_snapshot
from shared.cli.tables import VM_TABLE_HEADERS, power_label, print_table, vm_table

__all__ = [
    "FINDING_HEADERS",
    "VM_TABLE_HEADERS",
    "finding_rows",
    "main",
    "power_label",
    "print_table",
    "vm_table",
    "write_snapshot",
]
