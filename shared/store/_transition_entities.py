"""Transition rows to Table entities and back (private).

Rows are written compact since issue 24 (``_compact``, the ``COMPACT_`` columns of ``_columns``): about
a third of the bytes Azure counts for the columns they were written in before, which every older row still
holds and reads back from exactly as it always did (``wide_transition_entity`` writes that layout, for
tests and the storage bench). Every source's evidence goes in the same places whatever the source: the
source, its id and operation; then the event type, correlation id, cause and ``changedAfter``, empty when
it has none.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared.domain.evidence import (
    ActivityLogRecord,
    Evidence,
    HealthAnnotation,
    ListingObservation,
    ResourceEvent,
    Source,
)
from shared.domain.health import Cause
from shared.domain.times import format_time, parse_time
from shared.domain.vm_state import Change
from shared.store import _columns as column
from shared.store._compact import (
    full_key,
    long_name,
    policy_label,
    policy_mask,
    short_key,
    short_name,
    source_letter,
    source_of,
)
from shared.store._entities import Entity, etag_of, required_state, state_fields, state_from, time_or_none
from shared.store._keys import split_transition_key
from shared.store._month_rows import state_code, state_from_code
from shared.store._records import TransitionRow

# ---- transition rows -----------------------------------------------------------------------------------


def _evidence_fields(evidence: Evidence) -> Entity:
    event_type = correlation_id = cause = changed_after = None
    match evidence:
        case ResourceEvent():
            event_type, correlation_id = evidence.event_type, evidence.correlation_id
        case ActivityLogRecord():
            correlation_id = evidence.correlation_id
        case ListingObservation():
            changed_after = evidence.changed_after
        case HealthAnnotation():
            event_type, cause = evidence.event_type, evidence.cause.value
    return {
        column.SOURCE: evidence.source.value,
        column.EVENT_ID: evidence.id,
        column.EVENT_TYPE: event_type or "",
        column.OPERATION_NAME: evidence.operation_name,
        column.CHANGED_AFTER: format_time(changed_after) if changed_after else "",
        column.CORRELATION_ID: correlation_id or "",
        column.CAUSE: cause or "",
    }


def _evidence_from(entity: Mapping[str, Any]) -> Evidence:
    source, evidence_id = entity[column.SOURCE], entity[column.EVENT_ID]
    operation_name = entity.get(column.OPERATION_NAME, "")
    event_type = entity.get(column.EVENT_TYPE) or None
    correlation_id = entity.get(column.CORRELATION_ID) or None
    if source == Source.EVENT:
        return ResourceEvent(evidence_id, operation_name, event_type, correlation_id)
    if source == Source.RECONCILE:
        changed_after = time_or_none(entity.get(column.CHANGED_AFTER))
        return ListingObservation(evidence_id, operation_name, changed_after)
    if source == Source.ACTIVITY_LOG:
        return ActivityLogRecord(evidence_id, operation_name, correlation_id)
    if source == Source.HEALTH:
        return HealthAnnotation(evidence_id, operation_name, Cause(entity[column.CAUSE]), event_type)
    raise ValueError(f"ledger row {entity.get('RowKey')!r} has an unknown source {source!r}")


def transition_entity(row: TransitionRow, partition: str) -> Entity:
    """The row as written since issue 24: compact (``_compact``); the time is the RowKey's."""
    entity: Entity = {
        "PartitionKey": partition,
        "RowKey": row.key,
        column.COMPACT_STATE: state_code(row.state),
        column.COMPACT_CHANGE: _change_code(row.change),
        column.COMPACT_POLICY: policy_mask(row.billing_policy),
        column.COMPACT_EVIDENCE: _evidence_code(row.evidence),
    }
    parts = split_transition_key(row.key)
    if parts is None or parts[1][:_TIME_WIDTH] != format_time(row.time):
        entity[column.TIME] = format_time(row.time)  # only when the key does not say it (never, recording)
    if row.state.since != row.time:
        entity[column.COMPACT_SINCE] = format_time(row.state.since)
    if row.prev is not None:
        entity[column.COMPACT_PREV] = state_code(row.prev)
        entity[column.COMPACT_PREV_SINCE] = format_time(row.prev.since)
    if row.prev_key is not None:
        entity[column.COMPACT_PREV_KEY] = short_key(row.prev_key, row.key)
    return entity


def transition_from_entity(entity: Mapping[str, Any]) -> TransitionRow:
    """A transition row, compact or in the columns rows were written in before (read as they always were)."""
    if column.COMPACT_STATE not in entity:
        return _wide_transition_from(entity)
    key = entity["RowKey"]
    time = parse_time(entity[column.TIME]) if column.TIME in entity else transition_time(key)
    since = entity.get(column.COMPACT_SINCE)
    state = state_from_code(entity[column.COMPACT_STATE], parse_time(since) if since else time)
    if state is None:
        raise ValueError(f"ledger row {key!r} has no state")
    prev = None
    if column.COMPACT_PREV in entity:
        prev = state_from_code(entity[column.COMPACT_PREV], parse_time(entity[column.COMPACT_PREV_SINCE]))
    prev_key = entity.get(column.COMPACT_PREV_KEY)
    return TransitionRow(
        key=key,
        time=time,
        change=_change_from(entity[column.COMPACT_CHANGE]),
        prev=prev,
        state=state,
        evidence=_evidence_from_code(entity[column.COMPACT_EVIDENCE], key),
        billing_policy=policy_label(entity[column.COMPACT_POLICY]),
        etag=etag_of(entity),
        prev_key=None if prev_key is None else full_key(prev_key, key),
    )


def transition_time(key: str) -> datetime:
    """The time a transition key holds (fixed width, before the id hash)."""
    parts = split_transition_key(key)
    if parts is None:
        raise ValueError(f"ledger row {key!r} is not a transition key")
    return parse_time(parts[1][:_TIME_WIDTH])


_HIBERNATES, _DELETES, _CREATES = 1, 2, 4
_TIME_WIDTH = 27  # ``format_time``'s


def _change_code(change: Change) -> str:
    flags = (
        (_HIBERNATES if change.hibernated else 0)
        | (_DELETES if change.deletes else 0)
        | (_CREATES if change.creates else 0)
    )
    return json.dumps([change.provisioning_state, change.power_state or "", flags], separators=(",", ":"))


def _change_from(code: str) -> Change:
    provisioning, power, flags = json.loads(code)
    return Change(
        provisioning_state=provisioning,
        power_state=power or None,
        hibernated=bool(flags & _HIBERNATES),
        deletes=bool(flags & _DELETES),
        creates=bool(flags & _CREATES),
    )


def _evidence_code(evidence: Evidence) -> str:
    wide = _evidence_fields(evidence)
    values = [
        source_letter(evidence.source),
        evidence.id,
        short_name(evidence.operation_name),
        short_name(wide[column.EVENT_TYPE]),
        wide[column.CORRELATION_ID],
        wide[column.CAUSE],
        wide[column.CHANGED_AFTER],
    ]
    while values and values[-1] == "":
        values.pop()
    return json.dumps(values, separators=(",", ":"))


def _evidence_from_code(code: str, key: str) -> Evidence:
    values = json.loads(code) + [""] * 7
    source, evidence_id, operation, event_type, correlation_id, cause, changed_after = values[:7]
    return _evidence_from({
        column.SOURCE: source_of(source).value,
        column.EVENT_ID: evidence_id,
        column.OPERATION_NAME: long_name(operation),
        column.EVENT_TYPE: long_name(event_type),
        column.CORRELATION_ID: correlation_id,
        column.CAUSE: cause,
        column.CHANGED_AFTER: changed_after,
        "RowKey": key,
    })  # fmt: skip


def wide_transition_entity(row: TransitionRow, partition: str) -> Entity:
    """The row in the columns the ledger wrote before issue 24 (what older rows hold)."""
    entity: Entity = {
        "PartitionKey": partition,
        "RowKey": row.key,
        column.TIME: format_time(row.time),
        column.BILLING_POLICY: row.billing_policy,
        column.CHANGE_PROVISIONING_STATE: row.change.provisioning_state,
        column.CHANGE_POWER_STATE: row.change.power_state or "",
        column.CHANGE_HIBERNATED: row.change.hibernated,
        column.CHANGE_DELETES: row.change.deletes,
        column.CHANGE_CREATES: row.change.creates,
        **_evidence_fields(row.evidence),
    }
    if row.prev_key is not None:
        entity[column.PREV_KEY] = row.prev_key
    entity.update(state_fields(column.STATE, row.state))
    entity.update(state_fields(column.PREV, row.prev))
    return entity


def _wide_transition_from(entity: Mapping[str, Any]) -> TransitionRow:
    return TransitionRow(
        key=entity["RowKey"],
        time=parse_time(entity[column.TIME]),
        change=Change(
            provisioning_state=entity[column.CHANGE_PROVISIONING_STATE],
            power_state=entity.get(column.CHANGE_POWER_STATE) or None,
            hibernated=bool(entity.get(column.CHANGE_HIBERNATED)),
            deletes=bool(entity.get(column.CHANGE_DELETES)),
            creates=bool(entity.get(column.CHANGE_CREATES)),
        ),
        prev=state_from(column.PREV, entity),
        state=required_state(entity),
        evidence=_evidence_from(entity),
        billing_policy=entity.get(column.BILLING_POLICY, ""),
        etag=etag_of(entity),
        prev_key=entity.get(column.PREV_KEY),
    )
