"""How the ledger lays out its Table keys. Nothing outside ``shared.store`` builds or parses them.

One partition per subscription (``PartitionKey`` = lower-case subscription id) holds, for each VM:

- the **current row** ``vm|<group>|<name>`` (a Uniform scale set instance: ``vm|<group>|<set>:<id>``,
  ``:`` being in no VM name): the VM's state now, its display casing, and the key of its
  last transition (the ETag of this row serialises writers on that VM);
- its **transition rows** ``tx|<group>|<name>|<time>|<id hash>``: one per accepted event or reconcile
  observation, in time order because the fixed-width UTC time sorts as text;
- its **confirmation row** ``cf|<group>|<name>``: when a reconcile listing last found it as the ledger
  has it. Apart from the current row, so a confirmation never changes the ETag an event writes against.

Keeping both in one partition lets a transition and the new current state be written in one atomic
entity group transaction. A small registry partition lists the subscriptions, so listing VMs needs no
table scan. Cursors handed out for paging are keys (transitions) or ``<subscription>/<key>`` (VMs).
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime

from shared.domain.ids import ScaleSetId, VmId
from shared.domain.times import format_time
from shared.store._records import CurrentRow

SUBSCRIPTIONS_PARTITION = "subscriptions"
CURRENT_PREFIX = "vm|"
TRANSITION_PREFIX = "tx|"
CONFIRMATION_PREFIX = "cf|"  # as long as CURRENT_PREFIX: both ranges sort alike
_CURSOR_SEPARATOR = "/"
_SUBSCRIPTION_KEY = re.compile(r"[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}")
# What follows a VM's transitions prefix in a key: the fixed-width time and the event id's hash.
_TRANSITION_SUFFIX = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z\|[0-9a-f]{32}"
)
_TRANSITION_SUFFIX_LENGTH = 27 + 1 + 32
_FORBIDDEN_IN_KEYS = re.compile(r"[/\\#?|\x00-\x1f\x7f-\x9f]")
_MAX_KEY_PART = 90


def upper_bound(prefix: str) -> str:
    """The smallest key greater than every key starting with ``prefix``."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def current_key(vm: VmId) -> str:
    return f"{CURRENT_PREFIX}{vm.vm_key}"


def current_prefix(group: str | None, scale_set_name: str | None = None) -> str:
    """Keys of the current rows of one resource group (or of all), or of one Uniform scale set's
    instances (``scale_set_name`` needs ``group``)."""
    if scale_set_name is not None and group:
        return f"{CURRENT_PREFIX}{ScaleSetId('', group, scale_set_name).key}:"
    return CURRENT_PREFIX + (f"{group.lower()}|" if group else "")


def confirmation_key(vm: VmId) -> str:
    return f"{CONFIRMATION_PREFIX}{vm.vm_key}"


def confirmation_range_of(current_range_key: str) -> str:
    """The confirmation rows' key at the place of a current rows' key (or prefix) in their range."""
    return CONFIRMATION_PREFIX + current_range_key[len(CURRENT_PREFIX) :]


def vm_key_of_current(key: str) -> str:
    """``vm|rg|name`` -> ``rg|name`` (``VmId.vm_key``)."""
    return key[len(CURRENT_PREFIX) :]


def transitions_prefix(vm: VmId) -> str:
    return f"{TRANSITION_PREFIX}{vm.vm_key}|"


def transition_key(vm: VmId, at: datetime, event_id: str) -> str:
    # The id is hashed: event ids may hold characters that Table keys forbid.
    digest = hashlib.sha256(event_id.encode("utf-8")).hexdigest()[:32]
    return f"{transitions_prefix(vm)}{format_time(at)}|{digest}"


def split_transition_key(key: str) -> tuple[str, str] | None:
    """``tx|<group>|<name>|`` and ``<time>|<id hash>`` of a transition key; ``None`` for another shape."""
    cut = len(key) - _TRANSITION_SUFFIX_LENGTH
    if cut <= len(TRANSITION_PREFIX) or not _TRANSITION_SUFFIX.fullmatch(key, cut):
        return None
    return key[:cut], key[cut:]


def is_transition_suffix(text: str) -> bool:
    return _TRANSITION_SUFFIX.fullmatch(text) is not None


def time_key(vm: VmId, at: datetime) -> str:
    """Sorts before every transition of ``vm`` at or after ``at``."""
    return f"{transitions_prefix(vm)}{format_time(at)}|"


def time_key_after(vm: VmId, at: datetime) -> str:
    """Sorts after every transition of ``vm`` at or before ``at``."""
    return upper_bound(time_key(vm, at))


def current_cursor(subscription: str, key: str) -> str:
    return f"{subscription}{_CURSOR_SEPARATOR}{key}"


def cursor_of(row: CurrentRow) -> str:
    """The cursor that resumes a listing of current rows after ``row``."""
    return current_cursor(row.vm.subscription_key, current_key(row.vm))


def split_current_cursor(cursor: str) -> tuple[str, str]:
    subscription, _, key = cursor.partition(_CURSOR_SEPARATOR)
    return subscription, key


def is_current_cursor(cursor: str) -> bool:
    """A cursor of the VM listing as ``cursor_of`` issues them: ``<subscription>/vm|<group>|<name>``.

    Checked part by part (a lower-case subscription id, then two short printable parts with no
    character a key forbids), so a forged cursor never reaches a storage filter.
    """
    subscription, separator, key = cursor.partition(_CURSOR_SEPARATOR)
    if not separator or not _SUBSCRIPTION_KEY.fullmatch(subscription) or not key.startswith(CURRENT_PREFIX):
        return False
    parts = vm_key_of_current(key).split("|")
    return len(parts) == 2 and all(_is_key_part(part) for part in parts)


def is_transition_cursor(vm: VmId, cursor: str) -> bool:
    """A cursor of this VM's transitions: exactly the shape of one of its keys."""
    prefix = transitions_prefix(vm)
    return cursor.startswith(prefix) and _TRANSITION_SUFFIX.fullmatch(cursor, len(prefix)) is not None


def _is_key_part(part: str) -> bool:
    return 0 < len(part) <= _MAX_KEY_PART and part.isprintable() and not _FORBIDDEN_IN_KEYS.search(part)
