"""The timeline page's layout in a real headless Chromium: on a phone every band, name and axis label
is readable, and on a desktop the axis has its "now" marker and no overlapping labels."""

from __future__ import annotations

from datetime import timedelta

import pytest

from devtools.events import vm_id, wire_event
from shared.domain.times import parse_time
from tests.browser.estate import LONG_NAME, deliver
from tests.browser.timeline_page import OUTPUT, open_page, page_rows, page_window

pytestmark = [pytest.mark.azurite, pytest.mark.browser]


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
