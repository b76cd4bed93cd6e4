"""The fake Retail Prices API as a command (for the demo): it serves a JSON catalogue file (an array of
items)::

    python -m devtools.fake_prices --port 0 --catalogue samples/retail-prices.json

It prints the URL it serves on as its first line and stops cleanly on SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from devtools.fake_prices.server import FakePrices
from devtools.loopback import wait_for_stop_signal


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.fake_prices", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--catalogue", type=Path, required=True, help="JSON array of price items")
    parser.add_argument("--page-size", type=int, default=100)
    args = parser.parse_args(argv)
    items = json.loads(args.catalogue.read_text(encoding="utf-8"))
    with FakePrices(items, page_size=args.page_size, port=args.port) as fake:
        wait_for_stop_signal(ready=lambda: print(fake.url, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
