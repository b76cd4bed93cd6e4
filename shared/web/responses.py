"""HTTP answers without ``azure.functions``: the request and result types, and failures mapped to codes.

Client mistakes become 400/404 with ``{"error": {"code", "message"}}``; storage trouble becomes 503 in
the same shape. Messages never echo input back and never carry a stack trace.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import AzureError

from shared.errors import BadRequestError, ConfigurationError, NotFoundError
from shared.store import Ledger
from shared.web.csv_export import CSV_MIMETYPE, to_csv

logger = logging.getLogger(__name__)

JSON = "application/json"


@dataclass(frozen=True)
class HttpResult:
    """A response: ``body`` is JSON-serialisable for ``application/json``, text for anything else."""

    status: int
    body: Any
    mimetype: str = JSON
    headers: tuple[tuple[str, str], ...] = ()

    def text(self) -> str:
        return json.dumps(self.body) if self.mimetype == JSON else self.body


@dataclass(frozen=True)
class Request:
    """What an endpoint needs from an HTTP request."""

    url: str
    params: Mapping[str, str]
    route: Mapping[str, str]


def respond(
    view: Callable[[Request, Ledger | None], dict[str, Any] | HttpResult],
    request: Request,
    ledger: Callable[[], Ledger] | None,
) -> HttpResult:
    """Run ``view`` and map every outcome to a status and a body (a view may answer in another format).

    ``ledger`` is ``None`` for views that need no storage (the static page), so they answer even when
    storage is down.
    """
    try:
        result = view(request, ledger() if ledger is not None else None)
        return result if isinstance(result, HttpResult) else HttpResult(200, result)
    except BadRequestError as err:
        return _error(400, err.code, err.message)
    except NotFoundError as err:
        return _error(404, err.code, err.message)
    except ConfigurationError as err:
        logger.error("configuration error: %s", err)
        return _error(500, "ConfigurationError", str(err))
    except AzureError as err:
        logger.warning("storage unavailable: %s", type(err).__name__)
        return _error(503, "StorageUnavailable", "the ledger storage is not reachable; try again shortly")
    except Exception:
        logger.exception("unexpected error in %s", getattr(view, "__name__", "view"))
        return _error(500, "InternalError", "unexpected error; see the function logs")


def csv_response(columns: Sequence[str], body: dict[str, Any], filename: str) -> HttpResult:
    """``body["value"]`` as CSV; the next page, if any, goes in a ``Link`` header (CSV has no room for it)."""
    headers = [("Content-Disposition", f'attachment; filename="{filename}"')]
    if "nextLink" in body:
        headers.append(("Link", f'<{body["nextLink"]}>; rel="next"'))
    return HttpResult(200, to_csv(columns, body["value"]), CSV_MIMETYPE, tuple(headers))


def _error(status: int, code: str, message: str) -> HttpResult:
    return HttpResult(status, {"error": {"code": code, "message": message}})
