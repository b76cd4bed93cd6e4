"""A VM's inventory as columns of its current row (private): size, region, OS, license, priority, tags.

Tags are one JSON text column (``tags_json``), already bounded by ``shared.domain.inventory.bound_tags``
(at most 50, names and values cut to Azure's lengths, that JSON under 16,000 UTF-16 code units), so a
current row stays far below Table Storage's 32K code units a string, 255 properties and 1 MiB whatever
the tags. ``tagsDropped`` counts what was cut.
The write path replaces the whole current row, so these columns travel in ``CurrentRow.spec``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared.domain.inventory import VmSpec, bound_tags, parse_os_type, parse_priority, tags_json
from shared.domain.times import format_time, parse_time


def spec_fields(spec: VmSpec | None, listed_at: datetime | None) -> dict[str, Any]:
    if spec is None or listed_at is None:
        return {}
    return {
        "vmSize": spec.vm_size or "",
        "location": spec.location or "",
        "osType": spec.os_type.value if spec.os_type else "",
        "licenseType": spec.license_type or "",
        "priority": spec.priority.value,
        "tags": tags_json(spec.tags),
        "tagsDropped": spec.tags_dropped,
        "inventoryAt": format_time(listed_at),
    }


def spec_from(entity: Mapping[str, Any]) -> tuple[VmSpec | None, datetime | None]:
    listed_at = entity.get("inventoryAt")
    if not listed_at:
        return None, None
    try:
        raw_tags = json.loads(entity.get("tags") or "{}")
    except ValueError:
        raw_tags = {}
    tags, dropped = bound_tags(raw_tags)
    spec = VmSpec(
        vm_size=entity.get("vmSize") or None,
        location=entity.get("location") or None,
        os_type=parse_os_type(entity.get("osType")),
        license_type=entity.get("licenseType") or None,
        priority=parse_priority(entity.get("priority")),
        tags=tags,
        tags_dropped=int(entity.get("tagsDropped") or 0) + dropped,
    )
    return spec, parse_time(listed_at)
