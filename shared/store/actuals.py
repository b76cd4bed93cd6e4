"""Cost Management's actual cost per resource and UTC day, in the ledger table.

Partition ``actuals|<subscription>``: one row per resource and month, RowKey ``<resource key>|<YYYY-MM>``
(``vm|<group>|<name>`` for a VM, ``set|<group>|<name>`` for a Uniform scale set, whose instances the bill
does not tell apart, ``vm|<vm key>|att`` for the disks and IPs a VM held), with the month's billed days in
one JSON column: a month of a resource is one entity, so the fleet's answers read
``ceil(resources x months / 1000)`` pages per subscription, whatever the days. A day the bill revises is
overwritten by the next refresh; days it no longer sends are kept.
The event path never reads or writes here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from azure.data.tables import TableClient, TransactionOperation, UpdateMode

from shared.domain.actuals import DayActual
from shared.domain.times import format_time
from shared.store import _columns as col
from shared.store._errors import storage_errors, translated
from shared.store._keys import upper_bound
from shared.store._reads import query_range

ACTUALS_PREFIX = "actuals|"
_BATCH = 100

# resource key -> day -> what the bill says
ResourceDays = dict[str, dict[date, DayActual]]


def partition_of(subscription_id: str) -> str:
    return f"{ACTUALS_PREFIX}{subscription_id.lower()}"


class ActualsBook:
    """Reads and writes the ``actuals|<subscription>`` partitions of the ledger table."""

    def __init__(self, table: TableClient) -> None:
        self.table = table

    def load(self, subscription_id: str, first_month: str, last_month: str) -> ResourceDays:
        """Every resource's billed days of the months ``first_month`` to ``last_month`` (``YYYY-MM``)."""
        entities = self.table.query_entities(
            f"PartitionKey eq @pk and {col.ACTUAL_MONTH} ge @first and {col.ACTUAL_MONTH} le @last",
            parameters={"pk": partition_of(subscription_id), "first": first_month, "last": last_month},
            results_per_page=1000,
        )
        found: ResourceDays = {}
        for entity in translated(iter(entities)):
            key = str(entity["RowKey"]).rsplit("|", 1)[0]
            found.setdefault(key, {}).update(_days_from(entity))
        return found

    def load_prefixed(
        self, subscription_id: str, key: str, first_month: str, last_month: str
    ) -> ResourceDays:
        """The billed days of ``key`` and of the keys under it (a VM's disks and IPs, ``<key>|att``) of the
        months ``first_month`` to ``last_month``: one range query."""
        low = f"{key}|"
        entities = query_range(self.table, partition_of(subscription_id), low, upper_bound(low), 1000)
        found: ResourceDays = {}
        for entity in translated(iter(entities)):
            if first_month <= str(entity[col.ACTUAL_MONTH]) <= last_month:
                found.setdefault(str(entity["RowKey"]).rsplit("|", 1)[0], {}).update(_days_from(entity))
        return found

    def load_keys(
        self, subscription_id: str, keys: Sequence[str], first_month: str, last_month: str
    ) -> ResourceDays:
        """The billed days of ``keys`` and of the keys under them (a page of VMs' compute, and their disks'
        and IPs') of the months ``first_month`` to ``last_month``: one range query over the rows from the
        least to the greatest (``ceil(rows / 1000)`` pages). ``<key>|`` is what orders them: ``vm|g|a|``
        sorts after ``vm|g|ab|``."""
        if not keys:
            return {}
        prefixes = [f"{key}|" for key in keys]
        entities = self.table.query_entities(
            f"PartitionKey eq @pk and RowKey ge @low and RowKey lt @high and {col.ACTUAL_MONTH} ge @first"
            f" and {col.ACTUAL_MONTH} le @last",
            parameters={
                "pk": partition_of(subscription_id), "low": min(prefixes), "high": upper_bound(max(prefixes)),
                "first": first_month, "last": last_month,
            },
            results_per_page=1000,
        )  # fmt: skip
        found: ResourceDays = {}
        for entity in translated(iter(entities)):
            found.setdefault(str(entity["RowKey"]).rsplit("|", 1)[0], {}).update(_days_from(entity))
        return found

    def save(
        self, subscription_id: str, resource_ids: Mapping[str, str], days: ResourceDays, stored_at: datetime
    ) -> int:
        """Write ``days`` over what is stored (one read of the months touched, then batches of 100 rows);
        the rows written."""
        months = sorted({day.strftime("%Y-%m") for per_day in days.values() for day in per_day})
        if not months:
            return 0
        stored = self.load(subscription_id, months[0], months[-1])
        rows: dict[str, dict[str, Any]] = {}
        for key, per_day in days.items():
            merged = {**stored.get(key, {}), **per_day}
            for day in per_day:
                month = day.strftime("%Y-%m")
                if f"{key}|{month}" in rows:
                    continue
                in_month = [actual for actual in merged.values() if actual.day.strftime("%Y-%m") == month]
                rows[f"{key}|{month}"] = _entity(
                    subscription_id, key, month, resource_ids[key], in_month, stored_at
                )
        entities = [rows[name] for name in sorted(rows)]
        with storage_errors():
            for start in range(0, len(entities), _BATCH):
                batch = entities[start : start + _BATCH]
                self.table.submit_transaction(
                    [(TransactionOperation.UPSERT, entity, {"mode": UpdateMode.REPLACE}) for entity in batch]
                )
        return len(entities)


def _entity(
    subscription_id: str,
    key: str,
    month: str,
    resource_id: str,
    days: Iterable[DayActual],
    stored_at: datetime,
) -> dict[str, Any]:
    ordered = sorted(days, key=lambda actual: actual.day)
    currency = ordered[0].currency if ordered else ""
    encoded = {
        f"{actual.day.day:02d}": [
            str(actual.actual),
            None if actual.amortized is None else str(actual.amortized),
            actual.hours,
            actual.ledger_hours,
        ]
        for actual in ordered
    }
    return {
        "PartitionKey": partition_of(subscription_id),
        "RowKey": f"{key}|{month}",
        col.RESOURCE_ID: resource_id.lower(),
        col.ACTUAL_MONTH: month,
        col.ACTUAL_CURRENCY: currency,
        col.ACTUAL_DAYS: json.dumps(encoded, separators=(",", ":")),
        col.ACTUAL_STORED_AT: format_time(stored_at),
    }


def _days_from(entity: Mapping[str, Any]) -> dict[date, DayActual]:
    """The days of one stored row; an entry that cannot be read is left out, never read as 0."""
    year, month = (int(part) for part in str(entity[col.ACTUAL_MONTH]).split("-"))
    currency = str(entity.get(col.ACTUAL_CURRENCY, ""))
    try:
        encoded = json.loads(entity.get(col.ACTUAL_DAYS) or "{}")
    except ValueError:
        return {}
    found: dict[date, DayActual] = {}
    for day_text, values in encoded.items() if isinstance(encoded, dict) else ():
        try:
            day = date(year, month, int(day_text))
            actual, amortized, hours, ledger_hours = values
            found[day] = DayActual(
                day,
                Decimal(actual),
                None if amortized is None else Decimal(amortized),
                float(hours),
                currency,
                None if ledger_hours is None else float(ledger_hours),
            )
        except (ValueError, TypeError, InvalidOperation):
            continue
    return found
