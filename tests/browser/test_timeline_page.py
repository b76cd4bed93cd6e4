"""The timeline page in a real headless Chromium, served by the real HTTP functions on Azurite: each
VM's bands, colours, totals and costs as the API answers them, the window and filter controls, paging,
sorting, scale set groups and the counts of VMs, and the static snapshot of ``make demo``."""

from __future__ import annotations

import csv
import io
from datetime import UTC, timedelta

import pytest

from devtools.events import vm_id, wire_event
from shared import context
from shared.cli import write_snapshot
from shared.domain.times import format_time, parse_time, utc_now
from shared.web.csv_export import hours
from tests.browser.estate import LONG_NAME, OTHER_SUB, deliver, price_some, scale_set_estate
from tests.browser.page_host import KEY
from tests.browser.timeline_page import (
    OUTPUT,
    api_all,
    assert_page_matches_api,
    click,
    counts_shown,
    filters_in_address,
    group_rows,
    hours_text,
    legend,
    open_page,
    page_rows,
    page_window,
    set_custom_window,
    shown_time,
    timelines_asked,
    tooltip,
    wait_error,
    wait_loaded,
)

pytestmark = [pytest.mark.azurite, pytest.mark.browser]


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
    app = context.root()  # the currency and thresholds the API answers with
    count = write_snapshot(path, ledger, currency=app.currency, thresholds=app.thresholds, as_of=as_of)
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


def test_every_state_in_the_legend_has_its_own_colour(driver, host, demo):
    open_page(driver, host)
    fills = [entry["fill"] for entry in legend(driver).values()]
    assert len(fills) == len(set(fills)) == 10
    colours = legend(driver)
    assert colours[("starting", "billed")]["fill"] != colours[("stopping", "billed")]["fill"]
    assert len({colours[(key, "none")]["fill"] for key in ("deleted", "absent")} | {"url(#hatch)"}) == 3


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
