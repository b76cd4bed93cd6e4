"""Every error code the API answers, and the mapping from the package's errors to a status and a code.

Domain and parameter errors carry a field and a reason; storage and upstream failures carry what the
service said. Logs keep the service's status and error code, never caller data.
"""

from __future__ import annotations

import logging
from enum import StrEnum

from shared.errors import (
    ConfigurationError,
    InvalidInput,
    NotFound,
    StorageUnavailable,
    UpstreamUnavailable,
)

logger = logging.getLogger(__name__)


class ApiErrorCode(StrEnum):
    """The ``error.code`` values of the API (the README's error table lists the same)."""

    INVALID_PATH_PART = "InvalidPathPart"
    INVALID_TIME = "InvalidTime"
    INVALID_WINDOW = "InvalidWindow"
    INVALID_TOP = "InvalidTop"
    INVALID_CONTINUATION_TOKEN = "InvalidContinuationToken"
    INVALID_FORMAT = "InvalidFormat"
    INVALID_KIND = "InvalidKind"
    INVALID_MIN_HOURS = "InvalidMinHours"
    INVALID_GROUP_BY = "InvalidGroupBy"
    INVALID_PARAMETER = "InvalidParameter"
    VM_NOT_FOUND = "VmNotFound"
    NOT_FOUND = "NotFound"
    STORAGE_UNAVAILABLE = "StorageUnavailable"
    UPSTREAM_UNAVAILABLE = "UpstreamUnavailable"
    CONFIGURATION_ERROR = "ConfigurationError"
    INTERNAL_ERROR = "InternalError"


_INVALID_FIELD_CODES = {
    "subscriptionId": ApiErrorCode.INVALID_PATH_PART,
    "resourceGroup": ApiErrorCode.INVALID_PATH_PART,
    "vmName": ApiErrorCode.INVALID_PATH_PART,
    "scaleSetName": ApiErrorCode.INVALID_PATH_PART,
    "instanceId": ApiErrorCode.INVALID_PATH_PART,
    "from": ApiErrorCode.INVALID_TIME,
    "to": ApiErrorCode.INVALID_TIME,
    "window": ApiErrorCode.INVALID_WINDOW,
    "top": ApiErrorCode.INVALID_TOP,
    "continuationToken": ApiErrorCode.INVALID_CONTINUATION_TOKEN,
    "format": ApiErrorCode.INVALID_FORMAT,
    "kind": ApiErrorCode.INVALID_KIND,
    "minHours": ApiErrorCode.INVALID_MIN_HOURS,
    "groupBy": ApiErrorCode.INVALID_GROUP_BY,
}
_NOT_FOUND_CODES = {"vm": ApiErrorCode.VM_NOT_FOUND}


def api_error(err: Exception) -> tuple[int, ApiErrorCode, str]:
    """Status, code and message for an error an endpoint raised; unexpected ones are logged with their
    traceback and answered without it."""
    if isinstance(err, InvalidInput):
        return 400, _INVALID_FIELD_CODES.get(err.field, ApiErrorCode.INVALID_PARAMETER), err.reason
    if isinstance(err, NotFound):
        return 404, _NOT_FOUND_CODES.get(err.what, ApiErrorCode.NOT_FOUND), err.reason
    if isinstance(err, StorageUnavailable):
        logger.warning("storage unavailable: status %s, code %s: %s", err.status, err.code, err)
        message = "the ledger storage is not reachable; try again shortly"
        return 503, ApiErrorCode.STORAGE_UNAVAILABLE, message
    if isinstance(err, UpstreamUnavailable):
        logger.warning("%s unavailable: status %s, code %s", err.service, err.status, err.code)
        return 503, ApiErrorCode.UPSTREAM_UNAVAILABLE, f"{err.service} is not available; try again shortly"
    if isinstance(err, ConfigurationError):
        logger.error("configuration error: %s", err)
        return 500, ApiErrorCode.CONFIGURATION_ERROR, str(err)
    logger.error("unexpected error", exc_info=err)
    return 500, ApiErrorCode.INTERNAL_ERROR, "unexpected error; see the function logs"
