"""The warm-instance cache of current rows this instance wrote, with their ETags.

A steady stream of events then costs one round trip each; a stale entry only costs a 412 and a re-read.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from shared.domain.ids import VmId
from shared.store._records import CurrentRow


class CurrentRowCache:
    """A bounded, thread-safe, least-recently-used map of VM -> current row."""

    def __init__(self, size: int) -> None:
        self._rows: OrderedDict[tuple[str, str], CurrentRow] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, vm: VmId) -> CurrentRow | None:
        with self._lock:
            return self._rows.get(_key(vm))

    def remember(self, row: CurrentRow) -> None:
        with self._lock:
            self._rows[_key(row.vm)] = row
            self._rows.move_to_end(_key(row.vm))
            while len(self._rows) > self._size:
                self._rows.popitem(last=False)

    def forget(self, vm: VmId) -> None:
        with self._lock:
            self._rows.pop(_key(vm), None)


def _key(vm: VmId) -> tuple[str, str]:
    return vm.subscription_key, vm.vm_key
