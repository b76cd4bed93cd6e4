"""Azure Table Storage: the ledger's records, its key layout (private), and the ``Ledger`` facade."""

from shared.store._keys import cursor_of, is_current_cursor, is_transition_cursor
from shared.store._records import CurrentRow, NewTransition, Outcome, Source, TransitionRow
from shared.store.ledger import ConflictRetriesExhausted, Ledger
from shared.store.tables import STORAGE_CLIENT_OPTIONS, open_ledger, table_service_client

__all__ = [
    "STORAGE_CLIENT_OPTIONS",
    "ConflictRetriesExhausted",
    "CurrentRow",
    "Ledger",
    "NewTransition",
    "Outcome",
    "Source",
    "TransitionRow",
    "cursor_of",
    "is_current_cursor",
    "is_transition_cursor",
    "open_ledger",
    "table_service_client",
]
