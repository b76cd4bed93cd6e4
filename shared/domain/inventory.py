"""What a VM *is*, as opposed to what it does: size, region, OS, priority and tags.

Read from Virtual Machines - List All without ``statusOnly`` (``properties.hardwareProfile.vmSize``,
``location``, ``properties.storageProfile.osDisk.osType``, ``properties.licenseType``,
``properties.priority``, ``tags``). Tags are owner data: they are kept bounded (count and size) so one
VM's tags can never fill a Table entity, and what was cut is counted. The size bounded is that of the JSON
stored (``tags_json``), counted as Table Storage counts a string, in UTF-16 code units: a control character
read as one is written as six (``\u0001``), a quote as two, an emoji is two code units.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

# A Table entity holds at most 255 properties and 1 MiB; tags are stored as one JSON text column.
MAX_TAGS = 50  # Azure allows 50 tags per resource
MAX_TAG_NAME = 512  # Azure's limit for tag names (values: 256)
MAX_TAG_VALUE = 256
MAX_TAGS_JSON = 16_000  # UTF-16 code units of the stored JSON, well under a string property's 32K


class OsType(StrEnum):
    LINUX = "Linux"
    WINDOWS = "Windows"


class Priority(StrEnum):
    REGULAR = "Regular"
    SPOT = "Spot"
    LOW = "Low"


# License types that bring a Windows license (Azure Hybrid Benefit): compute is billed at the base rate.
HYBRID_BENEFIT_LICENSES = frozenset({"windows_server", "windows_client"})


@dataclass(frozen=True)
class VmSpec:
    """A VM's inventory. ``None`` fields were not in the listing; ``tags_dropped`` counts cut tags."""

    vm_size: str | None
    location: str | None
    os_type: OsType | None
    license_type: str | None
    priority: Priority
    tags: Mapping[str, str] = field(default_factory=dict)
    tags_dropped: int = 0

    @property
    def billed_os(self) -> OsType | None:
        """The OS whose meter prices this VM: a Windows VM under Hybrid Benefit pays the Linux rate."""
        if self.os_type == OsType.WINDOWS and (self.license_type or "").lower() in HYBRID_BENEFIT_LICENSES:
            return OsType.LINUX
        return self.os_type


def parse_os_type(value: Any) -> OsType | None:
    if isinstance(value, str):
        for os_type in OsType:
            if value.strip().lower() == os_type.value.lower():
                return os_type
    return None


def parse_priority(value: Any) -> Priority:
    """``Regular`` when absent: ARM omits the property for regular VMs created by older clients."""
    if isinstance(value, str):
        for priority in Priority:
            if value.strip().lower() == priority.value.lower():
                return priority
    return Priority.REGULAR


def tags_json(tags: Mapping[str, str]) -> str:
    """The tags as they are stored: one JSON object, names sorted, non-ASCII characters as they are."""
    return json.dumps(dict(tags), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def bound_tags(tags: Any) -> tuple[dict[str, str], int]:
    """At most ``MAX_TAGS`` string tags (names and values cut to Azure's lengths), sorted by name, and
    the number left out; the kept tags' ``tags_json`` stays under ``MAX_TAGS_JSON`` UTF-16 code units."""
    if not isinstance(tags, Mapping):
        return {}, 0
    kept: dict[str, str] = {}
    dropped = 0
    size = 2
    for name in sorted(key for key in tags if isinstance(key, str)):
        value = tags[name]
        if not isinstance(value, str) or len(kept) >= MAX_TAGS:
            dropped += 1
            continue
        name_cut, value_cut = name[:MAX_TAG_NAME], value[:MAX_TAG_VALUE]
        cost = _json_units(name_cut) + _json_units(value_cut) + 2  # with its colon and comma
        if size + cost > MAX_TAGS_JSON:
            dropped += 1
            continue
        kept[name_cut] = value_cut
        size += cost
    dropped += sum(1 for key in tags if not isinstance(key, str))
    return kept, dropped


def _json_units(text: str) -> int:
    """UTF-16 code units of ``text`` written as a JSON string, quotes and escapes included."""
    return len(json.dumps(text, ensure_ascii=False).encode("utf-16-le", "surrogatepass")) // 2


def tag_value(tags: Mapping[str, str], name: str) -> str | None:
    """A tag's value by name; Azure tag names are case-insensitive."""
    lowered = name.lower()
    return next((value for key, value in tags.items() if key.lower() == lowered), None)
