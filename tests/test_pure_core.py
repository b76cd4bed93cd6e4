"""The pure core without storage: window totals, segments, the entity round trip and write planning.

Each runs in milliseconds; the same behaviour is tested end to end on Azurite elsewhere.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal

import pytest
from azure.data.tables import TransactionOperation

from devtools.events import SUB, at
from shared.answers import priced_total
from shared.answers.timelines import segments_of
from shared.domain.accounting import stopped_billed_seconds, window_totals
from shared.domain.evidence import (
    ActivityLogRecord,
    HealthAnnotation,
    ListingObservation,
    NewTransition,
    Origin,
    ResourceEvent,
    Source,
)
from shared.domain.health import Cause
from shared.domain.ids import VmId
from shared.domain.operations import SUCCEEDED, change_for
from shared.domain.pricing import CostEstimate
from shared.domain.vm_state import BillingPolicy, Change, VmState
from shared.store import (
    Condition,
    CurrentRow,
    MonthsMark,
    Outcome,
    Pending,
    Span,
    TransitionRow,
    Upkeep,
    VmProfile,
)
from shared.store._entities import current_entity, current_from_entity
from shared.store._keys import transition_key
from shared.store._transition_entities import transition_entity, transition_from_entity
from shared.store._write_plan import plan_append, writes_current

POLICY = BillingPolicy.parse(None)
VM = VmId(SUB, "rg-App", "Web-01")


def state(power: str | None, since: datetime, *, deleted: bool = False, hibernated: bool = False) -> VmState:
    return VmState("Succeeded", power, hibernated, deleted, POLICY.is_billed(power), since)


# ---- window totals ---------------------------------------------------------------------------------------

H = 3600.0


@pytest.mark.parametrize(
    ("at_start", "changes", "billed", "unknown"),
    [
        (None, [], 0, 0),  # not there yet: nothing counts
        (state("running", at(0)), [], 10 * H, 0),
        (state("stopped", at(0)), [], 10 * H, 0),  # powered off but allocated: billed
        (state("deallocated", at(0)), [], 0, 0),
        (state("unknown", at(0)), [], 0, 10 * H),
        (state("running", at(0)), [(at(hours=4), state("deallocated", at(hours=4)))], 4 * H, 0),
        (None, [(at(hours=2), state("running", at(hours=2)))], 8 * H, 0),
        (state("running", at(0)), [(at(hours=3), state(None, at(hours=3), deleted=True))], 3 * H, 0),
        # A change before the window's start counts from the start; one after its end not at all.
        (state("deallocated", at(0)), [(at(hours=-1), state("running", at(hours=-1)))], 10 * H, 0),
        (state("running", at(0)), [(at(hours=12), state("deallocated", at(hours=12)))], 10 * H, 0),
        (state("unknown", at(0)), [(at(hours=1), state("running", at(hours=1)))], 9 * H, 1 * H),
    ],
)
def test_window_totals_sum_billed_and_unknown_time_inside_the_window(at_start, changes, billed, unknown):
    totals = window_totals(at_start, changes, at(0), at(hours=10))
    assert (totals.billed_seconds, totals.unknown_seconds) == (billed, unknown)


@pytest.mark.parametrize(
    ("at_start", "changes", "stopped"),
    [
        (None, [], 0),
        (state("running", at(0)), [], 0),  # billed, but for work
        (state("stopped", at(0)), [], 10 * H),  # allocated and off: paid for nothing
        (state("running", at(0)), [(at(hours=6), state("stopped", at(hours=6)))], 4 * H),
        (state("stopped", at(0)), [(at(hours=2), state("deallocated", at(hours=2)))], 2 * H),
        (state("unknown", at(0)), [(at(hours=5), state("stopped", at(hours=5)))], 5 * H),
    ],
)
def test_stopped_billed_seconds_count_only_the_billed_stopped_time(at_start, changes, stopped):
    assert stopped_billed_seconds(at_start, changes, at(0), at(hours=10)) == stopped


def test_a_total_of_estimates_is_null_when_none_has_a_price_never_zero():
    priced, unpriced = CostEstimate(Decimal("1.5"), "USD", None, None), CostEstimate(None, "USD", None, None)
    assert priced_total([unpriced, unpriced]) is None
    assert priced_total([priced, unpriced, priced]) == Decimal("3.0")


# ---- segments ----------------------------------------------------------------------------------------------


def row(key: str, when: datetime, new_state: VmState, prev: VmState | None = None) -> TransitionRow:
    return TransitionRow(
        key, when, Change("Succeeded"), prev, new_state, ResourceEvent(key, "op"), POLICY.label, None
    )


def test_segments_cover_the_window_from_the_state_at_its_start_to_its_end():
    rows = [
        row("a", at(hours=2), state("stopped", at(hours=2))),
        row("b", at(hours=5), state("running", at(5))),
    ]
    segments = segments_of(state("running", at(0)), rows, at(0), at(hours=8))
    assert [(s.start, s.end, s.state.power_state if s.state else None) for s in segments] == [
        (at(0), at(hours=2), "running"),
        (at(hours=2), at(hours=5), "stopped"),
        (at(hours=5), at(hours=8), "running"),
    ]
    assert [s.cause.key if s.cause else None for s in segments] == [None, "a", "b"]


def test_a_state_that_lasted_no_time_gets_no_segment():
    rows = [row("a", at(0), state("stopped", at(0))), row("b", at(0), state("running", at(0)))]
    segments = segments_of(None, rows, at(0), at(hours=1))
    assert [(s.start, s.end, s.cause.key if s.cause else None) for s in segments] == [
        (at(0), at(hours=1), "b")
    ]


# ---- the entity round trip -----------------------------------------------------------------------------


DEALLOCATE = "Microsoft.Compute/virtualMachines/deallocate/action"
HEALTH_TYPE = "Microsoft.ResourceNotifications.HealthResources.ResourceAnnotated"
CORRELATION = "c0000000-0000-4000-8000-000000000001"


@pytest.mark.parametrize(
    "evidence",
    [
        ResourceEvent("id-1", DEALLOCATE, "Microsoft.Resources.ResourceActionSuccess", CORRELATION),
        ResourceEvent("id-1/3", DEALLOCATE),  # an instance's share of a scale set event, as tests build it
        ActivityLogRecord("id-1", DEALLOCATE, CORRELATION),
        ActivityLogRecord("id-1", DEALLOCATE),
        ListingObservation("reconcile-id-1", "reconcile/listAll", changed_after=at(hours=1)),
        ListingObservation("reconcile-id-1", "reconcile/listAll"),  # a VM the ledger had never seen
        HealthAnnotation("id-1", "health/ResourceAnnotated/VirtualMachineStoppedInternally",
                         Cause.GUEST_SHUTDOWN, HEALTH_TYPE),
    ],
    ids=lambda evidence: type(evidence).__name__,
)  # fmt: skip
def test_a_transition_row_and_its_evidence_survive_its_table_entity_unchanged(evidence):
    original = TransitionRow(
        key=transition_key(VM, at(hours=2), evidence.id),
        time=at(hours=2, minutes=0.5),
        change=Change("Succeeded", "deallocated", hibernated=True),
        prev=state("running", at(hours=1)),
        state=state("deallocated", at(hours=2), hibernated=True),
        evidence=evidence,
        billing_policy=POLICY.label,
        etag=None,
        prev_key="tx|before",
    )
    entity = transition_entity(original, VM.subscription_key)
    assert (entity["PartitionKey"], entity["RowKey"], transition_from_entity(entity).evidence.source) == (
        SUB,
        original.key,
        evidence.source,
    )
    assert transition_from_entity(entity) == original


def test_a_listing_keeps_its_flexible_scale_set_on_the_current_row_not_with_the_transition():
    listed = ListingObservation("reconcile-x", "reconcile/listAll", scale_set_id="/subscriptions/x/flex")
    original = row(transition_key(VM, at(0), "x"), at(0), state("running", at(0)))
    entity = transition_entity(replace(original, evidence=listed), SUB)
    assert transition_from_entity(entity).evidence == replace(listed, scale_set_id=None)
    assert "/subscriptions/x/flex" not in entity.values()


def test_a_first_transition_without_a_state_before_it_round_trips_as_none():
    original = row(transition_key(VM, at(0), "x"), at(0), state("running", at(0)), prev=None)
    assert transition_from_entity(transition_entity(original, SUB)).prev is None


def test_a_current_row_survives_its_table_entity_with_the_casing_first_seen():
    span = Span("tx|a", at(0), "tx|b", at(3))
    original = CurrentRow(VM, Condition(state("stopped", at(hours=3)), POLICY.label), span, None)
    entity = current_entity(original)
    assert entity["RowKey"] == "vm|rg-app|web-01"
    assert current_from_entity(entity) == original


def test_every_part_of_a_current_row_survives_its_table_entity():
    original = CurrentRow(
        VmId(SUB, "rg-App", "3", "Web-SS"),
        Condition(state("stopped", at(hours=3)), POLICY.label, Origin(Source.HEALTH, "health/x")),
        Span("tx|a", at(0), "tx|b", at(3)),
        None,
        VmProfile(scale_set_id="/subscriptions/x/flex"),
        Upkeep(at(hours=4), at(hours=2), Pending("tx|b", "tx|a"), MonthsMark("2026-11", 2, "null")),
    )
    assert current_from_entity(current_entity(original)) == original


# ---- write planning ---------------------------------------------------------------------------------------


def new(verb: str, when: datetime, event_id: str, outcome: str = SUCCEEDED) -> NewTransition:
    return NewTransition(VM, when, change_for(verb, outcome), ResourceEvent(event_id, f"op/{verb}"))


def recorded(news: list[NewTransition]) -> tuple[CurrentRow, list[TransitionRow]]:
    """What the ledger holds after recording ``news`` in time order: its current row and transitions."""
    current: CurrentRow | None = None
    rows: list[TransitionRow] = []
    for item in news:
        plan = plan_append(item, transition_key(VM, item.time, item.evidence.id), current, POLICY)
        rows.append(transition_from_entity(plan.operations[0][1]))
        current = replace(plan.current, etag=f"etag-{len(rows)}")
    assert current is not None
    return current, rows


def test_the_first_event_of_a_vm_creates_both_rows_and_registers_its_subscription():
    plan = plan_append(new("write", at(hours=1), "e1"), "tx|k", None, POLICY)
    assert plan.registers_subscription and plan.outcome == Outcome.RECORDED
    # The transition, its month row (the VM's first: the state before it and its entry), the current row.
    assert [op[0] for op in plan.operations] == [
        TransactionOperation.CREATE, TransactionOperation.UPSERT, TransactionOperation.CREATE,
    ]  # fmt: skip
    assert writes_current(plan.operations[-1])
    assert plan.current.condition.state.power_state == "running"
    assert plan.current.upkeep.months is not None and plan.current.upkeep.months.count == 1


def test_an_event_after_the_last_appends_and_replaces_the_current_row_on_its_etag():
    current, _ = recorded([new("write", at(hours=1), "e1")])
    plan = plan_append(new("deallocate/action", at(hours=2), "e2"), "tx|later", current, POLICY)
    assert not plan.registers_subscription
    # The month row's entry rides in the same transaction, between the transition and the current row.
    assert [op[0] for op in plan.operations] == [
        TransactionOperation.CREATE, TransactionOperation.UPSERT, TransactionOperation.UPDATE,
    ]  # fmt: skip
    assert plan.operations[2][2]["etag"] == current.etag  # type: ignore[misc]
    assert plan.current.condition.state.power_state == "deallocated"


def test_an_event_after_a_rewrite_adds_no_month_row_until_the_timer_rebuilds_them():
    current, _ = recorded([new("write", at(hours=1), "e1")])
    stale = replace(current, upkeep=Upkeep())  # what a late event or a repair leaves
    plan = plan_append(new("deallocate/action", at(hours=2), "e2"), "tx|later", stale, POLICY)
    assert [op[0] for op in plan.operations] == [TransactionOperation.CREATE, TransactionOperation.UPDATE]
    assert plan.current.upkeep.months is None


# Late events and repairs are planned row by row: tests/test_tail_plan.py.
