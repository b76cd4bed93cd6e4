"""Reading the timeline page in the browser, and what the API answers for the same window."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import azure.functions as func

import function_app
from shared.domain.times import format_time, parse_time
from tests.browser.page_host import PageHost

OUTPUT = Path(__file__).resolve().parents[2] / "test-output"
WAIT = 30  # seconds the browser may take to show something; a ceiling, never an assertion


def api(**params: str) -> dict:
    request = func.HttpRequest("GET", "http://127.0.0.1/api/timelines", body=b"", params=params)
    response = function_app.list_vm_timelines(request)
    assert response.status_code == 200, response.get_body()
    return json.loads(response.get_body())


def api_all(start: str, end: str, **filters: str) -> list[dict]:
    """Every VM over the window; with ``resolution`` (as the page asks), its compact rows as segments."""
    items, token = [], None
    while True:
        params = {"from": start, "to": end, "top": "200", **filters}
        if token:
            params["continuationToken"] = token
        body = api(**params)
        items += [expanded(item, body["window"]["from"]) for item in body["value"]]
        if "nextLink" not in body:
            return items
        token = parse_qs(urlsplit(body["nextLink"]).query)["continuationToken"][0]


def expanded(item: dict, window_from: str) -> dict:
    if "segmentRows" not in item:
        return item
    origin = parse_time(window_from)
    segments = [
        {**item["states"][row[2]], "from": format_time(origin + timedelta(seconds=row[0])),
         "to": format_time(origin + timedelta(seconds=row[1])), "merged": row[6]}
        for row in item["segmentRows"]
    ]  # fmt: skip
    return {**item, "segments": segments}


def page_resolution(driver) -> str:
    return driver.execute_script("return document.body.dataset.resolution")


def wait_loaded(driver, loads: int = 1) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    def ready(d) -> bool:
        state = d.execute_script("return [document.body.dataset.state, Number(document.body.dataset.loads)]")
        if state[0] == "error":
            raise AssertionError(d.find_element("id", "error").text)
        return state[0] == "ready" and state[1] >= loads

    WebDriverWait(driver, WAIT).until(ready)


def open_page(driver, host: PageHost, **params: str) -> None:
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
    items = api_all(start, end, resolution=page_resolution(driver), **filters_in_address(driver))
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


def timelines_asked(host: PageHost) -> list[dict[str, str]]:
    return [params for path, params in host.requests if path == "/api/timelines"]


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


def counts_shown(driver) -> dict[str, str]:
    return {name: driver.find_element("id", name).text for name in ("status", "total-label", "page-info")}


def wait_findings(driver) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, WAIT).until(
        lambda d: d.execute_script("return document.getElementById('findings').dataset.state") == "ready"
    )
