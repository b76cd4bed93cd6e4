"""The timeline data endpoint, the page and the snapshot, through the real HTTP functions on Azurite."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import re
from datetime import timedelta

import pytest

import function_app
from devtools.events import ACTION_FAILED, SUB, at, vm_id, wire_event
from shared import context
from shared.cli import write_snapshot
from shared.domain.times import parse_time, utc_now
from shared.web import SNAPSHOT_SLOT, embed_snapshot
from shared.web import timelines as web_timelines
from shared.web.csv_export import TIMELINE_COLUMNS
from tests.factories import deliver, http_get, sample_day

pytestmark = pytest.mark.azurite

VM = vm_id("web-01", "rg-app")
DAY = sample_day(VM)
OTHER_SUB = "0b1c2d3e-4f50-4617-8a9b-0c1d2e3f4a5b"


call = http_get


def timelines(**params: str) -> dict:
    response = call(function_app.list_vm_timelines, "timelines", **params)
    assert response.status_code == 200, response.get_body()
    assert response.mimetype == "application/json"
    return json.loads(response.get_body())


def window(start_hours: float, end_hours: float) -> dict[str, str]:
    return {"from": at(hours=start_hours).isoformat(), "to": at(hours=end_hours).isoformat()}


def brief(segments: list[dict]) -> list[tuple]:
    return [
        (s["from"][11:16], s["to"][11:16], s["powerState"], s["billable"], s["operationName"], s["source"])
        for s in segments
    ]


def test_segments_cover_the_window_starting_with_the_state_in_force_at_its_start(ledger_env):
    deliver(*DAY)
    body = timelines(**window(9, 14))
    [vm] = body["value"]
    ops = "Microsoft.Compute/virtualMachines/"
    assert brief(vm["segments"]) == [
        ("09:00", "10:00", "running", True, None, None),
        ("10:00", "11:00", "stopped", True, ops + "powerOff/action", "event"),
        ("11:00", "13:00", "deallocated", False, ops + "deallocate/action", "event"),
        ("13:00", "14:00", "running", True, ops + "start/action", "event"),
    ]
    assert vm["billedSeconds"] == 3 * 3600
    assert vm["unknownSeconds"] == 0
    assert vm["truncated"] is False
    assert body["window"] == {"from": "2026-11-23T09:00:00.000000Z", "to": "2026-11-23T14:00:00.000000Z"}
    assert body["billedPowerStates"] == ["starting", "running", "stopping", "stopped"]


def test_each_vm_carries_the_same_current_state_fields_as_list_vms(ledger_env):
    deliver(*DAY)
    [vm] = timelines(**window(0, 24))["value"]
    listed = json.loads(call(function_app.list_vms, "vms").get_body())["value"][0]
    assert {key: vm[key] for key in listed} == listed
    assert vm["powerState"] == "deallocated" and vm["hibernated"] is True


@pytest.mark.slow
@pytest.mark.parametrize(("start", "end"), [(0, 24), (9, 14), (8.5, 9), (10.5, 13.5), (16, 20), (0, 8)])
def test_billed_and_unknown_seconds_agree_with_get_vm_for_the_same_window(ledger_env, start, end):
    deliver(*DAY, wire_event("restart", at(hours=14), resource_id=VM, event_type=ACTION_FAILED))
    [vm] = timelines(**window(start, end))["value"]
    parts = VM.split("/")
    route = {"subscriptionId": parts[2], "resourceGroup": parts[4], "vmName": parts[8]}
    report = json.loads(call(function_app.get_vm, "vms/x", route, **window(start, end)).get_body())
    assert (vm["billedSeconds"], vm["unknownSeconds"]) == (report["billedSeconds"], report["unknownSeconds"])
    billed_in_segments = sum(
        (parse_time(s["to"]) - parse_time(s["from"])).total_seconds() for s in vm["segments"] if s["billable"]
    )
    assert billed_in_segments == vm["billedSeconds"]


def test_before_its_creation_a_vm_has_a_segment_with_no_power_state(ledger_env):
    deliver(*DAY)
    [vm] = timelines(**window(0, 24))["value"]
    first, last = vm["segments"][0], vm["segments"][-1]
    assert (first["from"][11:16], first["to"][11:16], first["powerState"]) == ("00:00", "08:00", None)
    assert first["deleted"] is False and first["billable"] is False
    assert (last["from"][11:16], last["to"][11:16], last["powerState"]) == ("15:00", "00:00", "deallocated")
    assert last["hibernated"] is True
    assert last["to"] == "2026-11-24T00:00:00.000000Z"


def test_a_past_window_takes_its_state_from_the_next_transition_not_from_the_current_row(ledger_env):
    deliver(*DAY)
    [vm] = timelines(**window(13.5, 14))["value"]
    assert brief(vm["segments"]) == [("13:30", "14:00", "running", True, None, None)]
    assert vm["powerState"] == "deallocated"  # the current state, for the state column


def test_a_window_after_the_last_change_is_one_segment_in_the_current_state(ledger_env):
    deliver(*DAY)
    [vm] = timelines(**window(16, 20))["value"]
    assert brief(vm["segments"]) == [("16:00", "20:00", "deallocated", False, None, None)]
    assert vm["billedSeconds"] == 0


def test_a_deleted_vm_ends_with_a_deleted_segment_that_bills_nothing(ledger_env):
    deliver(DAY[0], wire_event("delete", at(hours=9), resource_id=VM))
    [vm] = timelines(**window(0, 12))["value"]
    last = vm["segments"][-1]
    assert (last["from"][11:16], last["to"][11:16], last["deleted"], last["powerState"]) == (
        "09:00", "12:00", True, None,
    )  # fmt: skip
    assert last["operationName"] == "Microsoft.Compute/virtualMachines/delete"
    assert vm["billedSeconds"] == 3600


def test_segments_stop_at_the_time_of_the_request_when_the_window_reaches_into_the_future(ledger_env):
    created = utc_now().replace(microsecond=0) - timedelta(hours=2)
    deliver(wire_event("write", created, resource_id=VM))
    before = utc_now()
    body = timelines(
        **{
            "from": (created - timedelta(hours=1)).isoformat(),
            "to": (created + timedelta(days=1)).isoformat(),
        }
    )
    after = utc_now()
    [vm] = body["value"]
    as_of = parse_time(body["asOf"])
    assert before <= as_of <= after
    assert vm["segments"][-1]["to"] == body["asOf"]
    assert vm["billedSeconds"] == pytest.approx((as_of - created).total_seconds(), abs=1e-6)


def test_a_vm_with_more_transitions_than_the_cap_is_flagged_and_its_totals_stay_complete(
    ledger_env, monkeypatch
):
    monkeypatch.setattr(web_timelines, "MAX_TRANSITIONS_PER_VM", 2)
    deliver(*DAY)
    [vm] = timelines(**window(0, 24))["value"]
    assert vm["truncated"] is True
    assert [(s["from"][11:16], s["to"][11:16], s["powerState"]) for s in vm["segments"]] == [
        ("00:00", "08:00", None), ("08:00", "10:00", "running"), ("10:00", "11:00", "stopped"),
    ]  # fmt: skip
    assert vm["billedSeconds"] == 5 * 3600


def test_vms_are_paged_with_top_and_a_continuation_token_like_list_vms(ledger_env):
    names = ["app-1", "app-2", "db-1"]
    deliver(*(wire_event("write", at(hours=1), resource_id=vm_id(name, "rg-app")) for name in names))
    first = timelines(top="2", **window(0, 2))
    assert [vm["vmName"] for vm in first["value"]] == ["app-1", "app-2"]
    assert "nextLink" in first
    token = re.search(r"continuationToken=([^&]+)", first["nextLink"])[1]
    second = timelines(top="2", continuationToken=token, **window(0, 2))
    assert [vm["vmName"] for vm in second["value"]] == ["db-1"]
    assert "nextLink" not in second
    assert second["window"] == first["window"]


def test_the_subscription_and_resource_group_filters_narrow_the_vms(ledger_env):
    deliver(
        wire_event("write", at(hours=1), resource_id=vm_id("a", "rg-web")),
        wire_event("write", at(hours=1), resource_id=vm_id("b", "rg-data")),
        wire_event("write", at(hours=1), resource_id=vm_id("c", "rg-web", subscription=OTHER_SUB)),
    )
    web = timelines(resourceGroup="RG-WEB", **window(0, 2))["value"]
    assert sorted(vm["vmName"] for vm in web) == ["a", "c"]
    assert [vm["vmName"] for vm in timelines(subscriptionId=OTHER_SUB, **window(0, 2))["value"]] == ["c"]
    only = timelines(subscriptionId=SUB, resourceGroup="rg-data", **window(0, 2))["value"]
    assert [vm["vmName"] for vm in only] == ["b"]


def test_without_a_window_the_last_seven_days_up_to_now_are_shown(ledger_env):
    deliver(*DAY)
    before = utc_now()
    body = timelines()
    after = utc_now()
    start, end = parse_time(body["window"]["from"]), parse_time(body["window"]["to"])
    assert before <= end <= after
    assert end - start == timedelta(days=7)


def test_only_a_start_means_from_then_until_now(ledger_env):
    deliver(*DAY)
    body = timelines(**{"from": at(hours=9).isoformat()})
    assert body["window"]["from"] == "2026-11-23T09:00:00.000000Z"
    assert body["window"]["to"] == body["asOf"]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"top": "0"}, "InvalidTop"),
        ({"top": "201"}, "InvalidTop"),
        ({"top": "ten"}, "InvalidTop"),
        ({"from": "yesterday"}, "InvalidTime"),
        ({"from": "2026-11-23T10:00:00Z", "to": "2026-11-23T09:00:00Z"}, "InvalidWindow"),
        ({"from": "2025-01-01T00:00:00Z", "to": "2026-11-23T00:00:00Z"}, "InvalidWindow"),
        ({"continuationToken": "bm90LWEtdG9rZW4"}, "InvalidContinuationToken"),
        ({"resourceGroup": "rg/../x"}, "InvalidPathPart"),
        ({"subscriptionId": "not-a-subscription"}, "InvalidPathPart"),
        ({"format": "xml"}, "InvalidFormat"),
    ],
)
def test_bad_parameters_are_refused_with_a_reason(ledger_env, params, code):
    response = call(function_app.list_vm_timelines, "timelines", **params)
    assert response.status_code == 400
    assert json.loads(response.get_body())["error"]["code"] == code


def test_the_timelines_csv_has_one_row_per_vm_with_billed_hours_as_decimals(ledger_env):
    deliver(*DAY, wire_event("write", at(hours=9), resource_id=vm_id("-danger", "rg-app")))
    response = call(function_app.list_vm_timelines, "timelines", format="csv", **window(0, 24))
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    text = response.get_body().decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert list(rows[0]) == list(TIMELINE_COLUMNS)
    by_name = {row["vmName"]: row for row in rows}
    assert set(by_name) == {"'-danger", "web-01"}
    assert by_name["web-01"]["billedHours"] == "5"
    assert by_name["'-danger"]["billedHours"] == "15"
    assert by_name["web-01"]["windowFrom"] == "2026-11-23T00:00:00.000000Z"
    assert by_name["web-01"]["hibernated"] == "true"
    assert by_name["web-01"]["unknownHours"] == "0"


def test_the_timelines_csv_points_to_its_next_page_in_a_link_header(ledger_env):
    deliver(*(wire_event("write", at(hours=1), resource_id=vm_id(f"vm-{n}", "rg-app")) for n in range(3)))
    response = call(function_app.list_vm_timelines, "timelines", format="csv", top="2", **window(0, 2))
    link = response.headers["Link"]
    assert link.startswith("<http://localhost:7071/api/timelines?") and link.endswith('>; rel="next"')
    assert "format=csv" in link and "continuationToken=" in link
    assert len(response.get_body().decode().split("\r\n")) == 4  # header, two rows, final line end


def test_the_page_is_one_html_file_that_loads_nothing_from_elsewhere(ledger_env):
    response = call(function_app.vm_timeline_page, "timeline", code="key-123")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.get_body().decode("utf-8")
    assert html.startswith("<!doctype html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html, re.IGNORECASE)
    assert not re.search(r"@import|<link\b|<iframe\b|<img\b", html, re.IGNORECASE)
    assert "fetch(" in html and '"timelines"' in html


def test_the_page_only_runs_its_own_inline_script_and_sends_no_referrer(ledger_env):
    response = call(function_app.vm_timeline_page, "timeline")
    html = response.get_body().decode("utf-8")
    policy = response.headers["Content-Security-Policy"]
    scripts = re.findall(r"<script>(.*?)</script>", html, re.DOTALL)
    assert len(scripts) == 1
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in policy
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_a_snapshot_embeds_exactly_what_the_api_returns_for_its_window(ledger_env, ledger, tmp_path):
    deliver(*DAY, wire_event("write", at(hours=3), resource_id=vm_id("db-01", "rg-data")))
    as_of = at(hours=30)
    path = tmp_path / "demo-timeline.html"
    app = context.root()  # the currency and thresholds the API answers with
    snapshot = {"currency": app.currency, "thresholds": app.thresholds}
    count = write_snapshot(path, ledger, **snapshot, start=at(0), end=at(hours=24), as_of=as_of)
    assert count == 2
    html = path.read_text(encoding="utf-8")
    embedded = json.loads(
        re.search(r'<script id="snapshot-data" type="application/json">(.*?)</script>', html)[1]
    )
    api = timelines(top="200", **window(0, 24))
    assert embedded["value"] == api["value"]
    assert embedded["window"] == api["window"]
    assert embedded["asOf"] == "2026-11-24T06:00:00.000000Z"
    assert embedded["moreVms"] is False


def test_a_snapshot_can_be_limited_and_says_that_more_vms_exist(ledger_env, ledger, tmp_path):
    deliver(*(wire_event("write", at(hours=1), resource_id=vm_id(f"vm-{n}", "rg-app")) for n in range(3)))
    path = tmp_path / "snapshot.html"
    app = context.root()
    snapshot = {"currency": app.currency, "thresholds": app.thresholds}
    assert write_snapshot(path, ledger, **snapshot, start=at(0), end=at(hours=2), max_vms=2) == 2
    embedded = re.search(r'type="application/json">(.*?)</script>', path.read_text())[1]
    assert json.loads(embedded)["moreVms"] is True


def test_embedded_data_cannot_close_the_script_element_it_sits_in():
    hostile = "</script><script>alert(1)</script><!--"
    html = embed_snapshot(SNAPSHOT_SLOT, {"value": [{"vmName": hostile}]})
    assert html.count("</script>") == 1
    embedded = re.search(r'type="application/json">(.*?)</script>', html)[1]
    assert json.loads(embedded)["value"][0]["vmName"] == hostile


@pytest.mark.parametrize(
    ("name", "route"), [("list_vm_timelines", "timelines"), ("vm_timeline_page", "timeline")]
)
def test_the_timeline_functions_are_get_routes_behind_function_keys(indexed_functions, name, route):
    bindings = json.loads(indexed_functions[name].get_function_json())["bindings"]
    trigger = next(binding for binding in bindings if binding["type"] == "httpTrigger")
    assert (trigger["route"], trigger["methods"], trigger["authLevel"]) == (route, ["GET"], "FUNCTION")
