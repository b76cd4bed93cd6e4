"""Numbers as the API spells them: seconds and hours to the microsecond, money to the cent."""

from __future__ import annotations

from decimal import Decimal

from shared.domain.pricing import round_money


def as_number(seconds: float) -> int | float:
    """Whole seconds as an int in JSON, fractions kept to the microsecond."""
    rounded = round(seconds, 6)
    return int(rounded) if rounded.is_integer() else rounded


def money(amount: Decimal | None) -> float | None:
    """An amount in JSON: rounded to the cent (half up)."""
    return float(round_money(amount)) if amount is not None else None
