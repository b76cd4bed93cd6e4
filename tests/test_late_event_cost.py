"""What a late event reads: the cause of the current condition is read back only when the rewrite cannot
know it (``_tail_writer._cause_known``), and is the same either way.

Round trips are counted on the wire by the counting proxy in front of Azurite: counts, not timings.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devtools.events import at, vm_id, wire_event
from devtools.faultproxy import FaultProxy
from shared.domain.evidence import Origin
from shared.domain.ids import parse_vm_id
from shared.jobs import handle_event
from shared.settings import STORAGE_CONNECTION, read_settings
from shared.sources import inbound_from_json
from shared.store import Ledger
from shared.store.tables import open_ledger

pytestmark = pytest.mark.azurite

RESOURCE = vm_id("late-cost")


@pytest.fixture
def counted(azurite, ledger_env, monkeypatch) -> Iterator[tuple[FaultProxy, Ledger]]:
    """A ledger on this test's table, through the counting proxy, warm (its cache holds the VM)."""
    with FaultProxy(azurite.port, queue_port=azurite.queue_port) as proxy:
        monkeypatch.setenv(STORAGE_CONNECTION, proxy.connection_string)
        ledger = open_ledger(read_settings())
        for verb, hour in [("write", 1), ("deallocate", 3), ("start", 5), ("powerOff", 9)]:
            deliver(ledger, verb, hour)
        yield proxy, ledger


def deliver(ledger: Ledger, verb: str, hours: float) -> None:
    handle_event(inbound_from_json(wire_event(verb, at(hours=hours), resource_id=RESOURCE)), ledger)


def cause_of(ledger: Ledger) -> Origin | None:
    current = ledger.get_current(parse_vm_id(RESOURCE))
    assert current is not None
    return current.condition.cause


def test_a_late_event_before_the_current_condition_does_not_read_its_cause_back(counted):
    proxy, ledger = counted
    before = cause_of(ledger)
    proxy.reset_counts()
    deliver(ledger, "restart", 4)  # between the deallocate and the start: the rewrite stops at the start
    assert proxy.counts() == {"point_read": 1, "query": 1, "batch": 1}
    assert cause_of(ledger) == before
    assert before is not None and before.operation_name is not None
    assert before.operation_name.endswith("powerOff/action")


def test_a_late_event_inside_the_current_condition_reads_its_cause_back_and_keeps_it(counted):
    proxy, ledger = counted
    deliver(ledger, "powerOff", 11)  # again: the VM stays stopped since 09:00
    before = cause_of(ledger)
    proxy.reset_counts()
    deliver(ledger, "powerOff", 10)  # late, after 09:00: the rewrite never saw the row that began it
    assert proxy.counts()["query"] == 2  # the first page, and the read-back of the rows at 09:00
    assert cause_of(ledger) == before
