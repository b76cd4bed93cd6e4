"""The loopback findings topic as a command (``make serve``): it prints each event it receives::

    python -m devtools.fake_topic --port 0 --key local-topic-key

Its first line is the endpoint to set as ``FINDINGS_TOPIC_ENDPOINT``; then one line per event (type,
subject, id) and its data as JSON. It stops cleanly on SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from devtools.fake_topic.server import FakeTopic
from devtools.loopback import wait_for_stop_signal


def print_event(event: dict[str, Any]) -> None:
    print(f"{event.get('type')} {event.get('subject')} id={event.get('id')}", flush=True)
    print("  " + json.dumps(event.get("data"), sort_keys=True), flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.fake_topic", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--key", default="local-topic-key", help="the aeg-sas-key the topic accepts")
    args = parser.parse_args(argv)
    with FakeTopic(args.key, port=args.port, on_event=print_event) as topic:
        print(topic.endpoint, flush=True)
        wait_for_stop_signal()
    return 0


if __name__ == "__main__":
    sys.exit(main())
