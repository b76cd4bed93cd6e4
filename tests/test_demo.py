"""`make demo` as a process: its table, its ingest summary and footnotes, reruns, and that `make serve`
finds its ledger afterwards. Free ports and a temporary data folder stand in for 10002 and ``.azurite/``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from devtools.azurite import free_port
from tests.test_serve import pid_alive, request, start_serve, stop_serve

pytestmark = [pytest.mark.azurite, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent


def run_demo(location: Path, port: int, queue_port: int, snapshot: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "scripts.demo", "--azurite-port", str(port), "--azurite-queue-port",
         str(queue_port), "--azurite-location", str(location), "--snapshot", str(snapshot)],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def without_times(text: str) -> str:
    """The output with what depends on the clock, pids and ports taken out.

    Hours too: the sample day ends ten minutes before each run, so a VM running now has accrued a few
    more seconds by the second run (0.01 h is 36 s). A rerun that added a second copy of the day would
    still differ, in its transitions list.
    """
    text = re.sub(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d)?(\.\d+Z)?", "<time>", text)
    text = re.sub(r"\b\d+\.\d\d\b", "<hours>", text)
    text = re.sub(r" +", " ", text)  # column widths follow the widest value
    text = re.sub(r"(pid|changed after) [\d:]+|127\.0\.0\.1:\d+", "<n>", text)
    # Hours billed "today" by a running VM grow with the clock: two runs seconds apart may differ by 0.01.
    text = re.sub(r"\b\d+\.\d\d\b", "<h>", text)
    return re.sub(r"Cleared the previous run's \d+ rows.*\n", "", text)


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory) -> tuple[str, str, Path, tuple[int, int], Path]:
    location = tmp_path_factory.mktemp("demo-azurite")
    snapshot = tmp_path_factory.mktemp("demo-out") / "demo-timeline.html"
    ports = free_port(), free_port()
    first = run_demo(location, *ports, snapshot)
    second = run_demo(location, *ports, snapshot)
    return first, second, location, ports, snapshot


def test_the_demo_prints_an_ingest_summary_and_a_table_whose_columns_say_what_they_mean(demo_runs):
    first = demo_runs[0]
    assert "19 deliveries: 16 recorded, 1 duplicate, 2 skipped" in first
    assert "BILLING NOW" in first and not re.search(r"\bBILLED\b(?! H (TODAY|SINCE))", first)
    # legacy-app, adopted by reconcile, had unknown hours before its history was backfilled; now none.
    assert re.search(r"rg-legacy/legacy-app +running .* 0\.00 +[0-9]+\.[0-9]{2} USD +\n", first)
    assert "running + Failed: an operation on the VM failed" in first
    assert "EST. COST TODAY" in first and "Chargeback today by tag 'team'" in first
    assert re.search(r"\ntotal +[0-9]+ +[0-9.]+ +[0-9]+\.[0-9]{2} USD", first)
    snapshot = demo_runs[4]
    assert f"is in {snapshot.resolve()}" in first and snapshot.is_file()


def test_the_demo_shows_a_guest_shutdown_finding_and_a_vm_backfilled_from_the_activity_log(demo_runs):
    first = demo_runs[0]
    assert re.search(r"stoppedButBilled +rg-shop/web-02 +stopped .* foundByReconcile", first)
    assert re.search(r"deallocatedLong +rg-legacy/archive-01 +deallocated ", first)
    # the sample day ends with money paid for nothing: a VM stopped and billed for over an hour, a
    # deallocated VM that keeps a Premium disk (P10) and a Standard IP (19.71 + 3.65 a month), and the disk
    # the deleted old-build left behind
    assert re.search(r"stoppedButBilled +rg-data/report-01 +stopped .* 2\.\d\d +2\.\d\d +powerOff", first)
    assert re.search(r"deallocatedLong +rg-legacy/archive-01 .* still 23\.36 USD a month in disks", first)
    assert re.search(r"unattachedDisk +rg-ci/old-build-os \(disk, E10\) +no VM .* 7\.30 USD a month", first)
    assert "DISKS+IPS TODAY" in first and "AVOIDED TODAY" in first
    assert len(re.findall(r"stoppedButBilled +rg-data/report-01", first)) == 1
    history = first[first.index("Transitions of rg-legacy/archive-01") :]
    assert re.search(r"running +activityLog Microsoft.Compute/virtualMachines/write", history)
    assert re.search(r"deallocated +activityLog Microsoft.Compute/virtualMachines/deallocate/action", history)


def test_the_demo_shows_a_day_of_the_bill_beside_the_estimate_and_one_drift(demo_runs):
    first = demo_runs[0]
    bill = first[first.index("Cost Management's bill for") : first.index("4. Transitions")]
    assert re.search(r"rg-legacy/legacy-app +24\.00 +24\.00 +1\.43 USD +0\.98 USD +2\.30 USD +0\.62", bill)
    assert re.search(r"rg-legacy/archive-01 +3\.00 +0\.00 +0\.58 USD", bill)
    assert len(re.findall(r"billingDrift ", bill)) == 1
    assert "billingDrift rg-legacy/archive-01" in bill and "the bill has 3 h, the ledger 0 h" in bill


def test_the_demo_shows_the_events_its_sample_day_raises_and_the_timer_run_clears(demo_runs):
    first, second = demo_runs[0], demo_runs[1]
    published = first[first.index("published to a loopback Event Grid topic") :]
    assert re.search(r"VmLedger.FindingRaised +failedProvisioning +db-01 ", published)
    timer_run = published[published.index("What the timer run raised and cleared") :]
    assert re.search(r"VmLedger.FindingRaised +deallocatedLong +archive-01 ", timer_run)
    assert re.search(r"VmLedger.FindingCleared +unconfirmed +db-01 ", timer_run)
    assert "VmLedger.FindingCleared" in second  # a rerun starts from an empty outbox and does it again


def test_a_second_run_clears_its_own_rows_first_and_prints_the_same_ledger(demo_runs):
    first, second = demo_runs[0], demo_runs[1]
    assert "Cleared the previous run's" not in first
    assert re.search(r"Cleared the previous run's \d+ rows of subscription", second)
    assert without_times(first) == without_times(second)


def test_the_demo_records_its_scale_set_events_through_the_queue_function(demo_runs):
    first = demo_runs[0]
    assert "4 deliveries: 4 queued; then from the queue: 4 recorded changes" in first
    assert re.search(r"rg-shop/web-ss_2 +deleted +Deleted +no .* 3\.00 ", first)


def test_the_demo_stops_its_azurite_and_make_serve_then_serves_its_ledger(demo_runs):
    first, _, location, ports, _ = demo_runs
    stopped = re.search(r"Stopped Azurite \(table pid (\d+), queue pid (\d+)\)", first)
    assert stopped and not any(pid_alive(int(pid)) for pid in stopped.groups())
    served = start_serve(location, *ports)
    try:
        status, _, body = request(f"{served.base}/api/vms")
        names = {vm["vmName"] for vm in json.loads(body)["value"]}
        assert status == 200 and {"web-01", "web-02", "db-01", "legacy-app"} <= names
        status, _, _ = request(f"{served.base}/api/vms/9a6c2a1e-5f0b-4d3e-8c7a-1b2c3d4e5f60/rg-shop/web-01")
        assert status == 200
    finally:
        stop_serve(served)
