"""Errors the package raises on purpose. They carry what went wrong, never an HTTP status: ``web/`` maps
them to the API's codes, the CLI to one line and an exit status, the event trigger to a retry.
"""

from __future__ import annotations


class ConfigurationError(RuntimeError):
    """A setting is missing or invalid; the message names the setting."""


class InvalidInput(ValueError):
    """Input that cannot be served. ``field`` names what was wrong (a parameter, a path part, ``window``);
    ``reason`` says why, in words safe to show to the caller (it never repeats the input)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


class NotFound(LookupError):
    """The ledger has no record of ``what`` (e.g. ``vm``)."""

    def __init__(self, what: str, reason: str) -> None:
        super().__init__(reason)
        self.what = what
        self.reason = reason


class StorageUnavailable(RuntimeError):
    """The ledger's Table Storage failed or did not answer. ``status``/``code`` come from the service
    when it answered at all; retrying later may succeed."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class UpstreamUnavailable(RuntimeError):
    """An Azure API other than storage (Resource Manager, Retail Prices, ...) failed: ``service`` names it,
    ``status`` and ``code`` are its answer (``None`` when it never answered)."""

    def __init__(self, service: str, status: int | None, code: str | None, message: str) -> None:
        super().__init__(message)
        self.service = service
        self.status = status
        self.code = code
