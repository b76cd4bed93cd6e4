"""Chargeback: billed hours and estimated cost summed per owner (subscription, resource group or tag).

Resource groups and tag names compare case-insensitively, as Azure treats them; a group is shown in the
casing first met. VMs without the tag form their own group (``key`` ``None``), listed last. A group's
amount sums the VMs that have a price; those without one are counted apart, never added as 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from shared.domain.actuals import BillShare, GroupBill
from shared.domain.inventory import tag_value
from shared.errors import InvalidInput

TAG_PREFIX = "tag:"
MAX_TAG_NAME = 512


class GroupKind(StrEnum):
    SUBSCRIPTION = "subscription"
    RESOURCE_GROUP = "resourceGroup"
    TAG = "tag"


@dataclass(frozen=True)
class GroupBy:
    kind: GroupKind
    tag: str | None = None

    @property
    def label(self) -> str:
        return f"{TAG_PREFIX}{self.tag}" if self.kind == GroupKind.TAG else self.kind.value


def parse_group_by(text: str | None) -> GroupBy:
    """``subscription`` (default), ``resourceGroup`` or ``tag:<name>``; ``InvalidInput`` otherwise."""
    if text is None or text == GroupKind.SUBSCRIPTION.value:
        return GroupBy(GroupKind.SUBSCRIPTION)
    if text == GroupKind.RESOURCE_GROUP.value:
        return GroupBy(GroupKind.RESOURCE_GROUP)
    if text.startswith(TAG_PREFIX):
        name = text[len(TAG_PREFIX) :].strip()
        if name and len(name) <= MAX_TAG_NAME and name.isprintable():
            return GroupBy(GroupKind.TAG, name)
    raise InvalidInput("groupBy", "'groupBy' must be subscription, resourceGroup or tag:<name>")


@dataclass(frozen=True)
class VmCharge:
    """One VM's share of a window: where it belongs, and its hours and cost (``None``: no price)."""

    subscription_id: str
    resource_group: str
    tags: Mapping[str, str]
    billed_seconds: float
    unknown_seconds: float
    amount: Decimal | None
    bill: BillShare | None = None  # what the bill says of the window's covered days
    extra: ChargeExtra | None = None  # the whole bill beyond compute, when the answer has one


@dataclass(frozen=True)
class ChargeExtra:
    """A VM's disks and IPs (over the window, and per month now), total and avoided compute; ``None``: no
    price or no inventory."""

    attached: Decimal | None
    attached_monthly: Decimal | None
    total: Decimal | None
    avoided: Decimal | None
    avoided_seconds: float


@dataclass
class ExtraTotal:
    """``ChargeExtra`` summed over a group: amounts of the VMs that have one, the others counted apart."""

    attached: Decimal | None = None
    attached_monthly: Decimal | None = None
    unpriced_attached_vm_count: int = 0
    total: Decimal | None = None
    unpriced_total_vm_count: int = 0
    avoided: Decimal | None = None
    avoided_seconds: float = 0.0

    def add(self, extra: ChargeExtra) -> None:
        self.attached = _plus(self.attached, extra.attached)
        self.unpriced_attached_vm_count += extra.attached is None
        self.attached_monthly = _plus(self.attached_monthly, extra.attached_monthly)
        self.total = _plus(self.total, extra.total)
        self.unpriced_total_vm_count += extra.total is None
        self.avoided = _plus(self.avoided, extra.avoided)
        self.avoided_seconds += extra.avoided_seconds

    def merge(self, other: ExtraTotal) -> None:
        self.attached = _plus(self.attached, other.attached)
        self.unpriced_attached_vm_count += other.unpriced_attached_vm_count
        self.attached_monthly = _plus(self.attached_monthly, other.attached_monthly)
        self.total = _plus(self.total, other.total)
        self.unpriced_total_vm_count += other.unpriced_total_vm_count
        self.avoided = _plus(self.avoided, other.avoided)
        self.avoided_seconds += other.avoided_seconds


def _plus(sum_so_far: Decimal | None, amount: Decimal | None) -> Decimal | None:
    """A sum of the amounts known: ``None`` until one is."""
    if amount is None:
        return sum_so_far
    return (sum_so_far or Decimal(0)) + amount


@dataclass
class GroupTotal:
    key: str | None  # None: the VMs without the tag
    billed_seconds: float = 0.0
    unknown_seconds: float = 0.0
    amount: Decimal | None = None
    vm_count: int = 0
    unpriced_vm_count: int = 0
    unpriced_billed_seconds: float = 0.0
    bill: GroupBill = field(default_factory=GroupBill)
    extra: ExtraTotal | None = None

    def add(self, charge: VmCharge) -> None:
        if charge.extra is not None:
            self.extra = self.extra or ExtraTotal()
            self.extra.add(charge.extra)
        self.vm_count += 1
        if charge.bill is not None:
            self.bill.add(charge.bill)
        self.billed_seconds += charge.billed_seconds
        self.unknown_seconds += charge.unknown_seconds
        if charge.amount is None:
            self.unpriced_vm_count += 1
            self.unpriced_billed_seconds += charge.billed_seconds
        else:
            self.amount = (self.amount or Decimal(0)) + charge.amount


def group_key(group_by: GroupBy, charge: VmCharge) -> str | None:
    if group_by.kind == GroupKind.SUBSCRIPTION:
        return charge.subscription_id
    if group_by.kind == GroupKind.RESOURCE_GROUP:
        return charge.resource_group
    return tag_value(charge.tags, group_by.tag or "")


def chargeback(group_by: GroupBy, charges: Iterable[VmCharge]) -> list[GroupTotal]:
    """Totals per group, in case-insensitive key order, the group without the tag last."""
    groups: dict[str | None, GroupTotal] = {}
    for charge in charges:
        key = group_key(group_by, charge)
        folded = key.lower() if key is not None else None
        if folded not in groups:
            groups[folded] = GroupTotal(key)
        groups[folded].add(charge)
    return sorted(groups.values(), key=lambda group: (group.key is None, (group.key or "").lower()))
