"""Money first on the timeline page, in a real headless Chromium: what is paid for nothing now, the window's
total, what stopping avoided and cost per group, each equal to what the API answers; usable on a phone."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from devtools.events import SUB, vm_id
from shared.domain.attached import DiskSpec, Held, PublicIpSpec, VmAttachments
from shared.domain.attached_pricing import Rate
from shared.domain.ids import parse_vm_id
from shared.store import UnattachedDisk
from tests.browser.estate import price_some
from tests.browser.timeline_page import api_all, open_page, page_window, wait_findings

pytestmark = [pytest.mark.azurite, pytest.mark.browser]

REGION = "westeurope"


def keep_disks_and_ips(ledger, now: datetime) -> None:
    """web-02 (hibernated four days) keeps a P10 disk and a Standard IP; rg-ops has an unattached E10."""
    web2 = parse_vm_id(vm_id("web-02", "rg-web"))
    since = now - timedelta(days=10)
    disk = DiskSpec(f"{web2.resource_id}-os", "Premium_LRS", None, 128, None, None, since, REGION,
                    web2.resource_id, "Attached")  # fmt: skip
    ip = PublicIpSpec(f"/subscriptions/{SUB}/resourceGroups/rg-web/providers/Microsoft.Network/"
                      "publicIPAddresses/web-ip", "Standard", "Static", REGION)  # fmt: skip
    loose = DiskSpec(f"/subscriptions/{SUB}/resourceGroups/rg-ops/providers/Microsoft.Compute/disks/left",
                     "StandardSSD_LRS", None, 128, None, None, since, REGION, None, "Unattached")  # fmt: skip
    attachments = VmAttachments((Held(disk, since), Held(ip, since)), now - timedelta(days=1))
    ledger.attached.save_subscription(
        SUB, {web2.vm_key: attachments}, [UnattachedDisk(loose, since)], now - timedelta(days=1)
    )
    rates = {
        "P10 LRS Disk": Rate(Decimal("19.71"), per_hour=False),
        "E10 LRS Disk": Rate(Decimal("7.3"), per_hour=False),
        "Standard IPv4 Static Public IP": Rate(Decimal("0.005"), per_hour=True),
    }
    ledger.prices.save_rates("USD", now, [REGION], {REGION: rates})


@pytest.fixture
def billed_estate(ledger, demo):
    price_some(ledger, demo)
    keep_disks_and_ips(ledger, demo)
    return demo


def money(driver) -> dict:
    return driver.execute_script(
        """
        const panel = document.getElementById('money');
        const figure = (id) => document.getElementById(id).dataset.amount;
        return {
          visible: !panel.hidden,
          first: Boolean(panel.compareDocumentPosition(document.getElementById('findings'))
                         & Node.DOCUMENT_POSITION_FOLLOWING),
          deallocated: figure('money-deallocated'), total: figure('money-total'),
          avoided: figure('money-avoided'), stopped: figure('money-stopped'),
          unattached: figure('money-unattached'),
          bars: Array.from(document.querySelectorAll('#money-bars .bar-row')).map((row) => [row.dataset.group,
                Object.fromEntries(Array.from(row.querySelectorAll('rect')).map((r) =>
                  [r.dataset.part, Number(r.getAttribute('width'))]))]),
          overflow: document.documentElement.scrollWidth > window.innerWidth,
        };
        """
    )


def cents(values) -> str:
    return f"{sum(Decimal(str(value)) for value in values):.2f}"


def test_the_money_panel_comes_first_and_says_what_the_api_says(driver, host, billed_estate):
    open_page(driver, host)
    wait_findings(driver)
    shown = money(driver)
    start, end = page_window(driver)
    items = api_all(start, end)
    assert shown["visible"] and shown["first"]
    deallocated = [vm for vm in items if vm["powerState"] == "deallocated" and not vm["deleted"]]
    monthly = [
        vm["attachedCost"]["monthly"] for vm in deallocated if vm["attachedCost"]["monthly"] is not None
    ]
    assert shown["deallocated"] == cents(monthly) == "23.36"  # web-02: 19.71 + 0.005 x 730
    assert shown["total"] == cents(
        vm["totalCost"]["amount"] for vm in items if vm["totalCost"]["amount"] is not None
    )
    assert shown["avoided"] == cents(
        vm["avoidedCost"]["amount"] for vm in items if vm["avoidedCost"]["amount"]
    )
    assert shown["unattached"] == "7.30"
    groups = dict(shown["bars"])
    assert set(groups) == {vm["resourceGroup"] for vm in items}
    widest = max(parts["compute"] + parts["attached"] for parts in groups.values())
    assert widest == pytest.approx(100) and groups["rg-web"]["attached"] > 0


def test_the_money_panel_fits_a_phone(driver, host, billed_estate):
    driver.set_window_size(390, 844)
    try:
        open_page(driver, host)
        wait_findings(driver)
        shown = money(driver)
        assert shown["visible"] and not shown["overflow"] and shown["deallocated"] == "23.36"
    finally:
        driver.set_window_size(1400, 1000)
