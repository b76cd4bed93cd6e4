"""Stored rows read back as they always have: no data migration when the records change shape.

``tests/data/row_formats.json`` holds stored entities (every row of the golden sample day, rows of each
source of evidence and each optional column as the ledger writes them, and rows in older formats that
lack columns added since) with the record the ledger read from each before the records were reshaped
(captured then, field by field). Each must read back to the same values today, and a row the ledger
wrote then must be written again exactly as it is stored.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any

import pytest

from shared.store._entities import (
    current_entity,
    current_from_entity,
    transition_entity,
    transition_from_entity,
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


def _case_id(case: dict[str, Any]) -> str:
    return f"{case['kind']}, {case['origin']}: {case['entity']['RowKey']}"


@pytest.mark.parametrize("case", CASES, ids=[_case_id(case) for case in CASES])
def test_a_stored_row_reads_back_as_it_always_has(case):
    entity = case["entity"]
    if case["kind"] == "transition":
        record = transition_from_entity(entity)
        again = transition_entity(record, entity["PartitionKey"])
    else:
        record = current_from_entity(entity)
        again = current_entity(record)
    assert _plain(record) == case["record"]
    if case["writes_back_the_same"]:
        assert again == entity


def test_the_fixture_covers_every_source_and_optional_column():
    sources = {case["entity"]["source"] for case in CASES if case["kind"] == "transition"}
    assert sources == {"event", "reconcile", "health", "activityLog"}
    columns = {column for case in CASES if case["kind"] == "current" for column in case["entity"]}
    assert {"memberOf", "instanceOf", "causeSource", "lastConfirmed", "activityLogUntil", "pendingFrom",
            "monthOpen", "inventoryAt", "tags"} <= columns  # fmt: skip
    assert any(not case["writes_back_the_same"] for case in CASES)  # older formats are there too
