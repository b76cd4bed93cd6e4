"""The bill's fields of the API: ``actualCost`` beside ``estimatedCostSameDays``, the ``discount`` and the
``calibratedCost`` of a ``/costs`` group or a VM, and a ``billingDrift`` finding's numbers.

``actualCost`` covers only the window's days the bill has covered (``days``; ``asOf`` is the end of the
last of them); before the bill covers any, its ``amount`` is ``null`` with a ``reason``, never 0.
``estimatedCostSameDays`` is the estimate for exactly those days, so the two compare like for like.
``calibratedCost`` is the estimate of the days not yet billed times the discount: an estimate, labelled so.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from shared.domain.actuals import MISSED_BY, DriftDay, DriftDirection, GroupBill, day_start
from shared.domain.attached_actuals import AttachedBill
from shared.domain.times import format_time
from shared.web.numbers import as_number, money

NOT_BILLED_YET = "NotBilledYet"
BILLED_AS_SCALE_SET = "BilledAsScaleSet"  # a Uniform instance: the bill charges its set (see /costs)
INSTANCE_DISKS_IN_COSTS = "SeeCosts"  # a Uniform instance's disks' and IPs' bill is summed in /costs only
ESTIMATE = "estimate"


def bill_fields(bill: GroupBill, currency: str) -> dict[str, Any]:
    """The bill's fields of a group (or of one VM's share, as a group of one)."""
    days = sorted(bill.covered)
    discount = bill.discount
    calibrated = bill.calibrated
    return {
        "actualCost": _actual(bill, currency, days),
        "estimatedCostSameDays": {"amount": money(bill.estimate_same_days), "currency": currency},
        "discount": float(round(discount, 4)) if discount is not None else None,
        "calibratedCost": {
            "amount": money(calibrated),
            "currency": currency,
            "label": ESTIMATE,
            "basis": "the estimate of the days not yet billed times the discount",
        },
        **attached_bill_fields(bill.attached, currency),
    }


def attached_bill_fields(bill: AttachedBill, currency: str, reason: str = NOT_BILLED_YET) -> dict[str, Any]:
    """``attachedActualCost`` (the bill's rows of the disks and IPs the VMs held) beside
    ``attachedCostSameDays`` (``attachedCost``'s estimate of exactly the days the bill covers)."""
    days = sorted(bill.covered)
    same_days = bill.estimate_same_days if bill.estimate_complete else None
    if bill.actual is None:
        actual = {**_no_actual(bill.currency or currency, 0, reason)}
        del actual["hours"]
    else:
        actual = {
            "amount": money(bill.actual),
            "currency": bill.currency or currency,
            "amortized": money(bill.amortized if bill.amortized_complete else None),
            "days": len(days),
            "asOf": format_time(day_start(days[-1]) + timedelta(days=1)),
            "reason": None,
        }
    return {
        "attachedActualCost": actual,
        "attachedCostSameDays": {"amount": money(same_days), "currency": currency},
    }


def vm_bill_fields(bill: GroupBill | None, currency: str) -> dict[str, Any]:
    """A VM's bill fields; ``None`` (a Uniform instance) says the bill charges its scale set."""
    if bill is None:
        return {
            **bill_fields(GroupBill(), currency),
            "actualCost": _no_actual(currency, 0, BILLED_AS_SCALE_SET),
            **attached_bill_fields(AttachedBill(), currency, INSTANCE_DISKS_IN_COSTS),
        }
    return bill_fields(bill, currency)


def _no_actual(currency: str, days: int, reason: str) -> dict[str, Any]:
    return {
        "amount": None, "currency": currency, "amortized": None, "hours": None,
        "days": days, "asOf": None, "reason": reason,
    }  # fmt: skip


def _actual(bill: GroupBill, currency: str, days: list[Any]) -> dict[str, Any]:
    if bill.actual is None:
        return _no_actual(bill.currency or currency, len(days), NOT_BILLED_YET)
    amortized: Decimal | None = bill.amortized if bill.amortized_complete else None
    return {
        "amount": money(bill.actual),
        "currency": bill.currency or currency,
        "amortized": money(amortized),
        "hours": as_number(bill.hours),
        "days": len(days),
        "asOf": format_time(day_start(days[-1]) + timedelta(days=1)),
        "reason": None,
    }


def drift_body(drift: DriftDay) -> dict[str, Any]:
    """A ``billingDrift``'s two numbers, which is higher, and the sources that could have missed it."""
    return {
        "day": drift.day.isoformat(),
        "billHours": as_number(drift.bill_hours),
        "ledgerHours": as_number(drift.ledger_hours),
        "direction": drift.direction.value,
        "couldHaveMissedIt": list(MISSED_BY),
        "explanation": _DRIFT_EXPLANATIONS[drift.direction],
    }


_DRIFT_EXPLANATIONS = {
    DriftDirection.BILL_HAS_MORE: (
        "The bill has more compute hours: either the ledger missed running time (an event not delivered, "
        "and reconcile did not see it) or the bill charged for time the VM was not running."
    ),
    DriftDirection.LEDGER_HAS_MORE: (
        "The ledger has more billed hours: either it missed a stop or deallocation (an event not "
        "delivered, and reconcile did not see it) or the bill has not caught up with the day."
    ),
}
