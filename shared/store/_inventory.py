"""A VM's inventory as columns of its current row (private): size, region, OS, license, priority, tags.

Tags are one JSON text column, already bounded by ``shared.domain.inventory.bound_tags`` (at most 50,
names and values cut to Azure's lengths, that JSON under 16,000 UTF-16 code units), so a current row
stays far below Table Storage's 32K code units a string, 255 properties and 1 MiB whatever the tags.
``TAGS_DROPPED`` counts what was cut. The write path replaces the whole current row, so these columns
travel in ``CurrentRow.profile``; the inventory refresh merges them alone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared.domain.inventory import VmSpec, bound_tags, parse_os_type, parse_priority, tags_json
from shared.domain.times import format_time, parse_time
from shared.store import _columns as column


def spec_fields(spec: VmSpec | None, listed_at: datetime | None) -> dict[str, Any]:
    if spec is None or listed_at is None:
        return {}
    return {
        column.VM_SIZE: spec.vm_size or "",
        column.LOCATION: spec.location or "",
        column.OS_TYPE: spec.os_type.value if spec.os_type else "",
        column.LICENSE_TYPE: spec.license_type or "",
        column.PRIORITY: spec.priority.value,
        column.TAGS: tags_json(spec.tags),
        column.TAGS_DROPPED: spec.tags_dropped,
        column.INVENTORY_AT: format_time(listed_at),
    }


def spec_from(entity: Mapping[str, Any]) -> tuple[VmSpec | None, datetime | None]:
    listed_at = entity.get(column.INVENTORY_AT)
    if not listed_at:
        return None, None
    try:
        raw_tags = json.loads(entity.get(column.TAGS) or "{}")
    except ValueError:
        raw_tags = {}
    tags, dropped = bound_tags(raw_tags)
    spec = VmSpec(
        vm_size=entity.get(column.VM_SIZE) or None,
        location=entity.get(column.LOCATION) or None,
        os_type=parse_os_type(entity.get(column.OS_TYPE)),
        license_type=entity.get(column.LICENSE_TYPE) or None,
        priority=parse_priority(entity.get(column.PRIORITY)),
        tags=tags,
        tags_dropped=int(entity.get(column.TAGS_DROPPED) or 0) + dropped,
    )
    return spec, parse_time(listed_at)
