"""Storage failures as ``StorageUnavailable``, so no caller mistakes them for an upstream's answer."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

from azure.core.exceptions import AzureError

from shared.errors import StorageUnavailable

T = TypeVar("T")


@contextmanager
def storage_errors() -> Iterator[None]:
    """Raise ``StorageUnavailable`` (from the SDK's error) for any Azure SDK failure inside."""
    try:
        yield
    except AzureError as err:
        raise unavailable(err) from err


def translated(items: Iterator[T]) -> Iterator[T]:
    """``items`` (a lazily paged query), with failures while paging translated too."""
    with storage_errors():
        yield from items


def unavailable(err: AzureError) -> StorageUnavailable:
    status = getattr(err, "status_code", None)
    code = getattr(err, "error_code", None)
    details = " ".join(str(part) for part in (status, code) if part is not None)
    message = type(err).__name__ + (f" {details}" if details else "")
    return StorageUnavailable(message, status=status, code=str(code) if code is not None else None)
