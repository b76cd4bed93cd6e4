"""Reading the ledger's rows (private): the one range query every reader uses, and the reads ``Ledger``
offers (a VM's current row, its transitions, pages of current rows, the subscriptions). The writes are
``ledger``'s, ``_tail_writer``'s and ``months``'s.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableClient

from shared.domain.ids import VmId
from shared.store._confirm import confirmation_from_entity, with_confirmations
from shared.store._entities import current_from_entity
from shared.store._errors import storage_errors, translated
from shared.store._keys import (
    SUBSCRIPTIONS_PARTITION,
    confirmation_range_of,
    current_key,
    current_prefix,
    split_current_cursor,
    time_key,
    time_key_after,
    transitions_prefix,
    upper_bound,
)
from shared.store._records import CurrentRow, TransitionRow
from shared.store._transition_entities import transition_from_entity


def query_range(
    table: TableClient, partition: str, low: str, high: str, page_size: int, *, start_inclusive: bool = True
) -> Iterator[Any]:
    """Entities of ``partition`` whose RowKey is from ``low`` (inclusive unless ``start_inclusive`` is
    false) to ``high`` (exclusive), in key order, lazily; the filter's values are always parameters."""
    operator = "ge" if start_inclusive else "gt"
    return iter(
        table.query_entities(
            f"PartitionKey eq @pk and RowKey {operator} @low and RowKey lt @high",
            parameters={"pk": partition, "low": low, "high": high},
            results_per_page=page_size,
        )
    )


class LedgerReads:
    """The reads of ``Ledger``."""

    def __init__(self, table: TableClient) -> None:
        self.table = table

    def get_current(self, vm: VmId) -> CurrentRow | None:
        """The VM's current row (one point read), or ``None`` when the ledger has never seen it."""
        with storage_errors():
            try:
                entity = self.table.get_entity(vm.subscription_key, current_key(vm))
            except ResourceNotFoundError:
                return None
        return current_from_entity(entity)

    def iter_transitions(
        self,
        vm: VmId,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        after: str | None = None,
        page_size: int = 1000,
    ) -> Iterator[TransitionRow]:
        """The VM's transitions at or after ``start`` and at or before ``end``, in time order, lazily.

        ``after`` is the key of a row returned before: the rows after it, for the next page.
        """
        prefix = transitions_prefix(vm)
        low = after if after is not None else (time_key(vm, start) if start else prefix)
        high = time_key_after(vm, end) if end else upper_bound(prefix)
        entities = query_range(self.table, vm.subscription_key, low, high, page_size)
        rows = (transition_from_entity(entity) for entity in entities)
        return translated((row for row in rows if row.key != after) if after is not None else rows)

    def iter_current_rows(
        self, subscription: str | None = None, *, group: str | None = None, after: str | None = None,
        page_size: int = 1000, scale_set_name: str | None = None, confirmations: bool = False,
    ) -> Iterator[CurrentRow]:  # fmt: skip
        """Current rows of one subscription (or of every one, in order), optionally one resource group,
        or (``scale_set_name`` with ``group``) the instances of one Uniform scale set.

        ``after`` is ``cursor_of`` a row returned before: the rows after it, for the next page.
        ``confirmations``: with each row's last reconcile confirmation (``CurrentRow.confirmed_at``), read
        from the confirmation rows of the same range (one more range query per page).
        """
        prefix = current_prefix(group, scale_set_name)
        return translated(self._current_rows(subscription, prefix, after, page_size, confirmations))

    def _current_rows(
        self, subscription: str | None, prefix: str, after: str | None, page_size: int, confirmations: bool
    ) -> Iterator[CurrentRow]:
        subscriptions = [subscription.lower()] if subscription else sorted(self.list_subscriptions())
        after_sub, after_key = split_current_cursor(after or "")
        for sub in subscriptions:
            if after_sub and sub < after_sub:
                continue
            resume = sub == after_sub and after_key > prefix
            entities = query_range(
                self.table,
                sub,
                after_key if resume else prefix,
                upper_bound(prefix),
                page_size,
                start_inclusive=not resume,
            )
            rows: Iterator[CurrentRow] = (current_from_entity(entity) for entity in entities)
            if confirmations:
                low = confirmation_range_of(after_key if resume else prefix)
                high = upper_bound(confirmation_range_of(prefix))
                found = query_range(self.table, sub, low, high, page_size, start_inclusive=not resume)
                rows = with_confirmations(rows, (confirmation_from_entity(entity) for entity in found))
            yield from rows

    def list_subscriptions(self) -> list[str]:
        """Subscription ids (lower case) that have VMs in the ledger."""
        with storage_errors():
            entities = self.table.query_entities(
                "PartitionKey eq @pk", parameters={"pk": SUBSCRIPTIONS_PARTITION}, select=["RowKey"]
            )
            return [entity["RowKey"] for entity in entities]
