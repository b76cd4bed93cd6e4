"""The HTTP API as plain functions: validated parameters in, a status and a JSON body out.

Client mistakes become 400/404 with ``{"error": {"code", "message"}}``; storage trouble becomes 503 in
the same shape. Messages never echo input back and never carry a stack trace. Query parameters never
reach an OData filter: they are parsed into times, numbers and validated keys first.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from azure.core.exceptions import AzureError

from shared.accounting import as_number
from shared.csv_export import (
    CSV_FORMAT,
    CSV_MIMETYPE,
    TRANSITION_COLUMNS,
    VM_COLUMNS,
    requested_format,
    to_csv,
)
from shared.errors import BadRequestError, ConfigurationError, NotFoundError
from shared.ledger import Ledger
from shared.queries import Page, transitions_page, vm_report, vms_page
from shared.resource_ids import VmId, require_part, vm_id_from_parts
from shared.rows import CURRENT_PREFIX, CurrentRow, TransitionRow, transitions_prefix
from shared.times import format_time, parse_time, utc_now
from shared.transitions import VmState

logger = logging.getLogger(__name__)

DEFAULT_TOP = 100
MAX_TOP = 1000


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
    """What a view needs from an HTTP request."""

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


def get_vm(request: Request, ledger: Ledger) -> dict[str, Any]:
    vm = _vm(request)
    as_of = utc_now()
    start, end = query_window(request.params, default_end=as_of)
    report = vm_report(ledger, vm, start, end, as_of)
    body = vm_body(report.current)
    body.update(
        billedSeconds=as_number(report.totals.billed_seconds),
        unknownSeconds=as_number(report.totals.unknown_seconds),
        window={"from": format_time(report.start), "to": format_time(report.end)},
        asOf=format_time(as_of),
        billedPowerStates=ledger.policy.ordered,
    )
    return body


def list_vm_transitions(request: Request, ledger: Ledger) -> dict[str, Any] | HttpResult:
    output = requested_format(request.params)
    vm = _vm(request)
    start, end = query_window(request.params, default_end=None)
    top = page_size(request.params)
    after = continuation_after(request.params)
    if after is not None and not after.startswith(transitions_prefix(vm)):
        raise BadRequestError("InvalidContinuationToken", "continuationToken does not belong to this query")
    _, page = transitions_page(ledger, vm, start, end, top, after)
    body = paged_body([_transition_body(row) for row in page.items], page.next_after, request)
    if output == CSV_FORMAT:
        return csv_response(TRANSITION_COLUMNS, body, "transitions.csv")
    return body


def list_vms(request: Request, ledger: Ledger) -> dict[str, Any] | HttpResult:
    output = requested_format(request.params)
    page = vms_page_for(request.params, ledger, DEFAULT_TOP, MAX_TOP)
    body = paged_body([vm_body(row) for row in page.items], page.next_after, request)
    if output == CSV_FORMAT:
        return csv_response(VM_COLUMNS, body, "vms.csv")
    return body


def vms_page_for(
    params: Mapping[str, str], ledger: Ledger, default_top: int, max_top: int
) -> Page[CurrentRow]:
    """The page of current rows that ``subscriptionId``, ``resourceGroup``, ``top`` and the token ask for."""
    subscription = params.get("subscriptionId")
    group = params.get("resourceGroup")
    if subscription is not None:
        require_part("subscriptionId", subscription)
    if group is not None:
        require_part("resourceGroup", group)
    top = page_size(params, default_top, max_top)
    after = continuation_after(params)
    if after is not None and f"/{CURRENT_PREFIX}" not in after:
        raise BadRequestError("InvalidContinuationToken", "continuationToken does not belong to this query")
    return vms_page(ledger, subscription, group, top, after)


def csv_response(columns: Sequence[str], body: dict[str, Any], filename: str) -> HttpResult:
    """``body["value"]`` as CSV; the next page, if any, goes in a ``Link`` header (CSV has no room for it)."""
    headers = [("Content-Disposition", f'attachment; filename="{filename}"')]
    if "nextLink" in body:
        headers.append(("Link", f'<{body["nextLink"]}>; rel="next"'))
    return HttpResult(200, to_csv(columns, body["value"]), CSV_MIMETYPE, tuple(headers))


def state_body(state: VmState) -> dict[str, Any]:
    return {
        "provisioningState": state.provisioning_state,
        "powerState": state.power_state,
        "hibernated": state.hibernated,
        "deleted": state.deleted,
        "billable": state.billable,
    }


def vm_body(current: CurrentRow) -> dict[str, Any]:
    vm = current.vm
    return {
        "resourceId": vm.resource_id,
        "subscriptionId": vm.subscription_id,
        "resourceGroup": vm.resource_group,
        "vmName": vm.name,
        **state_body(current.state),
        "since": format_time(current.state.since),
        "lastChange": format_time(current.last_time),
    }


def _transition_body(row: TransitionRow) -> dict[str, Any]:
    return {
        "time": format_time(row.time),
        **state_body(row.state),
        "operationName": row.operation_name,
        "source": row.source,
        "eventId": row.event_id,
        "billingPolicy": row.billing_policy,
        "changedAfter": format_time(row.changed_after) if row.changed_after else None,
    }


def _vm(request: Request) -> VmId:
    route = request.route
    return vm_id_from_parts(
        route.get("subscriptionId", ""), route.get("resourceGroup", ""), route.get("vmName", "")
    )


def query_window(
    params: Mapping[str, str], default_end: datetime | None
) -> tuple[datetime | None, datetime | None]:
    start = _time(params, "from")
    end = _time(params, "to") or default_end
    if start is not None and end is not None and end < start:
        raise BadRequestError("InvalidWindow", "'to' is earlier than 'from'")
    return start, end


def _time(params: Mapping[str, str], name: str) -> datetime | None:
    text = params.get(name)
    if text is None:
        return None
    try:
        return parse_time(text)
    except (ValueError, OverflowError):
        raise BadRequestError(
            "InvalidTime", f"'{name}' must be an ISO-8601 time such as 2026-01-31T00:00:00Z"
        ) from None


def page_size(params: Mapping[str, str], default: int = DEFAULT_TOP, maximum: int = MAX_TOP) -> int:
    """The ``top`` parameter: a whole number from 1 to ``maximum``."""
    text = params.get("top")
    if text is None:
        return default
    # Length first: int() refuses more than 4,300 digits with a ValueError, which would surface as a 500.
    if not text.isascii() or not text.isdigit() or len(text) > 9 or not 1 <= int(text) <= maximum:
        raise BadRequestError("InvalidTop", f"'top' must be a whole number from 1 to {maximum}")
    return int(text)


def continuation_after(params: Mapping[str, str]) -> str | None:
    """Continuation tokens are opaque to clients: base64url JSON holding the last key returned."""
    text = params.get("continuationToken")
    if text is None:
        return None
    try:
        decoded = json.loads(base64.urlsafe_b64decode(text.encode("ascii") + b"=" * (-len(text) % 4)))
    except (ValueError, UnicodeError, binascii.Error):
        decoded = None
    after = decoded.get("after") if isinstance(decoded, dict) else None
    if not isinstance(after, str) or not after:
        raise BadRequestError("InvalidContinuationToken", "continuationToken is not one this API issued")
    return after


def _encode_token(after: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": after}).encode()).decode().rstrip("=")


def paged_body(items: list[dict[str, Any]], next_after: str | None, request: Request) -> dict[str, Any]:
    body: dict[str, Any] = {"value": items}
    if next_after is not None:
        body["nextLink"] = _next_link(request, _encode_token(next_after))
    return body


def _next_link(request: Request, token: str) -> str:
    parts = urlsplit(request.url)
    params = {k: v for k, v in request.params.items() if k != "continuationToken"}
    params["continuationToken"] = token
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(params), ""))


def _error(status: int, code: str, message: str) -> HttpResult:
    return HttpResult(status, {"error": {"code": code, "message": message}})
