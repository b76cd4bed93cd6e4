"""Fixtures of the browser tests: Debian's Chromium driven by Selenium, the function app served on
loopback by the host ``make serve`` runs, and the small estate most tests look at.

Debian's ``chromium`` and ``chromium-driver`` are used (installed with apt-get when missing); no browser
is downloaded from anywhere else.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from shared.domain.times import utc_now
from tests.browser.estate import deliver, demo_events
from tests.browser.page_host import PageHost
from tests.browser.timeline_page import WAIT

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
INSTALL_TIMEOUT = 900


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


@pytest.fixture(scope="module")
def host(app_functions) -> Iterator[PageHost]:
    server = PageHost(app_functions).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def demo(ledger_env) -> datetime:
    now = utc_now()
    deliver(demo_events(now))
    return now
