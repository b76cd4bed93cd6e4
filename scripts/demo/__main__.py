"""``python -m scripts.demo``: start Azurite and the loopback fakes, run the scenario, stop what started."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

from devtools.azurite import PERSISTENT_LOCATION, STANDARD_TABLE_PORT, Azurite, PortBusyError
from devtools.fake_topic import FakeTopic
from scripts.demo import QUEUE, ROOT, SAMPLES, TABLE, TOPIC_KEY
from scripts.demo.scenario import ScaleSetDay, run
from scripts.demo.setup import (
    bill_of,
    clear_subscription,
    configure,
    shift_events,
    shift_to,
    shifted_activity_log,
    start_fake,
    stop,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.demo", description="make demo")
    parser.add_argument(
        "--azurite-port",
        type=int,
        default=STANDARD_TABLE_PORT,
        help="Azurite table port (default 10002, the one make serve uses)",
    )
    parser.add_argument("--azurite-queue-port", type=int, default=None,
                        help="Azurite queue port (default: the table port - 1, i.e. 10001)")  # fmt: skip
    parser.add_argument(
        "--azurite-location",
        type=Path,
        default=PERSISTENT_LOCATION,
        help="folder of Azurite's data (default .azurite/)",
    )
    parser.add_argument("--snapshot", type=Path, default=ROOT / "demo-timeline.html",
                        help="where to write the static timeline page")  # fmt: skip
    options = parser.parse_args(argv)
    from shared.domain.times import utc_now

    events = json.loads((SAMPLES / "events-day.json").read_text())
    now = utc_now()
    shift = shift_to(events, now - timedelta(minutes=10))
    listing_file = SAMPLES / "list-all.json"
    subscription = next(iter(json.loads(listing_file.read_text())))
    try:
        azurite = Azurite.persistent(
            options.azurite_port, options.azurite_location, queue_port=options.azurite_queue_port
        )
    except (PortBusyError, OSError, RuntimeError) as err:
        print(f"Cannot start Azurite: {err}", file=sys.stderr)
        return 1
    with azurite:
        print(f"{azurite.describe()}, table {TABLE}, queue {QUEUE}, data in {options.azurite_location}")
        with tempfile.TemporaryDirectory() as folder:
            activity_file = Path(folder) / "activity-log.json"
            activity_file.write_text(json.dumps(shifted_activity_log(shift)))
            scale_sets = Path(folder) / "scale-sets.json"
            scale_sets.write_text((SAMPLES / "scale-sets.json").read_text())
            bill_file = Path(folder) / "bill.json"
            billed_day = (now - timedelta(days=2)).date()  # Cost Management is a day late, and revised
            bill_file.write_text(
                json.dumps(bill_of(json.loads(listing_file.read_text()), billed_day.isoformat()))
            )
            fake_arm, arm_url = start_fake(
                "devtools.fake_arm", "--listing", listing_file, "--activity-log", activity_file,
                "--scale-sets", scale_sets, "--attached", SAMPLES / "attached.json", "--bill", bill_file,
            )  # fmt: skip
            fake_prices, prices_url = start_fake(
                "devtools.fake_prices", "--catalogue", SAMPLES / "retail-prices.json"
            )
            topic = FakeTopic(TOPIC_KEY).start()  # in this process: the demo reads what it received
            try:
                configure(azurite, arm_url, prices_url, subscription, topic.endpoint)
                clear_subscription(subscription)
                scale_set_day = ScaleSetDay(
                    json.loads((SAMPLES / "scale-set-day.json").read_text()), scale_sets
                )
                status = run(
                    shift_events(events, shift), now, shift, arm_url, options.snapshot, scale_set_day, topic
                )
            finally:
                topic.stop()
                stop(fake_arm)
                stop(fake_prices)
                print(f"Stopped the fake ARM (pid {fake_arm.pid}) and prices API (pid {fake_prices.pid}).")
    if azurite.owned():
        print(f"Stopped Azurite ({', '.join(azurite.owned())}); its data stays for `make serve`.")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
