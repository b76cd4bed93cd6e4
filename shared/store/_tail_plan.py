"""Planning the rewrite of a VM's later rows, one row at a time: pure, so that it can be streamed.

A transition slotted in before others (a late event), or rows found in need of repair, change the rows
after them: each row stores the state before it (``prev``, from the row ``prev_key``) and the state
after it, so each is re-derived from the one before, in key order. A late event stops at the first row
that comes out as stored: the chain ``prev_key``/``prev`` says that everything after it was derived
from it and is right. A repair re-derives to the end, since it cannot know where a cut-off write
stopped.

The writes are cut into entity group transactions of at most 100 entities, each row conditional on its
ETag. The row right after a late event always changes (its ``prev_key``), so two writers slotting events
into the same gap conflict instead of one silently winning. The current row goes in the last transaction
when it changes, or when it came from a cache and may be stale (its ETag then proves it is not).

When one transaction is not enough, the first also writes the current row with a ``Pending`` marker and
the last clears it: a write cut off half-way leaves the marker, and the next write on that VM finishes
the rewrite before anything else. The last transaction also writes again the first row the first one
wrote, conditional on the ETag that write gave it: a writer that slipped an event into the same gap in
between makes it fail, and the retry finds the marker. A late event's own row is written in the last
transaction, so its redelivery is never mistaken for a duplicate while its rewrite is incomplete.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from datetime import datetime

from shared.domain.vm_state import BillingPolicy, Change, VmState, apply_change, state_before_first
from shared.store._records import CurrentRow, TransitionRow, begins_condition, with_cause
from shared.store._write_plan import TableOperation

MAX_TRANSACTION_SIZE = 100
# ``prev_key`` of a VM's first row: before it the VM did not exist, or nobody recorded it.
BEFORE_FIRST = ""


@dataclass(frozen=True)
class Anchor:
    """The state in force just before some key, and the key of the row it comes from.

    ``key`` ``BEFORE_FIRST``: nothing is recorded before; the state is then that of ``state_before_first``
    for whichever row follows (``state`` is ignored).
    """

    key: str
    state: VmState | None = None

    def state_before(self, change: Change, at: datetime) -> VmState | None:
        return state_before_first(change, at) if self.key == BEFORE_FIRST else self.state


def anchor_from_successor(key: str, successor: TransitionRow | None) -> Anchor | None:
    """What comes before ``key``, read off the first row after it; ``None`` when that row cannot say.

    The successor's ``prev`` is the state before ``key`` when its ``prev_key`` is a row before ``key``
    (or says the successor was the VM's first row). A ``prev_key`` at or after ``key`` names a row that is
    missing (``key`` itself, lost and now redelivered, or a lost row after it), and a row without
    ``prev_key`` predates it: the caller must then look back for the last row before ``key``.
    """
    if successor is None or successor.prev_key is None:
        return None
    if successor.prev_key == BEFORE_FIRST:
        return Anchor(BEFORE_FIRST)
    if successor.prev_key < key:
        return Anchor(successor.prev_key, successor.prev)
    return None


class TailDeriver:
    """Re-derives rows in key order after ``anchor``; ``step`` returns a row as it must be stored, or
    ``None`` when it already is. With ``stop_when_unchanged``, ``stopped`` turns true at such a row and
    nothing after it needs looking at."""

    def __init__(
        self,
        anchor: Anchor,
        policy: BillingPolicy,
        *,
        stop_when_unchanged: bool,
        cause: TransitionRow | None = None,
    ) -> None:
        self._anchor = anchor
        self._policy = policy
        self._stop_when_unchanged = stop_when_unchanged
        self.stopped = False
        self.last: TransitionRow | None = None  # the last row stepped over, as it must be stored
        self.first: TransitionRow | None = None
        # The last row that began a condition (its time is its state's ``since``): what findings call the
        # cause of the end state. ``cause``: the anchor's row, when it is a new one (a late event).
        self.cause = cause if cause is not None and begins_condition(cause) else None

    def step(self, row: TransitionRow) -> TransitionRow | None:
        prev = self._anchor.state_before(row.change, row.time)
        derived = replace(row, prev=prev, prev_key=self._anchor.key, state=derive(prev, row, self._policy))
        self._anchor = Anchor(row.key, derived.state)
        self.last = derived
        if begins_condition(derived):
            self.cause = derived
        if self.first is None:
            self.first = derived
        if derived == row:
            self.stopped = self._stop_when_unchanged
            return None
        return derived


@dataclass(frozen=True)
class Transaction:
    """Row writes for one entity group transaction, and the current row to write last (if any).

    ``first``: this is the first of several transactions; ``retouch``: write again the first row the first
    transaction wrote, on the ETag that write returned.
    """

    operations: list[TableOperation]
    current: CurrentRow | None
    first: bool = False
    retouch: bool = False


@dataclass
class TransactionPlan:
    """Cuts a stream of row writes into transactions (see the module docstring).

    ``marked`` is the current row as the first of several transactions writes it (with its ``Pending``
    marker). ``add`` returns the transactions that are complete; ``finish`` the rest, the last one with
    ``last_operations`` (a late event's own row) and the current row ``final``.
    """

    marked: CurrentRow
    size: int = MAX_TRANSACTION_SIZE
    _buffer: list[TableOperation] = field(default_factory=list)
    started: bool = False

    def add(self, operation: TableOperation) -> list[Transaction]:
        self._buffer.append(operation)
        if not self.started and len(self._buffer) > self.size - 2:
            # More than fits beside the current row and a new row: several transactions, marker first.
            first, self._buffer = self._buffer[: self.size - 1], self._buffer[self.size - 1 :]
            self.started = True
            return [Transaction(first, self.marked, first=True)]
        if self.started and len(self._buffer) == self.size:
            full, self._buffer = self._buffer, []
            return [Transaction(full, None)]
        return []

    def finish(self, final: CurrentRow | None, last_operations: list[TableOperation]) -> list[Transaction]:
        """The remaining transactions; ``final`` ``None``: the current row need not be written (it is
        then written anyway when several transactions were needed, to clear the marker)."""
        if self.started and final is None:
            raise ValueError("a rewrite in several transactions must write the current row last")
        extra = (final is not None) + self.started
        transactions: list[Transaction] = []
        if len(self._buffer) + len(last_operations) + extra > self.size:
            transactions.append(Transaction(self._buffer, None))
            self._buffer = []
        operations = self._buffer + last_operations
        self._buffer = []
        if operations or final is not None:
            transactions.append(Transaction(operations, final, retouch=self.started))
        return transactions


def settled_current(base: CurrentRow, deriver: TailDeriver, policy: BillingPolicy) -> CurrentRow:
    """The current row after a rewrite that reached the end of the VM's rows (or stopped early).

    Stopped early: the end state did not change. Otherwise the last row re-derived gives the end state,
    unless the current row names a later last row that is missing (lost): it keeps that row's state,
    which the row's redelivery will re-derive.
    """
    last = deriver.last
    settled = replace(base, upkeep=replace(base.upkeep, pending=None))
    if not (deriver.stopped or last is None or last.key < base.span.last_key):
        settled = replace(
            settled,
            condition=replace(settled.condition, state=last.state, billing_policy=policy.label),
            span=replace(settled.span, last_key=last.key, last_time=last.time),
        )
    # Even when the end state is as it was, a row slotted in at the instant its condition began, before the
    # row that began it, takes that role (e.g. a creation delivered after a start at the same instant).
    return _with_cause_row(settled, deriver.cause)


def _with_cause_row(current: CurrentRow, cause: TransitionRow | None) -> CurrentRow:
    """``current`` with ``cause`` as what began its condition, when ``cause`` did (its time is ``since``)."""
    if cause is None or cause.time != current.condition.state.since:
        return current
    return with_cause(current, cause.origin)


def derive(prev: VmState | None, row: TransitionRow, policy: BillingPolicy) -> VmState:
    """A recorded row keeps the billing policy that flagged it: a new setting does not rewrite history."""
    return apply_change(prev, row.change, row.time, _recorded_policy(row.billing_policy, policy))


@functools.lru_cache(maxsize=64)
def _parsed_policy(label: str) -> BillingPolicy:
    return BillingPolicy.parse(label)


def _recorded_policy(label: str, default: BillingPolicy) -> BillingPolicy:
    try:
        return _parsed_policy(label) if label else default
    except ValueError:
        return default
