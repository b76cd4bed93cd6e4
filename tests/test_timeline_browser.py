"""The timeline page in a real headless Chromium, served by the real HTTP functions on Azurite.

Debian's ``chromium`` and ``chromium-driver`` are used (installed with apt-get when missing); no browser
is downloaded from anywhere else. A tiny loopback HTTP server turns each browser request into a
``func.HttpRequest`` for the function that owns the route, as the Functions host would.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import azure.functions as func
import pytest

import function_app
from shared.cli import write_snapshot
from shared.domain.times import format_time, parse_time, utc_now
from shared.web.csv_export import hours
from tests.factories import ACTION_FAILED, WRITE_FAILED, binding, instance_id, vm_id, wire_event

pytestmark = [pytest.mark.azurite, pytest.mark.browser]

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
INSTALL_TIMEOUT = 900
OUTPUT = Path(__file__).resolve().parent.parent / "test-output"
KEY = "test-function-key"
OTHER_SUB = "0b1c2d3e-4f50-4617-8a9b-0c1d2e3f4a5b"
LONG_NAME = "analytics-worker-with-an-exceptionally-long-name-for-the-layout1"  # 64, the most Azure allows
WAIT = 30  # seconds the browser may take to show something; a ceiling, never an assertion


# ---- the browser ------------------------------------------------------------------------------------


def _install_chromium() -> str | None:
    """Install Debian's chromium and chromium-driver; a reason to skip when that is impossible."""
    if shutil.which("apt-get") is None:
        return "no /usr/bin/chromium, and no apt-get to install Debian's chromium"
    if os.geteuid() != 0:
        return "no /usr/bin/chromium, and not root to apt-get install chromium chromium-driver"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", "chromium", "chromium-driver"]):
        try:
            subprocess.run(command, env=env, capture_output=True, timeout=INSTALL_TIMEOUT, check=True)
        except (OSError, subprocess.SubprocessError) as err:
            return f"could not install Debian's chromium ({' '.join(command)} failed: {err})"
    return None


@pytest.fixture(scope="session")
def chromium() -> tuple[Path, Path]:
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        reason = _install_chromium()
        if reason:
            pytest.skip(reason)
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        pytest.skip("apt-get ran but /usr/bin/chromium or /usr/bin/chromedriver is still missing")
    pytest.importorskip("selenium", reason="selenium is not installed: pip install -r requirements-dev.txt")
    return CHROMIUM, CHROMEDRIVER


@pytest.fixture(scope="module")
def driver(chromium):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, chromedriver = chromium
    with tempfile.TemporaryDirectory(prefix="timeline-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = str(browser)
        for flag in (
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1400,1000",
        ):  # fmt: skip
            options.add_argument(flag)
        browser_driver = webdriver.Chrome(service=Service(executable_path=str(chromedriver)), options=options)
        browser_driver.set_script_timeout(WAIT)
        try:
            yield browser_driver
        finally:
            browser_driver.quit()


# ---- the function app, served on loopback -----------------------------------------------------------

ROUTES = {
    "/api/timeline": function_app.vm_timeline_page,
    "/api/timelines": function_app.list_vm_timelines,
    "/api/vms": function_app.list_vms,
    "/api/findings": function_app.list_findings,
}


class FunctionHost:
    """Serves ``ROUTES`` on 127.0.0.1 and remembers the query of every request."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the http.server API)
                parts = urlsplit(self.path)
                params = {name: values[-1] for name, values in parse_qs(parts.query).items()}
                host.requests.append((parts.path, params))
                fn = ROUTES.get(parts.path)
                if fn is None:
                    self.send_error(404)
                    return
                url = f"http://{self.headers['Host']}{self.path}"
                response = fn(func.HttpRequest("GET", url, body=b"", params=params, route_params={}))
                body = response.get_body()
                self.send_response(response.status_code)
                self.send_header("Content-Type", f"{response.mimetype}; charset={response.charset}")
                for name, value in response.headers.items():
                    if name.lower() not in ("content-type", "content-length"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args) -> None:  # noqa: A002 (the http.server API)
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/api"

    def page(self, **params: str) -> str:
        return f"{self.base}/timeline?" + urlencode({"code": KEY, **params})


@pytest.fixture(scope="module")
def host() -> Iterator[FunctionHost]:
    server = FunctionHost()
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()


# ---- demo data --------------------------------------------------------------------------------------


def demo_events(now: datetime) -> list[dict]:
    """A small estate: billed, free, hibernated, stopped, unknown, deleted, old and long-named VMs."""
    hour = now.replace(minute=0, second=0, microsecond=0)

    def ago(days: float = 0, hours: float = 0) -> datetime:
        return hour - timedelta(days=days, hours=hours)

    web1, web2 = vm_id("web-01", "rg-web"), vm_id("web-02", "rg-web")
    db1, batch = vm_id("db-01", "rg-data"), vm_id("batch-old", "rg-data")
    lost, gone = vm_id("lost-01", "rg-ops"), vm_id("temp-01", "rg-ops")
    long, other = vm_id(LONG_NAME, "rg-data"), vm_id("jump-01", "rg-web", subscription=OTHER_SUB)
    return [
        wire_event("write", ago(days=3), resource_id=web1),
        wire_event("powerOff", ago(days=2), resource_id=web1),
        wire_event("deallocate", ago(days=2, hours=-5), resource_id=web1),
        wire_event("start", ago(days=1), resource_id=web1),
        wire_event("write", ago(days=5), resource_id=web2),
        wire_event("deallocate", ago(days=4), resource_id=web2, url_query="&hibernate=true"),
        wire_event("write", ago(days=6), resource_id=db1),
        wire_event("restart", ago(days=2), resource_id=db1, event_type=ACTION_FAILED),
        wire_event("write", ago(days=20), resource_id=batch),
        wire_event("deallocate", ago(days=19), resource_id=batch),
        wire_event("write", ago(days=2), resource_id=lost, event_type=WRITE_FAILED),
        wire_event("write", ago(days=4), resource_id=gone),
        wire_event("delete", ago(days=3), resource_id=gone),
        wire_event("write", ago(days=1, hours=6), resource_id=long),
        wire_event("deallocate", ago(hours=10), resource_id=long),
        wire_event("write", ago(hours=20), resource_id=other),
    ]


def deliver(events: list[dict]) -> None:
    for wire in events:
        function_app.on_vm_event(binding(wire))


@pytest.fixture
def demo(ledger_env) -> datetime:
    now = utc_now()
    deliver(demo_events(now))
    return now


# ---- reading the page -------------------------------------------------------------------------------


def api(**params: str) -> dict:
    request = func.HttpRequest("GET", "http://127.0.0.1/api/timelines", body=b"", params=params)
    response = function_app.list_vm_timelines(request)
    assert response.status_code == 200, response.get_body()
    return json.loads(response.get_body())


def api_all(start: str, end: str, **filters: str) -> list[dict]:
    items, token = [], None
    while True:
        params = {"from": start, "to": end, "top": "200", **filters}
        if token:
            params["continuationToken"] = token
        body = api(**params)
        items += body["value"]
        if "nextLink" not in body:
            return items
        token = parse_qs(urlsplit(body["nextLink"]).query)["continuationToken"][0]


def wait_loaded(driver, loads: int = 1) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    def ready(d) -> bool:
        state = d.execute_script("return [document.body.dataset.state, Number(document.body.dataset.loads)]")
        if state[0] == "error":
            raise AssertionError(d.find_element("id", "error").text)
        return state[0] == "ready" and state[1] >= loads

    WebDriverWait(driver, WAIT).until(ready)


def open_page(driver, host: FunctionHost, **params: str) -> None:
    driver.get(host.page(**params))
    wait_loaded(driver)


def page_window(driver) -> tuple[str, str]:
    table = driver.find_element("id", "timeline")
    return table.get_attribute("data-from"), table.get_attribute("data-to")


def page_rows(driver) -> list[dict]:
    """What the page shows for each row on screen, read from the DOM."""
    return driver.execute_script(
        """
        return Array.from(document.querySelectorAll('#rows tr:not(.group-row)')).map((tr) => ({
          resourceId: tr.dataset.resourceId,
          name: tr.querySelector('.name').textContent,
          nameTitle: tr.querySelector('.name').title,
          billed: tr.querySelector('.billed-hours').firstChild.textContent,
          cost: tr.querySelector('.est-cost').textContent,
          amount: tr.querySelector('.est-cost').dataset.amount,
          current: tr.querySelector('.current-state').textContent,
          segments: Array.from(tr.querySelectorAll('rect.seg')).map((r) => ({
            from: r.dataset.from, to: r.dataset.to, key: r.dataset.key, billing: r.dataset.billing,
            fill: r.getAttribute('fill'), label: r.getAttribute('aria-label'),
            tabindex: r.getAttribute('tabindex')})),
        }));
        """
    )


def legend(driver) -> dict[tuple[str, str], dict]:
    entries = driver.execute_script(
        """
        return Array.from(document.querySelectorAll('#legend li')).map((li) => ({
          key: li.dataset.key, billing: li.dataset.billing, text: li.textContent,
          fill: li.querySelector('rect').getAttribute('fill')}));
        """
    )
    return {(entry["key"], entry["billing"]): entry for entry in entries}


def key_of(state: dict) -> str:
    if state["deleted"]:
        return "deleted"
    if state["powerState"] is None:
        return "absent"
    if state["powerState"] == "unknown":
        return "unknown"
    return "hibernated" if state["hibernated"] else state["powerState"]


def billing_of(state: dict) -> str:
    key = key_of(state)
    if key == "unknown":
        return "unknown"
    if key in ("deleted", "absent"):
        return "none"
    return "billed" if state["billable"] else "free"


def hours_text(seconds: float) -> str:
    """As the page's ``toFixed(2)`` rounds: to the nearer hundredth, a tie upwards."""
    return str(Decimal(seconds / 3600).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def shown_time(iso: str) -> str:
    return iso[:19].replace("T", " ") + " UTC"


def assert_page_matches_api(driver, expected_names: set[str] | None = None) -> list[dict]:
    start, end = page_window(driver)
    items = api_all(start, end, **filters_in_address(driver))
    by_id = {item["resourceId"]: item for item in items}
    rows = page_rows(driver)
    assert len(rows) == min(len(items), 50)
    if expected_names is not None:
        assert {row["name"] for row in rows} == expected_names
    colours = legend(driver)
    for row in rows:
        vm = by_id[row["resourceId"]]
        assert row["name"] == vm["vmName"] and row["nameTitle"] == vm["resourceId"]
        assert row["billed"] == hours_text(vm["billedSeconds"])
        assert row["current"].startswith(colours[(key_of(vm), billing_of(vm))]["text"].split(" — ")[0])
        assert [(s["from"], s["to"], s["key"], s["billing"]) for s in row["segments"]] == [
            (s["from"], s["to"], key_of(s), billing_of(s)) for s in vm["segments"]
        ]
        for segment in row["segments"]:
            assert segment["fill"] == colours[(segment["key"], segment["billing"])]["fill"]
    total = driver.find_element("id", "total-billed").text
    assert total == hours_text(sum(item["billedSeconds"] for item in items)) + " h"
    return items


def filters_in_address(driver) -> dict[str, str]:
    query = parse_qs(urlsplit(driver.current_url).query)
    return {name: query[name][0] for name in ("subscriptionId", "resourceGroup") if name in query}


def tooltip(driver) -> dict[str, str]:
    tip = driver.find_element("id", "tip")
    assert tip.is_displayed()
    return {dd.get_attribute("data-field"): dd.text for dd in tip.find_elements("css selector", "dd")}


def click(driver, css: str) -> None:
    driver.find_element("css selector", css).click()


def loads(driver) -> int:
    return int(driver.execute_script("return Number(document.body.dataset.loads)"))


# ---- tests ------------------------------------------------------------------------------------------


def test_the_page_shows_each_vm_with_the_apis_segments_colours_current_state_and_totals(driver, host, demo):
    open_page(driver, host)
    items = assert_page_matches_api(
        driver, {"web-01", "web-02", "db-01", "batch-old", "lost-01", "temp-01", LONG_NAME, "jump-01"}
    )
    start, end = (parse_time(text) for text in page_window(driver))
    assert end - start == timedelta(days=7)
    by_name = {item["vmName"]: item for item in items}
    assert by_name["web-01"]["billedSeconds"] > 0 and by_name["batch-old"]["billedSeconds"] == 0
    assert by_name["lost-01"]["unknownSeconds"] > 0
    OUTPUT.mkdir(exist_ok=True)
    driver.save_screenshot(str(OUTPUT / "timeline.png"))
    data_requests = [params for path, params in host.requests if path == "/api/timelines"]
    assert data_requests and all(params.get("code") == KEY for params in data_requests)


def test_billed_free_and_unknown_states_look_different_and_the_legend_says_which_is_which(driver, host, demo):
    open_page(driver, host)
    colours = legend(driver)
    billed = {entry["fill"] for entry in colours.values() if entry["billing"] == "billed"}
    free = {entry["fill"] for entry in colours.values() if entry["billing"] == "free"}
    assert billed and free and not billed & free
    assert colours[("unknown", "unknown")]["fill"] == "url(#hatch)"
    assert colours[("running", "billed")]["text"] == "running — billed"
    assert colours[("deallocated", "free")]["text"] == "deallocated — not billed"
    assert colours[("stopped", "billed")]["text"] == "stopped — billed"
    for row in page_rows(driver):
        for segment in row["segments"]:
            assert segment["label"].startswith(
                colours[(segment["key"], segment["billing"])]["text"].split(" — ")[0]
            )


def test_hovering_a_band_shows_its_state_start_end_and_the_operation_that_caused_it(driver, host, demo):
    from selenium.webdriver.common.action_chains import ActionChains

    open_page(driver, host)
    start, end = page_window(driver)
    web1 = next(item for item in api_all(start, end) if item["vmName"] == "web-01")
    stopped = next(s for s in web1["segments"] if s["powerState"] == "stopped")
    rect = driver.find_element(
        "css selector", f'tr[data-resource-id="{web1["resourceId"]}"] rect[data-from="{stopped["from"]}"]'
    )
    ActionChains(driver).move_to_element(rect).perform()
    assert tooltip(driver) == {
        "state": "stopped · provisioning Succeeded",
        "billing": "billed",
        "start": shown_time(stopped["from"]),
        "end": shown_time(stopped["to"]),
        "cause": "Microsoft.Compute/virtualMachines/powerOff/action (event)",
    }
    ActionChains(driver).move_to_element(driver.find_element("tag name", "h1")).perform()
    assert not driver.find_element("id", "tip").is_displayed()


def test_keyboard_focus_reaches_every_band_and_every_period_in_it(driver, host, demo):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    open_page(driver, host)
    start, end = page_window(driver)
    by_id = {item["resourceId"]: item for item in api_all(start, end)}
    rows = page_rows(driver)
    driver.execute_script("document.getElementById('download').focus()")  # the last control before the table

    def focused() -> dict | None:
        return driver.execute_script(
            "const e = document.activeElement; if (!e || !e.matches('rect.seg')) return null;"
            "return {id: e.closest('tr').dataset.resourceId, i: Number(e.dataset.index)};"
        )

    reached = []
    for _ in range(60):
        ActionChains(driver).send_keys(Keys.TAB).perform()
        here = focused()
        if here is None:
            if reached:
                break
            continue
        assert here["i"] == 0
        vm = by_id[here["id"]]
        assert tooltip(driver)["start"] == shown_time(vm["segments"][0]["from"])
        for index, segment in enumerate(vm["segments"][1:], start=1):
            ActionChains(driver).send_keys(Keys.ARROW_RIGHT).perform()
            assert focused() == {"id": here["id"], "i": index}
            assert tooltip(driver)["end"] == shown_time(segment["to"])
        ActionChains(driver).send_keys(Keys.HOME).perform()
        assert focused() == {"id": here["id"], "i": 0}
        reached.append(here["id"])
    assert reached == [row["resourceId"] for row in rows]


def test_the_window_presets_and_a_custom_window_change_the_data(driver, host, demo):
    open_page(driver, host)
    before = {row["name"]: row["billed"] for row in page_rows(driver)}
    assert before["batch-old"] == "0.00"

    click(driver, 'button[data-range="30d"]')
    wait_loaded(driver, loads=2)
    start, end = (parse_time(text) for text in page_window(driver))
    assert end - start == timedelta(days=30)
    assert {row["name"]: row["billed"] for row in page_rows(driver)}["batch-old"] == "24.00"
    assert_page_matches_api(driver)

    click(driver, 'button[data-range="today"]')
    wait_loaded(driver, loads=3)
    start, end = (parse_time(text) for text in page_window(driver))
    assert start == end.replace(hour=0, minute=0, second=0, microsecond=0)
    assert_page_matches_api(driver)

    hour = demo.replace(minute=0, second=0, microsecond=0)
    custom_from, custom_to = hour - timedelta(days=21), hour - timedelta(days=18, hours=12)
    driver.execute_script(
        "for (const [id, value] of [['from', arguments[0]], ['to', arguments[1]]]) {"
        "  const input = document.getElementById(id); input.value = value;"
        "  input.dispatchEvent(new Event('input', {bubbles: true})); }",
        custom_from.strftime("%Y-%m-%dT%H:%M"),
        custom_to.strftime("%Y-%m-%dT%H:%M"),
    )
    assert (
        driver.find_element("css selector", 'button[data-range="custom"]').get_attribute("aria-pressed")
        == "true"
    )
    click(driver, "#apply")
    wait_loaded(driver, loads=4)
    assert page_window(driver) == (format_time(custom_from), format_time(custom_to))
    rows = {row["name"]: row for row in page_rows(driver)}
    assert rows["batch-old"]["billed"] == "24.00"
    assert_page_matches_api(driver)
    assert "range=custom" in driver.current_url and f"code={KEY}" in driver.current_url


def wait_error(driver) -> str:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, WAIT).until(
        lambda d: d.execute_script("return document.body.dataset.state") == "error"
    )
    return driver.find_element("id", "error").text


def set_custom_window(driver, start: str, end: str) -> None:
    driver.execute_script(
        "for (const [id, value] of [['from', arguments[0]], ['to', arguments[1]]]) {"
        "  const input = document.getElementById(id); input.value = value;"
        "  input.dispatchEvent(new Event('input', {bubbles: true})); }",
        start,
        end,
    )


def timelines_asked(host: FunctionHost) -> list[dict[str, str]]:
    return [params for path, params in host.requests if path == "/api/timelines"]


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2026-02-01T10:00", "2026-02-01T10:00"),  # no time between them: 0.00 h on every row said nothing
        ("2026-02-02T10:00", "2026-02-01T10:00"),  # reversed
    ],
)
def test_an_invalid_custom_window_shows_the_error_and_asks_the_api_nothing(driver, host, demo, start, end):
    open_page(driver, host)
    asked = len(timelines_asked(host))
    click(driver, 'button[data-range="custom"]')
    set_custom_window(driver, start, end)
    click(driver, "#apply")
    assert wait_error(driver) == "Choose a window whose end is after its start."
    assert driver.find_element("id", "error").is_displayed()
    assert len(timelines_asked(host)) == asked


def test_an_empty_custom_field_is_refused_by_the_form_itself(driver, host, demo):
    open_page(driver, host)
    asked = len(timelines_asked(host))
    click(driver, 'button[data-range="custom"]')
    set_custom_window(driver, "", "")  # a cleared field, or a date that does not exist typed in
    click(driver, "#apply")
    assert driver.execute_script("return document.getElementById('from').validity.valueMissing")
    assert len(timelines_asked(host)) == asked


@pytest.mark.parametrize("text", ["not-a-time", "2026-02-01T10:00:00Z"])  # the field takes neither
def test_a_custom_window_in_the_address_that_is_not_a_time_shows_the_error(driver, host, demo, text):
    asked = len(timelines_asked(host))
    driver.get(host.page(range="custom", **{"from": text, "to": text}))
    # Before, each field read as "" and new Date(":00Z") made both ends 2000-01-01: a silent empty window.
    assert wait_error(driver) == "Choose a window whose end is after its start."
    assert len(timelines_asked(host)) == asked


def test_the_resource_group_filter_narrows_the_rows_and_stays_in_the_address(driver, host, demo):
    open_page(driver, host)
    field = driver.find_element("id", "group")
    field.clear()
    field.send_keys("rg-data")
    click(driver, "#apply")
    wait_loaded(driver, loads=2)
    assert {row["name"] for row in page_rows(driver)} == {"db-01", "batch-old", LONG_NAME}
    assert "resourceGroup=rg-data" in driver.current_url
    assert_page_matches_api(driver, {"db-01", "batch-old", LONG_NAME})


def price_some(ledger, now: datetime) -> dict[str, str]:
    """Inventory for four VMs (two teams, one untagged) and retail prices for their size; others unpriced."""
    from shared.domain.ids import parse_vm_id
    from shared.domain.inventory import OsType, Priority, VmSpec
    from shared.domain.pricing import HourlyPrice, MeterKind

    teams = {"web-01": "shop", "web-02": "shop", "db-01": "data", LONG_NAME: None}
    groups = {"web-01": "rg-web", "web-02": "rg-web", "db-01": "rg-data", LONG_NAME: "rg-data"}
    for name, team in teams.items():
        row = ledger.get_current(parse_vm_id(vm_id(name, groups[name])))
        tags = {"Team": team} if team else {"owner": "ops"}
        spec = VmSpec("Standard_D2s_v5", "westeurope", OsType.LINUX, None, Priority.REGULAR, tags)
        assert ledger.update_inventory(row, spec, now)
    price = HourlyPrice(Decimal("0.5"), "USD", "D2s v5")
    kind = MeterKind(OsType.LINUX, Priority.REGULAR)
    ledger.prices.save(
        "USD", now, [("westeurope", "Standard_D2s_v5")], {("westeurope", "standard_d2s_v5", kind): price}
    )
    return {name: team for name, team in teams.items()}


def test_the_page_shows_each_vms_estimated_cost_and_the_total_and_groups_rows_by_tag(
    driver, host, demo, ledger
):
    teams = price_some(ledger, demo)
    open_page(driver, host)
    start, end = page_window(driver)
    by_id = {item["resourceId"]: item for item in api_all(start, end)}
    rows = page_rows(driver)
    priced = 0
    for row in rows:
        amount = by_id[row["resourceId"]]["estimatedCost"]["amount"]
        if amount is None:
            assert (row["cost"], row["amount"]) == ("–", "")
        else:
            priced += 1
            assert row["cost"] == f"{amount:.2f} USD" and float(row["amount"]) == amount
    assert priced == 4
    amounts = [item["estimatedCost"]["amount"] for item in by_id.values()]
    total = sum(amount for amount in amounts if amount is not None)
    unpriced = sum(amount is None for amount in amounts)
    assert driver.find_element("id", "total-cost").text == f"{total:.2f} USD ({unpriced} without price)"
    field = driver.find_element("id", "group-tag")
    field.send_keys("team")  # tag names compare case-insensitively: the VMs' tag is "Team"
    groups = driver.execute_script(
        """
        const out = [];
        for (const tr of document.querySelectorAll('#rows tr')) {
          const text = (css) => tr.querySelector(css).textContent;
          if (tr.classList.contains('group-row')) {
            out.push({group: text('.group-name'), totals: text('.group-totals'), vms: []});
          } else {
            out[out.length - 1].vms.push(text('.name'));
          }
        }
        return out;
        """
    )
    assert [group["group"] for group in groups] == ["team: data", "team: shop", "No tag team"]
    assert groups[0]["vms"] == ["db-01"] and sorted(groups[1]["vms"]) == ["web-01", "web-02"]
    assert set(groups[2]["vms"]) == {row["name"] for row in rows} - {"db-01", "web-01", "web-02"}
    shop = [item for item in by_id.values() if teams.get(item["vmName"]) == "shop"]
    shop_cost = sum(item["estimatedCost"]["amount"] for item in shop)
    shop_hours = hours_text(sum(item["billedSeconds"] for item in shop))
    assert groups[1]["totals"] == f"2 VMs · {shop_hours} h billed · {shop_cost:.2f} USD"
    assert groups[2]["totals"].endswith("without price)")
    OUTPUT.mkdir(exist_ok=True)
    driver.save_screenshot(str(OUTPUT / "timeline-grouped.png"))
    field.send_keys("\b" * len("team"))  # typed away: no grouping
    assert not driver.find_elements("css selector", "#rows tr.group-row")


def test_sorting_by_billed_hours_orders_the_rows_by_the_apis_totals(driver, host, demo):
    open_page(driver, host)
    start, end = page_window(driver)
    billed = {item["resourceId"]: item["billedSeconds"] for item in api_all(start, end)}
    click(driver, 'button[data-sort="billed"]')
    descending = [billed[row["resourceId"]] for row in page_rows(driver)]
    assert descending == sorted(billed.values(), reverse=True)
    header = driver.find_element("id", "col-billed")
    assert header.get_attribute("aria-sort") == "descending"
    click(driver, 'button[data-sort="billed"]')
    assert [billed[row["resourceId"]] for row in page_rows(driver)] == sorted(billed.values())
    assert header.get_attribute("aria-sort") == "ascending"


def test_hundreds_of_vms_are_paged_and_long_names_do_not_widen_the_page(driver, host, ledger_env):
    now = utc_now()
    names = [f"{LONG_NAME[:56]}-{n:05d}" if n % 7 == 0 else f"vm-{n:05d}" for n in range(230)]
    deliver(
        [wire_event("write", now - timedelta(hours=5), resource_id=vm_id(name, "rg-fleet")) for name in names]
    )
    open_page(driver, host)
    assert len(page_rows(driver)) == 50
    assert "of 230" in driver.find_element("id", "page-info").text
    assert driver.find_element("id", "total-label").text == "Total (230 VMs)"
    layout = driver.execute_script(
        """
        const bands = Array.from(document.querySelectorAll('svg.band'))
          .map((s) => s.getBoundingClientRect().width);
        return {page: document.documentElement.scrollWidth, view: document.documentElement.clientWidth,
                widest: Math.max(...bands), narrowest: Math.min(...bands)};
        """
    )
    assert layout["page"] <= layout["view"]
    assert layout["widest"] - layout["narrowest"] < 1
    shown = set()
    for _ in range(5):
        shown |= {row["name"] for row in page_rows(driver)}
        if not driver.find_element("id", "next").is_enabled():
            break
        click(driver, "#next")
    assert shown == set(names)
    OUTPUT.mkdir(exist_ok=True)
    driver.save_screenshot(str(OUTPUT / "timeline-many.png"))
    start, end = page_window(driver)
    page_csv = driver.execute_async_script("window.collectTimelineCsv().then(arguments[0])")
    rows = list(csv.DictReader(io.StringIO(page_csv, newline="")))
    assert sorted(row["vmName"] for row in rows) == sorted(names)
    expected = {item["vmName"]: hours(item["billedSeconds"]) for item in api_all(start, end)}
    assert {row["vmName"]: row["billedHours"] for row in rows} == expected


def test_the_demo_snapshot_shows_the_same_rows_without_any_server(driver, demo, ledger, tmp_path):
    as_of = demo.replace(microsecond=0).astimezone(UTC)
    path = tmp_path / "demo-timeline.html"
    count = write_snapshot(path, ledger, as_of=as_of)
    driver.get(path.as_uri())
    wait_loaded(driver)
    assert not driver.find_element("id", "controls").is_displayed()
    assert "Static snapshot" in driver.find_element("id", "snapshot-note").text
    rows = page_rows(driver)
    assert len(rows) == count == 8
    start, end = page_window(driver)
    expected = {item["resourceId"]: hours_text(item["billedSeconds"]) for item in api_all(start, end)}
    assert {row["resourceId"]: row["billed"] for row in rows} == expected
    OUTPUT.mkdir(exist_ok=True)
    driver.save_screenshot(str(OUTPUT / "timeline-snapshot.png"))


# ---- a phone ------------------------------------------------------------------------------------------

PHONE = (390, 844)


@pytest.fixture
def phone(driver):
    """The module's browser at a phone's size (390x844 CSS pixels), back to the desktop size after."""
    driver.set_window_size(*PHONE)
    try:
        yield driver
    finally:
        driver.set_window_size(1400, 1000)


def axis_layout(driver) -> dict:
    return driver.execute_script(
        """
        const axis = document.getElementById('axis').getBoundingClientRect();
        const labels = Array.from(document.querySelectorAll('#axis span')).map((s) => {
          const r = s.getBoundingClientRect();
          return {text: s.textContent, now: s.classList.contains('now'), left: r.left, right: r.right,
                  visible: r.width > 0 && getComputedStyle(s).visibility !== 'hidden'};
        });
        return {left: axis.left, right: axis.right, labels};
        """
    )


def assert_axis_readable(driver) -> None:
    """Axis labels lie inside the axis, none overlaps another, and "now" is one of them."""
    layout = axis_layout(driver)
    labels = layout["labels"]
    assert len(labels) >= 2, labels  # "today" just after midnight has one tick and "now"
    for label in labels:
        assert (
            label["visible"]
            and layout["left"] - 0.5 <= label["left"]
            and label["right"] <= layout["right"] + 0.5
        )
    ordered = sorted(labels, key=lambda label: label["left"])
    for first, second in zip(ordered, ordered[1:], strict=False):
        assert first["right"] <= second["left"], (first, second)
    now = [label for label in labels if label["now"]]
    assert len(now) == 1 and now[0]["text"] == "now"
    assert layout["right"] - now[0]["right"] < 2  # the presets end now, so "now" sits at the end


def test_on_a_phone_the_bands_names_axis_and_a_one_minute_state_are_all_readable(phone, host, demo):
    hour = demo.replace(minute=0, second=0, microsecond=0)
    blip = vm_id("blip-01", "rg-web")
    deliver([
        wire_event("write", hour - timedelta(days=12), resource_id=blip),
        wire_event("deallocate", hour - timedelta(days=5), resource_id=blip),
        wire_event("start", hour - timedelta(days=5) + timedelta(minutes=1), resource_id=blip),
    ])  # fmt: skip
    OUTPUT.mkdir(exist_ok=True)
    for preset, days in (("30d", 30), ("7d", 7)):
        open_page(phone, host, range=preset)
        start, end = (parse_time(text) for text in page_window(phone))
        assert end - start == timedelta(days=days)
        assert_axis_readable(phone)
        layout = phone.execute_script(
            """
            const view = document.documentElement.clientWidth;
            const names = Array.from(document.querySelectorAll('#rows .name')).map((n) => {
              const r = n.getBoundingClientRect();
              return {text: n.textContent, cut: n.scrollWidth > n.clientWidth + 1,
                      left: r.left, right: r.right};
            });
            const bands = Array.from(document.querySelectorAll('#rows svg.band'))
              .map((b) => b.getBoundingClientRect().width);
            return {view, page: document.documentElement.scrollWidth, names, bands};
            """
        )
        assert layout["view"] <= PHONE[0] and layout["page"] <= layout["view"]  # no sideways scrolling
        assert LONG_NAME in {name["text"] for name in layout["names"]}
        for name in layout["names"]:
            assert not name["cut"] and 0 <= name["left"] and name["right"] <= layout["view"], name
        assert min(layout["bands"]) >= 0.8 * layout["view"]  # each band has (nearly) the whole width
        phone.execute_script("document.getElementById('legend').scrollIntoView()")
        phone.save_screenshot(str(OUTPUT / f"timeline-phone-{preset}.png"))

        # The minute deallocated between two running periods: at least the minimum width, and on top.
        row = next(r for r in page_rows(phone) if r["name"] == "blip-01")
        index = next(i for i, s in enumerate(row["segments"]) if s["key"] == "deallocated")
        mark = phone.execute_script(
            """
            const tr = document.querySelector(`tr[data-resource-id="${arguments[0]}"]`);
            const mark = tr.querySelector(`rect.min-width[data-index="${arguments[1]}"]`);
            if (!mark) return null;
            mark.scrollIntoView({block: 'center'});
            const r = mark.getBoundingClientRect();
            const top = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
            return {width: r.width, onTop: top === mark, fill: mark.getAttribute('fill'),
                    segFill: tr.querySelectorAll('rect.seg')[arguments[1]].getAttribute('fill')};
            """,
            row["resourceId"],
            index,
        )
        assert (
            mark is not None and mark["width"] >= 2.99 and mark["onTop"] and mark["fill"] == mark["segFill"]
        )


def test_on_a_desktop_the_axis_has_a_now_marker_and_no_overlapping_labels(driver, host, demo):
    for preset in ("today", "7d", "30d"):
        open_page(driver, host, range=preset)
        assert_axis_readable(driver)


def test_every_state_in_the_legend_has_its_own_colour(driver, host, demo):
    open_page(driver, host)
    fills = [entry["fill"] for entry in legend(driver).values()]
    assert len(fills) == len(set(fills)) == 10
    colours = legend(driver)
    assert colours[("starting", "billed")]["fill"] != colours[("stopping", "billed")]["fill"]
    assert len({colours[(key, "none")]["fill"] for key in ("deleted", "absent")} | {"url(#hatch)"}) == 3


def scale_set_estate(now: datetime) -> None:
    """Three instances of ``web-ss`` (created by instance events) and one VM of its own."""
    hour = now.replace(minute=0, second=0, microsecond=0)
    instance_write = "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/write"
    events = [
        wire_event(
            "write", hour - timedelta(hours=h), resource_id=instance_id(str(n)), operation=instance_write
        )
        for n, h in ((0, 30), (1, 20), (2, 10))
    ]
    deallocate = "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/deallocate/action"
    events.append(
        wire_event(
            "deallocate", hour - timedelta(hours=5), resource_id=instance_id("2"), operation=deallocate
        )
    )
    events.append(wire_event("write", hour - timedelta(hours=8), resource_id=vm_id("solo", "rg-app")))
    deliver(events)


def group_rows(driver) -> list[dict]:
    return driver.execute_script(
        """
        const kind = (tr) => tr.classList.contains('scale-set') ? 'set'
          : (tr.classList.contains('instance') ? 'instance' : 'vm');
        return Array.from(document.querySelectorAll('#rows tr')).map((tr) => ({
          kind: kind(tr), name: tr.querySelector('.name').textContent, hidden: tr.hidden,
          billed: tr.querySelector('.group-billed-hours, .billed-hours').firstChild.textContent,
          expanded: tr.querySelector('button.toggle')?.getAttribute('aria-expanded') ?? null,
        }));
        """
    )


def test_instances_are_grouped_under_their_scale_set_with_its_billed_hours_summed_and_collapse(
    driver, host, ledger_env
):
    scale_set_estate(utc_now())
    open_page(driver, host)
    rows = group_rows(driver)
    assert [(row["kind"], row["name"]) for row in rows] == [
        ("vm", "solo"), ("set", "web-ss"), ("instance", "web-ss_0"), ("instance", "web-ss_1"),
        ("instance", "web-ss_2"),
    ]  # fmt: skip
    start, end = page_window(driver)
    members = api_all(start, end, scaleSet="web-ss")
    assert rows[1]["billed"] == hours_text(sum(item["billedSeconds"] for item in members))
    assert rows[1]["expanded"] == "true" and not any(row["hidden"] for row in rows)

    click(driver, "#rows tr.scale-set button.toggle")
    collapsed = group_rows(driver)
    assert collapsed[1]["expanded"] == "false"
    assert [row["hidden"] for row in collapsed if row["kind"] == "instance"] == [True, True, True]
    assert driver.switch_to.active_element.get_attribute("class") == "toggle name"  # focus stays on it
    click(driver, "#rows tr.scale-set button.toggle")
    assert not any(row["hidden"] for row in group_rows(driver))

    open_page(driver, host, scaleSet="web-ss")
    assert [row["name"] for row in group_rows(driver)] == ["web-ss", "web-ss_0", "web-ss_1", "web-ss_2"]
    assert filters_in_address(driver) == {} and "scaleSet=web-ss" in driver.current_url


def counts_shown(driver) -> dict[str, str]:
    return {name: driver.find_element("id", name).text for name in ("status", "total-label", "page-info")}


def test_every_count_of_vms_on_the_page_agrees_and_one_is_one_vm(driver, host, ledger_env):
    scale_set_estate(utc_now())
    open_page(driver, host)
    assert counts_shown(driver) == {
        "status": "4 VMs",
        "total-label": "Total (4 VMs)",
        "page-info": "VMs and scale sets 1–2 of 2 · page 1 of 1",  # a scale set is paged as one entry
    }
    open_page(driver, host, scaleSet="web-ss")
    assert counts_shown(driver) == {
        "status": "3 VMs",
        "total-label": "Total (3 VMs)",
        "page-info": "VMs and scale sets 1–1 of 1 · page 1 of 1",
    }
    assert driver.find_element("css selector", "#rows tr.scale-set .sub").text == "scale set · 3 VMs · rg-app"


def test_one_vm_is_counted_as_one_vm(driver, host, demo):
    open_page(driver, host, subscriptionId=OTHER_SUB)
    assert counts_shown(driver) == {
        "status": "1 VM",
        "total-label": "Total (1 VM)",
        "page-info": "VMs 1–1 of 1 · page 1 of 1",
    }


# ---- the findings strip -------------------------------------------------------------------------------


def wait_findings(driver) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, WAIT).until(
        lambda d: d.execute_script("return document.getElementById('findings').dataset.state") == "ready"
    )


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
