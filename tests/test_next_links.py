"""A next link asks for the next page of the same query: every filter the caller sent is carried over,
and nothing else (never the function key)."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

import function_app
from devtools.events import vm_id, wire_event
from shared.domain.times import utc_now
from shared.web.params import next_link
from shared.web.responses import Request
from tests.factories import deliver, http_get


def test_a_next_link_keeps_every_filter_of_every_paged_route_and_never_the_key():
    sent = {
        "from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z", "top": "2", "subscriptionId": "s",
        "resourceGroup": "rg", "scaleSet": "web-ss", "kind": "stoppedButBilled", "minHours": "3",
        "format": "csv", "resolution": "PT15M", "code": "secret-key", "unknown": "x",
    }  # fmt: skip
    link = next_link(Request(url="http://localhost:7071/api/findings", params=sent, route={}), "after")
    carried = dict(parse_qsl(urlsplit(link).query))
    expected = {name: value for name, value in sent.items() if name not in ("code", "unknown")}
    assert {name: value for name, value in carried.items() if name != "continuationToken"} == expected


def ago(hours: float = 0, days: float = 0):
    return utc_now() - timedelta(hours=hours, days=days)


def test_following_a_findings_next_link_as_given_stays_within_the_kind_asked_for(ledger):
    for index in range(3):
        deliver(
            wire_event("write", ago(hours=5), resource_id=vm_id(f"off-{index}")),
            wire_event("powerOff", ago(hours=2), resource_id=vm_id(f"off-{index}")),
        )
    deliver(wire_event("write", ago(days=60), resource_id=vm_id("old")),
            wire_event("deallocate", ago(days=50), resource_id=vm_id("old")))  # fmt: skip
    body = json.loads(
        http_get(function_app.list_findings, "findings", top="2", kind="stoppedButBilled").get_body()
    )
    kinds = [item["kind"] for item in body["value"]]
    while "nextLink" in body:
        params = dict(parse_qsl(urlsplit(body["nextLink"]).query))
        body = json.loads(http_get(function_app.list_findings, "findings", **params).get_body())
        kinds += [item["kind"] for item in body["value"]]
    assert kinds == ["stoppedButBilled"] * 3
