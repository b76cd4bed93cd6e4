"""The findings topic's outbox: one row per occurrence in the ledger table's ``published`` partition.

The row key is the occurrence key (``<subscription>|<group>|<vm>|<kind>``, or ``digest|<day>``). Columns:
``stage`` (``raising``, ``raised``, ``clearing``), ``occurrence`` (the raise event's id), ``subject``,
``leaseUntil`` (no other run sends this row's event before then), and ``event``, the event in flight as
JSON (kept after the raise, for the clear event's data). A cleared occurrence's row is deleted.

Every write is conditional: a new row is inserted (409: another run wrote it first), a row read before is
replaced or deleted on its ETag (412: another run moved it on). Whoever wins a row sends its event; the
loser leaves it. All rows share one partition, so writes go 100 to an entity group transaction; a
transaction that fails on one row drops that row (someone else has it) and goes again with the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableClient, TableTransactionError, TransactionOperation, UpdateMode

from shared.domain.pushed_events import Intent, Published, PushedEvent, Stage
from shared.domain.times import format_time, parse_time
from shared.errors import StorageUnavailable
from shared.store._errors import storage_errors, translated

PUBLISHED_PARTITION = "published"
# The columns of an occurrence row (this module's own layout, as the price book has its own).
STAGE, OCCURRENCE, SUBJECT, LEASE_UNTIL, EVENT = "stage", "occurrence", "subject", "leaseUntil", "event"
BATCH = 100
# The row changed, exists or is gone since it was read: another run has it.
_LOST_STATUSES = (404, 409, 412)
_EPOCH = "1970-01-01T00:00:00.000000Z"

Operation = tuple[TransactionOperation, dict[str, Any], dict[str, Any]]


@dataclass(frozen=True)
class Owned:
    """An intent whose row this run wrote (``etag`` is the row's now): its event is this run's to send."""

    intent: Intent
    etag: str


class Outbox:
    """Reads and writes the ``published`` partition of the ledger table."""

    def __init__(self, table: TableClient) -> None:
        self.table = table

    def load(self) -> dict[str, Published]:
        """Every occurrence row (one range query per 1,000 rows)."""
        entities = self.table.query_entities("PartitionKey eq @p", parameters={"p": PUBLISHED_PARTITION})
        rows = (_published(entity) for entity in translated(iter(entities)))
        return {row.key: row for row in rows}

    def get(self, key: str) -> Published | None:
        """One occurrence row (a point read), ``None`` when there is none."""
        with storage_errors():
            try:
                return _published(self.table.get_entity(PUBLISHED_PARTITION, key))
            except ResourceNotFoundError:
                return None

    def forget_before(self, first_kept: str, prefix: str) -> int:
        """Delete the rows whose key starts with ``prefix`` and sorts before ``first_kept`` (old digests)."""
        query = "PartitionKey eq @p and RowKey ge @low and RowKey lt @high"
        bounds = {"p": PUBLISHED_PARTITION, "low": prefix, "high": first_kept}
        entities = self.table.query_entities(query, parameters=bounds, select=["PartitionKey", "RowKey"])
        old = [dict(entity) for entity in translated(iter(entities))]
        ops: list[Operation] = [(TransactionOperation.DELETE, entity, {}) for entity in old]
        return sum(1 for result in self._submit(ops) if result is not None)

    def claim(self, intents: Sequence[Intent], lease_until: datetime) -> list[Owned]:
        """Write each intent's row (its stage, event and lease); the intents this run won."""
        ops = [_claim_op(intent, lease_until) for intent in intents]
        etags = self._submit(ops)
        return [Owned(intent, etag) for intent, etag in zip(intents, etags, strict=True) if etag is not None]

    def confirm(self, sent: Sequence[Owned]) -> int:
        """The topic took these events: a raise becomes ``raised``, a cleared occurrence's row goes."""
        return sum(1 for etag in self._submit([_confirm_op(item) for item in sent]) if etag is not None)

    def release(self, unsent: Sequence[Owned]) -> None:
        """Give up the lease on events not sent, so that the next run sends them."""
        self._submit([_update(item.intent.key, item.etag, {LEASE_UNTIL: _EPOCH}) for item in unsent])

    def _submit(self, ops: Sequence[Operation]) -> list[str | None]:
        """Each operation's new ETag (``"deleted"`` for a delete), ``None`` for one another run beat."""
        results: list[str | None] = []
        for start in range(0, len(ops), BATCH):
            results += self._submit_chunk(list(ops[start : start + BATCH]))
        return results

    def _submit_chunk(self, chunk: list[Operation]) -> list[str | None]:
        results: list[str | None] = [None] * len(chunk)
        pending = list(range(len(chunk)))
        while pending:
            try:
                with storage_errors():
                    answers = self.table.submit_transaction([chunk[i] for i in pending])
            except StorageUnavailable as err:
                lost = _lost_index(err)
                if lost is None or lost >= len(pending):
                    raise
                del pending[lost]
                continue
            for i, answer in zip(pending, answers, strict=True):
                results[i] = str(answer.get("etag") or "deleted")
            break
        return results


def _lost_index(err: StorageUnavailable) -> int | None:
    cause = err.__cause__
    if isinstance(cause, TableTransactionError) and cause.status_code in _LOST_STATUSES:
        index = getattr(cause, "index", None)
        return index if isinstance(index, int) else None
    return None


def _claim_op(intent: Intent, lease_until: datetime) -> Operation:
    columns = {
        STAGE: intent.stage.value,
        OCCURRENCE: intent.occurrence,
        SUBJECT: intent.event.subject,
        LEASE_UNTIL: format_time(lease_until),
        EVENT: intent.event.to_json(),
    }
    if intent.etag is None:
        return (TransactionOperation.CREATE, _entity(intent.key, columns), {})
    return _update(intent.key, intent.etag, columns)


def _confirm_op(item: Owned) -> Operation:
    intent = item.intent
    if intent.stage is Stage.CLEARING:
        entity = {"PartitionKey": PUBLISHED_PARTITION, "RowKey": intent.key}
        return (TransactionOperation.DELETE, entity, _if_match(item.etag))
    return _update(intent.key, item.etag, {STAGE: Stage.RAISED.value, LEASE_UNTIL: _EPOCH})


def _update(key: str, etag: str, columns: dict[str, Any]) -> Operation:
    options = {"mode": UpdateMode.MERGE, **_if_match(etag)}
    return (TransactionOperation.UPDATE, _entity(key, columns), options)


def _if_match(etag: str) -> dict[str, Any]:
    return {"etag": etag, "match_condition": MatchConditions.IfNotModified}


def _entity(key: str, columns: dict[str, Any]) -> dict[str, Any]:
    return {"PartitionKey": PUBLISHED_PARTITION, "RowKey": key, **columns}


def _published(entity: dict[str, Any]) -> Published:
    return Published(
        key=entity["RowKey"],
        stage=Stage(entity[STAGE]),
        occurrence=entity[OCCURRENCE],
        subject=entity.get(SUBJECT, ""),
        lease_until=parse_time(entity[LEASE_UNTIL]),
        event=PushedEvent.from_json(entity[EVENT]) if entity.get(EVENT) else None,
        etag=str(getattr(entity, "metadata", {})["etag"]),
    )
