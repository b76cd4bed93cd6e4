"""What each VM keeps (disks, public IPs) and the subscription's unattached disks, in the ledger table.

Partition ``attached|<subscription>``: a row ``vm|<vm key>`` per VM (the VM's key as its current row has it)
with the disks and IPs it holds and held (one JSON column, each with since/until) and when they were listed;
a row ``disk|<id hash>`` per unattached disk with since when the ledger has seen it so. The inventory refresh
rewrites a subscription's rows from a complete listing; answers read them: a VM's by one point read, a page of
VMs or a whole subscription by one range query per 1,000 rows, never one query per VM.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableClient, TransactionOperation, UpdateMode

from shared.domain.attached import DiskSpec, Held, PublicIpSpec, VmAttachments
from shared.domain.ids import VmId
from shared.domain.times import format_time, parse_time
from shared.store._errors import storage_errors
from shared.store._keys import upper_bound
from shared.store._reads import query_range

_VM, _DISK = "vm|", "disk|"
# When the subscription's last complete listing ran: a VM the ledger knew then and that has no row holds
# nothing (known), rather than not listed yet. "listed" sorts just before "vm|": one range reads both.
_LISTED = "listed"
_BATCH = 100
MAX_HELD_JSON = 30_000  # UTF-16 code units, under a string property's 32K


@dataclass(frozen=True)
class UnattachedDisk:
    disk: DiskSpec
    since: datetime  # when the ledger first listed it unattached


@dataclass(frozen=True)
class SubscriptionAttached:
    """A subscription's VM rows by VM key, when it was last listed whole (``None``: never), its unattached
    disks."""

    vms: dict[str, VmAttachments]
    listed: datetime | None
    unattached: list[UnattachedDisk]


def partition_of(subscription_id: str) -> str:
    return f"attached|{subscription_id.lower()}"


def disk_key(resource_id: str) -> str:
    return _DISK + hashlib.sha256(resource_id.lower().encode("utf-8")).hexdigest()[:32]


_DISK_CURSOR = re.compile(r"^([0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12})/disk\|([0-9a-f]{32})$")


def disk_cursor(subscription_id: str, item: UnattachedDisk) -> str:
    """The cursor that resumes a listing of unattached disks after ``item``."""
    return f"{subscription_id.lower()}/{disk_key(item.disk.resource_id)}"


def is_disk_cursor(cursor: str) -> bool:
    return _DISK_CURSOR.fullmatch(cursor) is not None


def split_disk_cursor(cursor: str) -> tuple[str, str]:
    subscription, _, key = cursor.partition("/")
    return subscription, key


class AttachedStore:
    def __init__(self, table: TableClient) -> None:
        self.table = table

    def listed_at(self, subscription_id: str) -> datetime | None:
        """When the subscription's disks and IPs were last listed whole (one point read); ``None``: never."""
        entity = self._entity(partition_of(subscription_id), _LISTED)
        return parse_time(entity["listedAt"]) if entity is not None else None

    def get(self, vm: VmId) -> VmAttachments | None:
        """One VM's disks and IPs (one point read); ``None`` when no listing showed it holding any."""
        entity = self._entity(partition_of(vm.subscription_id), _VM + vm.vm_key)
        return _attachments(entity) if entity is not None else None

    def _entity(self, partition: str, key: str) -> Mapping[str, Any] | None:
        with storage_errors():
            try:
                return self.table.get_entity(partition, key)
            except ResourceNotFoundError:
                return None

    def for_vms(self, vms: Sequence[VmId]) -> dict[tuple[str, str], VmAttachments]:
        """The attachments of ``vms`` by (subscription key, VM key): one range query per subscription among
        them (from its first VM's key to its last's), per 1,000 rows."""
        by_subscription: dict[str, list[str]] = {}
        for vm in vms:
            by_subscription.setdefault(vm.subscription_key, []).append(vm.vm_key)
        found: dict[tuple[str, str], VmAttachments] = {}
        for subscription, keys in by_subscription.items():
            wanted = set(keys)
            low, high = _VM + min(keys), upper_bound(_VM + max(keys))
            for key, attachments in self._vm_rows(subscription, low, high):
                if key in wanted:
                    found[(subscription, key)] = attachments
        return found

    def load_subscription(self, subscription_id: str) -> dict[str, VmAttachments]:
        """Every VM row of the subscription, by VM key."""
        return self.read_subscription(subscription_id)[0]

    def read_subscription(self, subscription_id: str) -> tuple[dict[str, VmAttachments], datetime | None]:
        """Every VM row of the subscription by VM key, and when it was last listed whole: one range query
        per 1,000 rows."""
        with storage_errors():
            entities = list(
                query_range(self.table, partition_of(subscription_id), _LISTED, upper_bound(_VM), 1000)
            )
        listed = next((parse_time(e["listedAt"]) for e in entities if e["RowKey"] == _LISTED), None)
        rows = {e["RowKey"][len(_VM) :]: _attachments(e) for e in entities if e["RowKey"].startswith(_VM)}
        return rows, listed

    def read_whole(self, subscription_id: str) -> SubscriptionAttached:
        """Everything the subscription's rows hold: one range query per 1,000 rows ("disk|" sorts before
        "listed", which sorts before "vm|")."""
        with storage_errors():
            entities = list(
                query_range(self.table, partition_of(subscription_id), _DISK, upper_bound(_VM), 1000)
            )
        return SubscriptionAttached(
            {e["RowKey"][len(_VM) :]: _attachments(e) for e in entities if e["RowKey"].startswith(_VM)},
            next((parse_time(e["listedAt"]) for e in entities if e["RowKey"] == _LISTED), None),
            [_unattached(e) for e in entities if e["RowKey"].startswith(_DISK)],
        )

    def unattached(self, subscription_id: str) -> list[UnattachedDisk]:
        with storage_errors():
            entities = list(
                query_range(self.table, partition_of(subscription_id), _DISK, upper_bound(_DISK), 1000)
            )
        return [_unattached(entity) for entity in entities]

    def save_subscription(
        self,
        subscription_id: str,
        vms: Mapping[str, VmAttachments],
        unattached: Iterable[UnattachedDisk],
        listed_at: datetime,
    ) -> None:
        """Replace the subscription's rows with these, listed whole at ``listed_at``: upserts, then deletes of
        rows no longer listed."""
        partition = partition_of(subscription_id)
        entities = [_vm_entity(partition, key, attachments) for key, attachments in sorted(vms.items())]
        entities.append({"PartitionKey": partition, "RowKey": _LISTED, "listedAt": format_time(listed_at)})
        entities += [_unattached_entity(partition, item) for item in unattached]
        keep = {entity["RowKey"] for entity in entities}
        with storage_errors():
            existing = [e["RowKey"] for e in query_range(self.table, partition, "", "~", 1000)]
            operations: list[Any] = [
                (TransactionOperation.UPSERT, entity, {"mode": UpdateMode.REPLACE}) for entity in entities
            ]
            operations += [
                (TransactionOperation.DELETE, {"PartitionKey": partition, "RowKey": key})
                for key in existing if key not in keep
            ]  # fmt: skip
            for start in range(0, len(operations), _BATCH):
                self.table.submit_transaction(operations[start : start + _BATCH])

    def _vm_rows(self, subscription: str, low: str, high: str) -> list[tuple[str, VmAttachments]]:
        with storage_errors():
            entities = list(query_range(self.table, partition_of(subscription), low, high, 1000))
        return [(entity["RowKey"][len(_VM) :], _attachments(entity)) for entity in entities]


def _vm_entity(partition: str, key: str, attachments: VmAttachments) -> dict[str, Any]:
    held = list(attachments.held)
    text = json.dumps([_held_json(item) for item in held], separators=(",", ":"))
    while len(text) > MAX_HELD_JSON and any(item.until is not None for item in held):
        oldest = min(
            (item for item in held if item.until is not None), key=lambda item: item.until or item.since
        )
        held.remove(oldest)  # what was let go longest ago goes first: the present stays whole
        text = json.dumps([_held_json(item) for item in held], separators=(",", ":"))
    return {
        "PartitionKey": partition,
        "RowKey": _VM + key,
        "held": text,
        "listedAt": format_time(attachments.listed_at),
    }


def _unattached_entity(partition: str, item: UnattachedDisk) -> dict[str, Any]:
    return {
        "PartitionKey": partition,
        "RowKey": disk_key(item.disk.resource_id),
        "disk": json.dumps(_spec_json(item.disk), separators=(",", ":")),
        "since": format_time(item.since),
    }


def _attachments(entity: Mapping[str, Any]) -> VmAttachments:
    held = tuple(_held_from(item) for item in json.loads(entity.get("held") or "[]"))
    return VmAttachments(held, parse_time(entity["listedAt"]))


def _unattached(entity: Mapping[str, Any]) -> UnattachedDisk:
    spec = _spec_from(json.loads(entity["disk"]))
    assert isinstance(spec, DiskSpec)
    return UnattachedDisk(spec, parse_time(entity["since"]))


def _held_json(held: Held) -> dict[str, Any]:
    body = _spec_json(held.item)
    body["since"] = format_time(held.since)
    if held.until is not None:
        body["until"] = format_time(held.until)
    return body


def _held_from(body: Mapping[str, Any]) -> Held:
    until = body.get("until")
    return Held(_spec_from(body), parse_time(body["since"]), parse_time(until) if until else None)


def _spec_json(item: DiskSpec | PublicIpSpec) -> dict[str, Any]:
    if isinstance(item, PublicIpSpec):
        return {"ip": item.resource_id, "sku": item.sku, "alloc": item.allocation, "loc": item.location}
    return {
        "disk": item.resource_id, "sku": item.sku, "tier": item.tier, "gb": item.size_gb, "iops": item.iops,
        "mbps": item.mbps, "created": format_time(item.created) if item.created else None,
        "loc": item.location, "owner": item.owner, "diskState": item.state,
    }  # fmt: skip


def _spec_from(body: Mapping[str, Any]) -> DiskSpec | PublicIpSpec:
    if "ip" in body:
        return PublicIpSpec(body["ip"], body.get("sku"), body.get("alloc"), body.get("loc"))
    created = body.get("created")
    return DiskSpec(
        body["disk"], body.get("sku") or "", body.get("tier"), body.get("gb"), body.get("iops"),
        body.get("mbps"), parse_time(created) if created else None, body.get("loc"), body.get("owner"),
        body.get("diskState"),
    )  # fmt: skip
