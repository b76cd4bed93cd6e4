"""Storage-free tests of the write planning: appends, the row-by-row re-derivation of later rows, the
anchor read off a successor, and how writes are cut into transactions with the ``Pending`` marker."""

from __future__ import annotations

from dataclasses import replace

import pytest
from azure.data.tables import TransactionOperation

from devtools.events import at, vm_id
from shared.domain.evidence import NewTransition, ResourceEvent
from shared.domain.ids import parse_vm_id
from shared.domain.vm_state import BillingPolicy, Change, state_before_first
from shared.store._keys import transition_key
from shared.store._records import (
    Condition,
    CurrentRow,
    Pending,
    Span,
    TransitionRow,
    new_transition_row,
    with_cause,
)
from shared.store._tail_plan import (
    BEFORE_FIRST,
    Anchor,
    TailDeriver,
    TransactionPlan,
    anchor_from_successor,
    settled_current,
)
from shared.store._transition_entities import transition_from_entity
from shared.store._write_plan import plan_append

POLICY = BillingPolicy.parse(None)
VM = parse_vm_id(vm_id())
CREATE = Change("Succeeded", creates=True)
START = Change("Succeeded", power_state="running")
DEALLOCATE = Change("Succeeded", power_state="deallocated")
UPDATE = Change("Succeeded", creates=True)  # a write on a known VM keeps its power state


def new(change: Change, hours: float, event_id: str | None = None) -> NewTransition:
    return NewTransition(VM, at(hours=hours), change, ResourceEvent(event_id or f"e{hours}", "op"))


def chain(*events: NewTransition) -> list[TransitionRow]:
    """The rows an in-order recording of ``events`` writes (each with a made-up ETag)."""
    rows: list[TransitionRow] = []
    anchor = Anchor(BEFORE_FIRST)
    for event in events:
        key = transition_key(VM, event.time, event.evidence.id)
        row = new_transition_row(
            event, key, anchor.state_before(event.change, event.time), POLICY, anchor.key
        )
        rows.append(replace(row, etag=f"etag-{key[-4:]}"))
        anchor = Anchor(key, row.state)
    return rows


def current_of(rows: list[TransitionRow]) -> CurrentRow:
    first, last = rows[0], rows[-1]
    span = Span(first.key, first.time, last.key, last.time)
    return CurrentRow(VM, Condition(last.state, POLICY.label), span, "etag-current")


def marked(current: CurrentRow, pending: Pending | None) -> CurrentRow:
    return replace(current, upkeep=replace(current.upkeep, pending=pending))


def test_an_append_names_the_row_before_it_and_a_new_vm_s_first_row_names_none():
    first = plan_append(new(CREATE, 1), "k1", None, POLICY)
    (_, row_entity), _month_row, _current = first.operations
    assert transition_from_entity(row_entity).prev_key == BEFORE_FIRST
    second = plan_append(new(DEALLOCATE, 2), "k2", first.current, POLICY)
    assert transition_from_entity(second.operations[0][1]).prev_key == "k1"
    assert second.current.span.last_key == "k2"


def test_the_successor_gives_the_state_before_a_key_only_when_it_names_a_row_before_it():
    rows = chain(new(CREATE, 1), new(DEALLOCATE, 3), new(START, 5))
    late = transition_key(VM, at(hours=2), "late")
    assert anchor_from_successor(late, rows[1]) == Anchor(rows[0].key, rows[0].state)
    # The successor was the VM's first row: nothing is recorded before the late key.
    early = transition_key(VM, at(hours=0.5), "early")
    assert anchor_from_successor(early, rows[0]) == Anchor(BEFORE_FIRST)
    # The successor's predecessor is the key itself (lost, now redelivered): it cannot say.
    assert anchor_from_successor(rows[1].key, rows[2]) is None
    # No successor, or one written before rows named their predecessor: look back instead.
    assert anchor_from_successor(late, None) is None
    assert anchor_from_successor(late, replace(rows[1], prev_key=None)) is None


def test_the_state_before_a_vm_s_first_row_depends_on_that_row():
    anchor = Anchor(BEFORE_FIRST)
    assert anchor.state_before(CREATE, at(hours=1)) is None
    assert anchor.state_before(DEALLOCATE, at(hours=1)) == state_before_first(DEALLOCATE, at(hours=1))


def test_a_late_event_rewrites_rows_until_one_comes_out_as_stored():
    rows = chain(
        new(CREATE, 1), new(UPDATE, 2), new(UPDATE, 3), new(START, 4), new(DEALLOCATE, 5), new(START, 6)
    )
    late = new(DEALLOCATE, 1.5)
    key = transition_key(VM, late.time, late.evidence.id)
    late_row = new_transition_row(late, key, rows[0].state, POLICY, rows[0].key)
    deriver = TailDeriver(Anchor(key, late_row.state), POLICY, stop_when_unchanged=True)
    written = []
    for row in rows[1:]:
        derived = deriver.step(row)
        if deriver.stopped:
            break
        written.append(derived)
    # Both updates now keep "deallocated", the 04:00 start runs since 04:00 (not 01:00), the 05:00
    # deallocate only gets a new "state before"; the 06:00 start comes out as stored: stop there.
    assert [row.key for row in written] == [row.key for row in rows[1:5]]
    assert written[0].prev_key == key and written[0].state.power_state == "deallocated"
    assert written[2].state.since == at(hours=4) and rows[3].state.since == at(hours=1)
    assert written[3].state == rows[4].state and written[3].prev != rows[4].prev
    assert deriver.stopped and deriver.last.key == rows[5].key
    assert all(row.etag == original.etag for row, original in zip(written, rows[1:], strict=False))


def test_a_repair_re_derives_to_the_end_and_fixes_a_wrong_state_before():
    rows = chain(new(CREATE, 1), new(DEALLOCATE, 2), new(START, 3))
    broken = [rows[0], replace(rows[1], prev=None, prev_key="lost"), rows[2]]
    deriver = TailDeriver(Anchor(BEFORE_FIRST), POLICY, stop_when_unchanged=False)
    results = [deriver.step(row) for row in broken]
    assert results[0] is None and results[2] is None
    assert results[1] == rows[1]
    assert not deriver.stopped and deriver.last == rows[2]


def test_settled_current_takes_the_end_state_unless_the_rewrite_stopped_or_the_last_row_is_missing():
    rows = chain(new(CREATE, 1), new(DEALLOCATE, 2))
    current = marked(
        replace(current_of(rows), condition=Condition(rows[0].state, POLICY.label)), Pending("x", "y")
    )
    ran_to_end = TailDeriver(Anchor(BEFORE_FIRST), POLICY, stop_when_unchanged=False)
    for row in rows:
        ran_to_end.step(row)
    # The deallocate began the end state: it is its cause, as findings read it.
    settled = with_cause(
        marked(replace(current, condition=Condition(rows[1].state, POLICY.label)), None), rows[1].origin
    )
    assert settled_current(current, ran_to_end, POLICY) == settled
    missing_last = replace(current, span=replace(current.span, last_key=rows[1].key + "z"))
    assert settled_current(missing_last, ran_to_end, POLICY) == marked(missing_last, None)


def op(index: int) -> tuple:
    return (TransactionOperation.UPDATE, {"RowKey": f"tx|{index:04d}"}, {})


def test_a_rewrite_that_fits_is_one_transaction_with_the_current_row_last_and_no_marker():
    current = marked(current_of(chain(new(CREATE, 1))), Pending("k", ""))
    plan = TransactionPlan(current)
    assert all(plan.add(op(i)) == [] for i in range(98))
    final = marked(current, None)
    (only,) = plan.finish(final, [op(999)])
    assert len(only.operations) == 99 and only.current == final and not only.retouch


@pytest.mark.parametrize("rows", [99, 100, 197, 198, 250])
def test_a_longer_rewrite_marks_the_current_row_first_and_clears_it_last(rows):
    with_marker = marked(current_of(chain(new(CREATE, 1))), Pending("k", ""))
    plan = TransactionPlan(with_marker)
    transactions = [t for i in range(rows) for t in plan.add(op(i))]
    final = marked(with_marker, None)
    transactions += plan.finish(final, [op(999)])
    first, last = transactions[0], transactions[-1]
    assert first.first and first.current == with_marker and len(first.operations) == 99
    assert all(t.current is None for t in transactions[1:-1])
    assert last.current == final and last.retouch and last.operations[-1] == op(999)
    for transaction in transactions:  # each within 100 entities: rows, a retouch, the current row
        assert len(transaction.operations) + transaction.retouch + (transaction.current is not None) <= 100
    written = [o for t in transactions for o in t.operations]
    assert written == [op(i) for i in range(rows)] + [op(999)]


def test_when_the_current_row_is_unchanged_and_verified_a_short_rewrite_leaves_it_alone():
    plan = TransactionPlan(current_of(chain(new(CREATE, 1))))
    plan.add(op(1))
    (only,) = plan.finish(None, [op(2)])
    assert only.current is None and only.operations == [op(1), op(2)]
    long_plan = TransactionPlan(current_of(chain(new(CREATE, 1))))
    for i in range(120):
        long_plan.add(op(i))
    with pytest.raises(ValueError):
        long_plan.finish(None, [])
