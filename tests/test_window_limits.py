"""Windows at the edges of the calendar: every window an endpoint accepts is answered within the usual
round trips, or refused with ``InvalidWindow``, never a hang or a 500.

Month labels past December 9999 ("10000-01") sort before "9999-12" as text, and a window ending on
0001-01-01 has no instant before its end: both once made the fleet answers loop over a million months or
raise. The app runs against Azurite behind ``devtools.faultproxy``, which counts every request; a watchdog
makes the proxy refuse everything once a call has sent far more requests than any answer needs, so a
regression fails here on the count instead of hanging the suite.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import azure.functions as func
import pytest

import function_app
from devtools.events import SUB, vm_id
from devtools.faultproxy import FaultProxy
from shared import context
from shared.answers import MAX_WINDOW_MONTHS, fleet_totals
from shared.answers._fleet import window_months
from shared.domain.times import months_from
from shared.errors import InvalidInput
from shared.web.params import MAX_WINDOW
from tests.factories import deliver, sample_day

pytestmark = pytest.mark.azurite

SEEDED = vm_id("web-01", "rg-app")
VM_ROUTE = {"subscriptionId": SUB, "resourceGroup": "rg-app", "vmName": "web-01"}
# One VM in the ledger: the widest answer reads the registry, a page of current rows, each month of the
# window (at most MAX_WINDOW_MONTHS) and the prices. Far more than that means a loop over months.
REQUEST_LIMIT = MAX_WINDOW_MONTHS + 6

ENDPOINTS: dict[str, tuple[Callable[[func.HttpRequest], func.HttpResponse], dict[str, str]]] = {
    "get_vm": (function_app.get_vm, VM_ROUTE),
    "list_vm_transitions": (function_app.list_vm_transitions, VM_ROUTE),
    "list_vms": (function_app.list_vms, {}),
    "list_vm_timelines": (function_app.list_vm_timelines, {}),
    "list_costs": (function_app.list_costs, {}),
}
WINDOWS = {
    "December 9999": {"from": "9999-12-01", "to": "9999-12-31T23:59:59.9999999Z"},
    "to the last instant (costs: from the month's start)": {"to": "9999-12-31T23:59:59.999999Z"},
    "the last year": {"from": "9999-01-01", "to": "9999-12-31T23:59:59Z"},
    "to 0001-01-01 (costs: an empty window at the first instant)": {"to": "0001-01-01"},
    "empty, at the first instant": {"from": "0001-01-01", "to": "0001-01-01T00:00:00Z"},
    "the first microsecond": {"from": "0001-01-01", "to": "0001-01-01T00:00:00.000001Z"},
    "the first year": {"from": "0001-01-01", "to": "0001-12-31"},
    "across the seeded day": {"from": "2026-11-01", "to": "2026-12-01"},
}


@pytest.fixture
def proxy(counted_app: FaultProxy) -> FaultProxy:
    deliver(*sample_day(SEEDED))
    return counted_app


def _bounded_call(proxy: FaultProxy, call: Callable[[], func.HttpResponse]) -> tuple[func.HttpResponse, int]:
    """``call()`` and the requests it sent; past ``REQUEST_LIMIT`` the proxy refuses every request, so a
    call that loops over storage ends (with an error) instead of hanging the test."""
    answer: list[func.HttpResponse] = []
    proxy.reset_counts()
    worker = threading.Thread(target=lambda: answer.append(call()), daemon=True)
    worker.start()
    while worker.is_alive():
        if proxy.total() > REQUEST_LIMIT:
            proxy.refuse()
        worker.join(0.05)
    sent = proxy.total()
    proxy.heal()
    assert answer, "the call raised instead of answering"
    return answer[0], sent


@pytest.mark.slow
@pytest.mark.parametrize("window", sorted(WINDOWS))
@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
def test_a_window_at_the_edge_of_the_calendar_is_answered_within_the_bound_or_refused(
    proxy, endpoint, window
):
    function, route = ENDPOINTS[endpoint]
    request = func.HttpRequest(
        "GET", "http://localhost:7071/api/x", body=b"", params=WINDOWS[window], route_params=route
    )
    response, sent = _bounded_call(proxy, lambda: function(request))
    body = json.loads(response.get_body())

    assert sent <= REQUEST_LIMIT, f"{sent} requests: the answer loops over months"
    assert response.status_code in (200, 400), body
    if response.status_code == 400:
        assert body["error"]["code"] == "InvalidWindow", body


def test_a_fleet_answer_refuses_a_window_touching_more_months_than_its_bound_before_reading(proxy):
    ledger = context.get_ledger()
    rows = list(ledger.iter_current_rows())
    start = datetime(2025, 1, 15, tzinfo=UTC)
    end = datetime(2026, 3, 15, tzinfo=UTC)  # 15 months touched, under two years of as_of
    assert len(months_from("2025-01", "2026-03")) == MAX_WINDOW_MONTHS + 1
    proxy.reset_counts()
    with pytest.raises(InvalidInput) as raised:
        fleet_totals(ledger, rows, start, end, datetime(2026, 12, 1, tzinfo=UTC))
    assert raised.value.field == "window"
    assert proxy.total() == 0


def test_the_longest_window_the_api_serves_touches_at_most_the_months_fleet_answers_read():
    # The most months are touched from a month's last second: four years of those, leap years among them.
    starts = [datetime(2027 + i // 12, i % 12 + 1, 1, tzinfo=UTC) - timedelta(seconds=1) for i in range(48)]
    touched = [len(window_months(start, start + MAX_WINDOW)) for start in starts]
    assert max(touched) == MAX_WINDOW_MONTHS
