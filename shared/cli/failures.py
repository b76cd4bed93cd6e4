"""What the command line says when a command fails: one line and an exit status, never a traceback."""

from __future__ import annotations

import json

from shared.errors import ConfigurationError, InvalidInput, NotFound, StorageUnavailable, UpstreamUnavailable
from shared.sources import ListingError
from shared.store import ConflictRetriesExhausted

RETRY = 1
BAD_INPUT = 2


def describe_failure(err: Exception) -> tuple[str, int]:
    """The line to print for ``err`` and the exit status."""
    if isinstance(err, StorageUnavailable):
        return (
            f"the ledger storage is not reachable ({err}); is Azurite running, and are VM_LEDGER_STORAGE "
            "or VM_LEDGER_STORAGE__tableServiceUri right?",
            RETRY,
        )
    if isinstance(err, UpstreamUnavailable | ListingError | ConflictRetriesExhausted):
        return str(err), RETRY
    if isinstance(err, json.JSONDecodeError):
        return f"not JSON: {err.msg} at line {err.lineno}, column {err.colno}", BAD_INPUT
    if isinstance(err, FileNotFoundError):
        return f"no such file: {err.filename}", BAD_INPUT
    if isinstance(err, OSError):
        return f"cannot read {err.filename}: {err.strerror}", BAD_INPUT
    if isinstance(err, ConfigurationError | InvalidInput | NotFound | ValueError):
        return str(err), BAD_INPUT
    return f"unexpected {type(err).__name__}: {err}", RETRY
