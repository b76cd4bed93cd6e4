"""Exceptions the package raises on purpose, so callers can map them to a response."""


class ConfigurationError(RuntimeError):
    """A setting is missing or invalid; the message names the setting."""


class BadRequestError(ValueError):
    """Client input that cannot be served; ``code`` is a stable machine-readable reason."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class NotFoundError(LookupError):
    """The requested VM or page does not exist in the ledger."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
