"""Stored rows read back as they always have: no data migration when the records change shape.

``tests/data/row_formats.json`` holds stored entities (every row of the golden sample day, rows of each
source of evidence and each optional column as the ledger writes them, and rows in older formats that
lack columns added since) with the record the ledger read from each before transitions held one record
per source of evidence and current rows grouped their fields (captured then, field by field, at commit
7e6b168). Each must read back to the same values today (``_as_before`` says where each field of then is
now), and a row the ledger wrote then must be written again exactly as it is stored.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any

import pytest

from shared.domain.evidence import ActivityLogRecord, HealthAnnotation, ListingObservation, ResourceEvent
from shared.domain.ids import VmId
from shared.store import CurrentRow, TransitionRow
from shared.store._entities import current_entity, current_from_entity
from shared.store._transition_entities import (
    transition_entity,
    transition_from_entity,
    wide_transition_entity,
)

FORMATS = json.loads((Path(__file__).parent / "data" / "row_formats.json").read_text(encoding="utf-8"))
CASES = FORMATS["cases"]


def _plain(value: Any) -> Any:
    """A record as the fixture keeps it: dataclasses as objects, times in ISO 8601, enums as values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: _plain(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if hasattr(value, "items"):
        return {key: _plain(item) for key, item in value.items()}
    return value


def _vm_as_before(vm: VmId) -> dict[str, Any]:
    return {
        "subscription_id": vm.subscription_id,
        "resource_group": vm.resource_group,
        "name": vm.name,
        "scale_set": vm.scale_set_name,
    }


def _transition_as_before(row: TransitionRow) -> dict[str, Any]:
    """A transition row with the fields it had when every source's fields were on the row itself."""
    evidence = row.evidence
    event_type = correlation_id = cause = changed_after = None
    match evidence:
        case ResourceEvent():
            event_type, correlation_id = evidence.event_type, evidence.correlation_id
        case ActivityLogRecord():
            correlation_id = evidence.correlation_id
        case ListingObservation():
            changed_after = evidence.changed_after
        case HealthAnnotation():
            event_type, cause = evidence.event_type, evidence.cause
    return _plain(
        {
            "key": row.key,
            "time": row.time,
            "change": row.change,
            "prev": row.prev,
            "state": row.state,
            "source": evidence.source,
            "event_id": evidence.id,
            "operation_name": evidence.operation_name,
            "event_type": event_type,
            "billing_policy": row.billing_policy,
            "changed_after": changed_after,
            "etag": row.etag,
            "correlation_id": correlation_id,
            "cause": cause,
            "prev_key": row.prev_key,
        }
    )


def _current_as_before(row: CurrentRow) -> dict[str, Any]:
    """A current row with the flat fields it had before they were grouped."""
    condition, span, profile, upkeep = row.condition, row.span, row.profile, row.upkeep
    cause = condition.cause
    return _plain(
        {
            "vm": _vm_as_before(row.vm),
            "state": condition.state,
            "billing_policy": condition.billing_policy,
            "first_key": span.first_key,
            "first_time": span.first_time,
            "last_key": span.last_key,
            "last_time": span.last_time,
            "etag": row.etag,
            "member_of": profile.scale_set_id,
            "last_cause_source": cause.source if cause else None,
            "last_cause_operation": cause.operation_name if cause else None,
            "last_confirmed": upkeep.last_confirmed,
            "activity_log_until": upkeep.activity_log_until,
            "pending": upkeep.pending,
            "months": upkeep.months,
            "spec": profile.spec,
            "spec_at": profile.spec_at,
        }
    )


def _case_id(case: dict[str, Any]) -> str:
    return f"{case['kind']}, {case['origin']}: {case['entity']['RowKey']}"


@pytest.mark.parametrize("case", CASES, ids=[_case_id(case) for case in CASES])
def test_a_stored_row_reads_back_as_it_always_has(case):
    entity = case["entity"]
    if case["kind"] == "transition":
        transition = transition_from_entity(entity)
        read, again = (
            _transition_as_before(transition),
            wide_transition_entity(transition, entity["PartitionKey"]),
        )
        # Written again today, the row is compact, and reads back to the same record.
        compact = transition_entity(transition, entity["PartitionKey"])
        assert _transition_as_before(transition_from_entity(compact)) == case["record"]
    else:
        current = current_from_entity(entity)
        read, again = _current_as_before(current), current_entity(current)
    assert read == case["record"]
    if case["writes_back_the_same"]:
        assert again == entity


def test_the_fixture_covers_every_source_and_optional_column():
    sources = {case["entity"]["source"] for case in CASES if case["kind"] == "transition"}
    assert sources == {"event", "reconcile", "health", "activityLog"}
    columns = {column for case in CASES if case["kind"] == "current" for column in case["entity"]}
    assert {"memberOf", "instanceOf", "causeSource", "lastConfirmed", "activityLogUntil", "pendingFrom",
            "monthOpen", "inventoryAt", "tags"} <= columns  # fmt: skip
    assert any(not case["writes_back_the_same"] for case in CASES)  # older formats are there too
