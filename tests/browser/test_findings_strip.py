"""The findings strip of the timeline page in a real headless Chromium: the API's findings above the
table, their rows highlighted, and the strip following the page's filters."""

from __future__ import annotations

import json
from datetime import timedelta

import azure.functions as func
import pytest

import function_app
from devtools.events import vm_id, wire_event
from shared.domain.times import utc_now
from tests.browser.estate import deliver, scale_set_estate
from tests.browser.timeline_page import api_all, open_page, page_window, wait_findings

pytestmark = [pytest.mark.azurite, pytest.mark.browser]


def test_the_findings_strip_lists_the_apis_findings_above_the_table_and_highlights_their_rows(
    driver, host, demo
):
    open_page(driver, host)
    wait_findings(driver)
    request = func.HttpRequest("GET", "http://127.0.0.1/api/findings", body=b"", params={"top": "1000"})
    expected = json.loads(function_app.list_findings(request).get_body())["value"]
    shown = driver.execute_script(
        """
        const strip = document.getElementById('findings');
        return {
          above: Boolean(strip.compareDocumentPosition(document.getElementById('timeline'))
                         & Node.DOCUMENT_POSITION_FOLLOWING),
          visible: !strip.hidden,
          counts: Object.fromEntries(Array.from(strip.querySelectorAll('#finding-kinds li'))
                                     .map((li) => [li.dataset.kind, Number(li.dataset.count)])),
          items: Array.from(strip.querySelectorAll('#finding-items li[data-kind]'))
                 .map((li) => [li.dataset.resourceId, li.dataset.kind]),
          rows: Object.fromEntries(Array.from(document.querySelectorAll('#rows tr')).map((tr) =>
                [tr.dataset.resourceId, [tr.classList.contains('has-finding'), tr.dataset.findings]])),
        };
        """
    )
    assert shown["above"] and shown["visible"]
    assert sorted(shown["items"]) == sorted([item["resourceId"], item["kind"]] for item in expected)
    kinds = {item["kind"] for item in expected}
    assert shown["counts"] == {kind: sum(item["kind"] == kind for item in expected) for kind in kinds}
    # db-01's restart failed while it kept running: failed while billed. temp-01 is deleted: no finding.
    db = vm_id("db-01", "rg-data")
    assert "failedProvisioning" in shown["rows"][db][1].split(",") and shown["rows"][db][0] is True
    assert shown["rows"][vm_id("temp-01", "rg-ops")] == [False, ""]
    for resource_id, (highlighted, kinds_text) in shown["rows"].items():
        expected_kinds = [item["kind"] for item in expected if item["resourceId"] == resource_id]
        assert (highlighted, kinds_text) == (bool(expected_kinds), ",".join(expected_kinds))


def test_the_findings_strip_follows_the_resource_group_filter(driver, host, demo):
    open_page(driver, host, resourceGroup="rg-web")
    wait_findings(driver)
    groups = driver.execute_script(
        "return Array.from(document.querySelectorAll('#finding-items li[data-kind]'))"
        ".map((li) => li.dataset.resourceId.split('/')[4])"
    )
    assert groups and set(groups) == {"rg-web"}
    assert any(
        path == "/api/findings" and params.get("resourceGroup") == "rg-web" for path, params in host.requests
    )


def test_the_scale_set_view_lists_only_that_scale_sets_findings(driver, host, ledger_env):
    scale_set_estate(utc_now())
    stopped = utc_now() - timedelta(hours=3)
    # A finding outside the set: solo is stopped but billed (and, like every VM here, unconfirmed).
    deliver([wire_event("powerOff", stopped, resource_id=vm_id("solo", "rg-app"))])
    open_page(driver, host, scaleSet="web-ss")
    wait_findings(driver)
    listed = driver.execute_script(
        "return Array.from(document.querySelectorAll('#finding-items li[data-kind]'))"
        ".map((li) => li.dataset.resourceId)"
    )
    members = {item["resourceId"] for item in api_all(*page_window(driver), scaleSet="web-ss")}
    assert listed and set(listed) <= members  # the instances are unconfirmed: findings of the set itself
    assert any(
        path == "/api/findings" and params.get("scaleSet") == "web-ss" for path, params in host.requests
    )
