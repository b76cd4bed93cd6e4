"""The fake ARM as a command (for the demo): it serves a JSON listing file ``{"<subscriptionId>": [vm,
...]}``, re-read at the start of every listing so the demo can change VM states between two reconciles::

    python -m devtools.fake_arm --port 0 --listing listing.json [--scale-sets scale-sets.json]

``bill.json`` (``--bill``) holds Cost Management's daily rows the fake's Query API answers with (see
``cost_management.load_bill_file``).

``scale-sets.json`` is ``{"<subscriptionId>": [{"scaleSet": {...}, "instances": [...]}, ...]}`` (see
``make_scale_set`` and ``make_instance``), re-read at the start of every scale set listing too.

It prints the URL it serves on as its first line and stops cleanly on SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from devtools.fake_arm.cost_management import load_bill_file
from devtools.fake_arm.server import FakeArm
from devtools.fake_arm.state import Faults
from devtools.loopback import wait_for_stop_signal


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devtools.fake_arm", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument(
        "--listing", type=Path, required=True, help='JSON file {"<subscriptionId>": [vm, ...]}'
    )
    parser.add_argument(
        "--scale-sets",
        type=Path,
        help='JSON file {"<subscriptionId>": [{"scaleSet": ..., "instances": [...]}]}',
    )
    parser.add_argument("--page-size", type=int, default=100, help="VMs per page (default 100)")
    parser.add_argument(
        "--activity-log", type=Path, help='JSON file {"<subscriptionId>": [Activity Log record, ...]}'
    )
    parser.add_argument(
        "--bill",
        type=Path,
        help='JSON file {"<subscriptionId>": {"ActualCost": [line, ...], ...}} (Cost Management)',
    )
    parser.add_argument(
        "--attached",
        type=Path,
        help='JSON file {"<subscriptionId>": {"disks": [...], "networkInterfaces": [...], ...}}',
    )
    parser.add_argument("--throttle-first", type=int, default=0, help="answer 429 to the first N requests")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Serve a listing file until SIGTERM; print the URL first so the caller can read it."""
    args = _parse_args(argv)
    faults = Faults(throttle_first=args.throttle_first)
    with FakeArm(
        page_size=args.page_size,
        faults=faults,
        listing_file=args.listing,
        port=args.port,
        scale_set_file=args.scale_sets,
        activity_log_file=args.activity_log,
        attached_file=args.attached,
    ) as fake:
        if args.bill is not None:
            load_bill_file(args.bill, fake.costs)
        wait_for_stop_signal(ready=lambda: print(fake.url, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
