"""`make demo`: the whole product on a laptop, no Azure account.

Uses the persistent Azurite of ``make serve`` (table 127.0.0.1:10002 and queue 10001, data in
``.azurite/``; started here if it is not running, reused if it is), replays the sample day of ARM events
through the real ``on_vm_event`` into table ``vmledger``, asks the real HTTP functions for each VM's state
and billed hours, then runs the real ``reconcile_vms`` timer against a loopback fake of List All (on a
free port) that knows what no event said (a guest shutdown, VMs created before the tool, whose history
the same fake serves as an Activity Log for the backfill of adopted VMs), and prints the findings. A
small Uniform scale set is created, scaled out, partly deallocated and scaled in: ``on_vm_event`` queues
each scale-set event and the real ``record_scale_set_event`` takes it from the queue as the host would
(``devtools.queue_host``) and lists the set's instances from the same fake, which the demo moves along
with the events (``samples/scale-set-day.json``).
The same timer run lists the VM models (size, OS, priority, tags) and fetches retail prices from a
loopback fake of the Retail Prices API, so the corrected table has an estimated cost column, followed by
one chargeback table by tag.
Everything it started is stopped by pid at the end; the ledger stays, so ``make serve`` shows it afterwards.

The sample day is moved so that its last event happened ten minutes ago, so "today" means something.
Because of that move a rerun would add a second, shifted copy of the day, so each run first deletes the
sample subscription's partition (only that one: events posted to ``make serve`` for other subscriptions
stay), which makes reruns give the same table.

The package's modules: ``__main__`` (the command: Azurite and the fakes started, then stopped),
``setup`` (the sample day moved to now, the fakes, the app's settings, a clean partition), ``scenario``
(what is done to the app, step by step) and ``presentation`` (what is printed of its answers).
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
TABLE = "vmledger"  # the default table, so `make serve` and test.http see the demo's ledger
# Not the default queue: a `make serve` running on the same Azurite polls that one, and its queue function
# would list the scale set from another ARM endpoint than the demo's fake. The demo runs its own.
QUEUE = "vmledger-demo-scale-sets"
CURRENCY = "USD"
TOPIC_KEY = "demo-topic-key"  # the loopback findings topic's key
BASE_URL = "http://127.0.0.1:7071/api"
