"""A Cost Management ``QueryResult`` page reduced to ``BillRow``s, reading each row by column name.

Columns are found by name, case-insensitively: the cost column is the aggregation's (``Cost``, or
``PreTaxCost`` in the legacy ``Usage`` examples), ``UsageQuantity``, ``ResourceId``, ``MeterCategory``,
``UsageDate`` (a ``yyyymmdd`` number) and ``Currency``. A page without the columns this needs is malformed
(``ValueError``): a page read as empty by mistake would look like a day with no cost. A row whose values
cannot be read (a date that is no date, a cost that is not a finite number) is skipped and counted.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from shared.domain.actuals import BillRow

logger = logging.getLogger(__name__)

COST_COLUMNS = ("cost", "pretaxcost")
REQUIRED = ("resourceid", "usagedate", "currency")


def parse_query_page(body: Any) -> tuple[list[BillRow], str | None]:
    """The rows of one page and its ``nextLink`` (``None`` on the last page)."""
    if not isinstance(body, Mapping) or not isinstance(body.get("properties"), Mapping):
        raise ValueError("a query answer is an object with 'properties'")
    props = body["properties"]
    columns, rows, link = props.get("columns"), props.get("rows"), props.get("nextLink")
    if not isinstance(columns, list) or not isinstance(rows, list):
        raise ValueError("a query answer needs 'columns' and 'rows' arrays")
    if link is not None and not isinstance(link, str):
        raise ValueError("'nextLink' must be a string")
    index = _column_index(columns)
    parsed, skipped = [], 0
    for row in rows:
        bill_row = _row(row, index)
        if bill_row is None:
            skipped += 1
        else:
            parsed.append(bill_row)
    if skipped:
        logger.warning("Cost Management: skipped %d row(s) that could not be read", skipped)
    return parsed, link or None


def _column_index(columns: Sequence[Any]) -> dict[str, int]:
    index: dict[str, int] = {}
    for position, column in enumerate(columns):
        name = column.get("name") if isinstance(column, Mapping) else None
        if isinstance(name, str):
            index.setdefault(name.lower(), position)
    cost = next((name for name in COST_COLUMNS if name in index), None)
    missing = [name for name in REQUIRED if name not in index]
    if cost is None or missing:
        raise ValueError(f"the answer lacks column(s) {', '.join(missing or ['Cost'])}")
    index["cost"] = index[cost]
    return index


def _row(row: Any, index: Mapping[str, int]) -> BillRow | None:
    if not isinstance(row, list) or len(row) <= max(index.values()):
        return None
    resource_id, currency = row[index["resourceid"]], row[index["currency"]]
    category = row[index["metercategory"]] if "metercategory" in index else ""
    day = _day(row[index["usagedate"]])
    cost = _number(row[index["cost"]])
    quantity = _number(row[index["usagequantity"]]) if "usagequantity" in index else Decimal(0)
    if not isinstance(resource_id, str) or not isinstance(currency, str) or not isinstance(category, str):
        return None
    if day is None or cost is None or quantity is None:
        return None
    return BillRow(resource_id.lower(), category, day, cost, float(quantity), currency.upper())


def _day(value: Any) -> date | None:
    """``20180331`` (a number, or its text) as a date."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        text = str(int(value)) if isinstance(value, int | float) else value.strip()
    except (ValueError, OverflowError):  # NaN, infinities
        return None
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None
