"""Retail prices cached in the ledger table.

Partition ``prices``: one row per (currency, region, size), ``<CUR>|<region>|<size>`` in lower case,
with one column pair per meter kind (``LinuxRegular`` = price, ``LinuxRegularMeter`` = its meter name)
and ``fetchedAt``. A pair fetched with no meter at all still gets a row, so "no price" is known rather
than guessed. A refresh that fails writes nothing here: the previous prices stay. A stored price that
cannot be true (an older version cached ``Infinity``, ``NaN`` or ``1E+30`` as sent) is read as
``unusable``, never as a price.

Disk and public IP rates of a region are one row ``<CUR>~<region>`` (outside the VM pairs' key range):
one JSON column ``rates``, meter name -> ``[amount, "hour" | "month", free units]``, and ``fetchedAt``.

HTTP answers read this partition; they never call the prices API.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableClient, TransactionOperation, UpdateMode

from shared.domain.attached_pricing import Rate
from shared.domain.inventory import OsType, Priority
from shared.domain.pricing import HourlyPrice, MeterKind, PriceKey, is_believable_hourly_price
from shared.domain.times import format_time, parse_time
from shared.store._errors import storage_errors

PRICES_PARTITION = "prices"
_BATCH = 100
_RATES = "~"  # after "|": the region rows sort apart from the VM pairs
_KINDS = [MeterKind(os_type, priority) for os_type in OsType for priority in Priority]


@dataclass(frozen=True)
class StoredPrices:
    """The hourly prices of one region and size, by meter kind, as fetched at ``fetched_at``."""

    currency: str
    region: str
    size: str
    fetched_at: datetime
    prices: Mapping[MeterKind, HourlyPrice]
    unusable: frozenset[MeterKind] = frozenset()  # kinds whose stored price cannot be true


def _column(kind: MeterKind) -> str:
    return f"{kind.os_type.value}{kind.priority.value}"


def _pair_key(currency: str, region: str, size: str) -> str:
    return f"{currency.upper()}|{region.strip().lower()}|{size.strip().lower()}"


class PriceBook:
    """Reads and writes the ``prices`` partition of the ledger table."""

    def __init__(self, table: TableClient) -> None:
        self.table = table

    def save(
        self,
        currency: str,
        fetched_at: datetime,
        pairs: Iterable[tuple[str, str]],
        prices: Mapping[PriceKey, HourlyPrice],
    ) -> int:
        """Upsert one row per (region, size) in ``pairs``, with every kind ``prices`` has for it."""
        entities = []
        for region, size in sorted({(r.strip().lower(), s.strip().lower()) for r, s in pairs}):
            entity: dict[str, Any] = {
                "PartitionKey": PRICES_PARTITION,
                "RowKey": _pair_key(currency, region, size),
                "currency": currency.upper(),
                "region": region,
                "size": size,
                "fetchedAt": format_time(fetched_at),
            }
            for kind in _KINDS:
                price = prices.get((region, size, kind))
                if price is not None:
                    entity[_column(kind)] = str(price.amount)
                    entity[_column(kind) + "Meter"] = price.meter
            entities.append(entity)
        with storage_errors():
            for start in range(0, len(entities), _BATCH):
                self.table.submit_transaction(
                    [
                        (TransactionOperation.UPSERT, entity, {"mode": UpdateMode.REPLACE})
                        for entity in entities[start : start + _BATCH]
                    ]
                )
        return len(entities)

    def get(self, currency: str, region: str, size: str) -> StoredPrices | None:
        """One pair's prices (one point read), ``None`` when never fetched."""
        with storage_errors():
            try:
                entity = self.table.get_entity(PRICES_PARTITION, _pair_key(currency, region, size))
            except ResourceNotFoundError:
                return None
        return _stored(entity)

    def load(self, currency: str) -> dict[tuple[str, str], StoredPrices]:
        """Every pair fetched in ``currency`` (one range query per 1,000 pairs)."""
        prefix = f"{currency.upper()}|"
        with storage_errors():
            entities = self.table.query_entities(
                "PartitionKey eq @pk and RowKey ge @low and RowKey lt @high",
                parameters={"pk": PRICES_PARTITION, "low": prefix, "high": prefix[:-1] + "}"},
            )
            stored = [_stored(entity) for entity in entities]
        return {(item.region, item.size): item for item in stored}

    def save_rates(
        self,
        currency: str,
        fetched_at: datetime,
        regions: Iterable[str],
        rates: Mapping[str, Mapping[str, Rate]],
    ) -> int:
        """Disk and IP rates per region (``save_rates``)."""
        return save_rates(self.table, currency, fetched_at, regions, rates)

    def load_rates(self, currency: str) -> StoredRates | None:
        return load_rates(self.table, currency)


@dataclass(frozen=True)
class StoredRates:
    """The disk and IP rates of every region fetched in one currency, and the oldest fetch among them."""

    regions: Mapping[str, Mapping[str, Rate]]
    fetched_at: datetime | None


def save_rates(
    table: TableClient,
    currency: str,
    fetched_at: datetime,
    regions: Iterable[str],
    rates: Mapping[str, Mapping[str, Rate]],
) -> int:
    """One row per region in ``regions``, with every rate ``rates`` has for it (none: known unpriced)."""
    entities = []
    for region in sorted({region.strip().lower() for region in regions}):
        encoded = {
            key: [str(rate.amount), "hour" if rate.per_hour else "month", str(rate.free_units)]
            for key, rate in sorted(rates.get(region, {}).items())
        }
        entities.append({
            "PartitionKey": PRICES_PARTITION,
            "RowKey": f"{currency.upper()}{_RATES}{region}",
            "currency": currency.upper(),
            "region": region,
            "rates": json.dumps(encoded, separators=(",", ":")),
            "fetchedAt": format_time(fetched_at),
        })  # fmt: skip
    with storage_errors():
        for start in range(0, len(entities), _BATCH):
            table.submit_transaction(
                [
                    (TransactionOperation.UPSERT, e, {"mode": UpdateMode.REPLACE})
                    for e in entities[start : start + _BATCH]
                ]
            )
    return len(entities)


def load_rates(table: TableClient, currency: str) -> StoredRates | None:
    """Every region's rates in ``currency`` (one range query per 1,000 regions); ``None`` if never fetched."""
    prefix = f"{currency.upper()}{_RATES}"
    with storage_errors():
        entities = list(
            table.query_entities(
                "PartitionKey eq @pk and RowKey ge @low and RowKey lt @high",
                parameters={
                    "pk": PRICES_PARTITION,
                    "low": prefix,
                    "high": prefix[:-1] + chr(ord(_RATES) + 1),
                },
            )
        )
    if not entities:
        return None
    regions: dict[str, dict[str, Rate]] = {}
    for entity in entities:
        regional = regions.setdefault(entity["region"], {})
        for key, (amount, unit, free) in json.loads(entity.get("rates") or "{}").items():
            rate = _rate_amount(amount)
            if rate is not None:
                regional[key] = Rate(rate, unit == "hour", Decimal(free))
    return StoredRates(regions, min(parse_time(entity["fetchedAt"]) for entity in entities))


def _stored(entity: Mapping[str, Any]) -> StoredPrices:
    currency = entity["currency"]
    prices: dict[MeterKind, HourlyPrice] = {}
    unusable: set[MeterKind] = set()
    for kind in _KINDS:
        text = entity.get(_column(kind))
        if not text:
            continue
        amount = _amount(text, currency)
        if amount is None:
            unusable.add(kind)
        else:
            prices[kind] = HourlyPrice(amount, currency, entity.get(_column(kind) + "Meter", ""))
    fetched_at = parse_time(entity["fetchedAt"])
    return StoredPrices(currency, entity["region"], entity["size"], fetched_at, prices, frozenset(unusable))


def _rate_amount(text: Any) -> Decimal | None:
    try:
        amount = Decimal(text) if isinstance(text, str) else None
    except InvalidOperation:
        return None
    return amount if amount is not None and amount.is_finite() and amount >= 0 else None


def _amount(text: Any, currency: str) -> Decimal | None:
    """A stored hourly price, or ``None`` when it is not one that can be true."""
    if not isinstance(text, str):
        return None
    try:
        amount = Decimal(text)
    except InvalidOperation:
        return None
    return amount if is_believable_hourly_price(amount, currency) else None
