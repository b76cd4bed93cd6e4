"""`make serve` end to end: ``scripts/serve.py`` as a process, its own Azurite on disk, real HTTP.

Ports are free ones and the data folder is a temporary one, so this never touches 7071, 10002 or the
developer's ``.azurite/``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devtools.azurite import Azurite, PortBusyError, free_port
from devtools.events import SUB, at, scale_set_id, scale_set_operation, vm_id, wire_event
from devtools.fake_arm import FakeArm, make_instance, make_scale_set
from shared.web.csv_export import hours
from tests.factories import digest_in_test_http, sample_day

pytestmark = [pytest.mark.azurite, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
STARTUP = 60  # seconds; a ceiling for a loaded machine, not an expectation
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Served:
    process: subprocess.Popen[str]
    base: str
    azurite_pids: tuple[int, int]  # table, queue
    output: list[str]


def start_serve(
    location: Path, azurite_port: int, queue_port: int, arm_endpoint: str = "http://127.0.0.1:9"
) -> Served:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VM_LEDGER_", "BILLED_POWER"))}
    env["ARM_ENDPOINT"] = arm_endpoint  # never Azure from a test: a loopback fake, or a closed port
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "scripts.serve", "--port", "0", "--azurite-port", str(azurite_port),
         "--azurite-queue-port", str(queue_port), "--azurite-location", str(location), "--topic-port", "0"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    output: list[str] = []
    deadline = time.monotonic() + STARTUP
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        output.append(line)
        if line.startswith("Open "):
            text = "".join(output)
            base = re.search(r"Serving the function app at (http://127\.0\.0\.1:\d+)", text)
            pids = re.search(r"Azurite table \S+ \(pid (\d+)\), queue \S+ \(pid (\d+)\)", text)
            assert base and pids, text
            return Served(process, base.group(1), (int(pids.group(1)), int(pids.group(2))), output)
    process.kill()
    raise AssertionError("serve did not start:\n" + "".join(output))


def stop_serve(served: Served) -> str:
    served.process.send_signal(signal.SIGTERM)
    rest, _ = served.process.communicate(timeout=60)
    return "".join(served.output) + rest


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def request(url: str, *, method: str = "GET", body: bytes | None = None, headers: dict | None = None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with NO_PROXY.open(req, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def post_events(served: Served, events: list[dict], **headers: str):
    return request(
        f"{served.base}/runtime/webhooks/EventGrid?functionName=on_vm_event",
        method="POST",
        body=json.dumps(events).encode(),
        headers={"Content-Type": "application/json", "aeg-event-type": "Notification", **headers},
    )


@pytest.fixture(scope="module")
def location(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("azurite-data")


@pytest.fixture(scope="module")
def azurite_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def queue_port() -> int:
    return free_port()


SCALE_SET = make_scale_set(SUB, "rg-shop", "web-ss", capacity=2)


@pytest.fixture(scope="module")
def fake_arm() -> Iterator[FakeArm]:
    with FakeArm({SUB: []}) as server:
        server.set_scale_sets(SUB, [{"scaleSet": SCALE_SET, "instances": [
            make_instance(SCALE_SET, "0"), make_instance(SCALE_SET, "1")]}])  # fmt: skip
        yield server


@pytest.fixture(scope="module")
def served(location: Path, azurite_port: int, queue_port: int, fake_arm: FakeArm) -> Iterator[Served]:
    server = start_serve(location, azurite_port, queue_port, fake_arm.url)
    try:
        yield server
    finally:
        if server.process.poll() is None:
            stop_serve(server)


WEB = vm_id("web-01", "rg-shop")
DAY = sample_day(WEB)  # built once: the same event ids when delivered again


@pytest.fixture(scope="module")
def recorded(served: Served) -> Served:
    status, _, body = post_events(served, DAY)
    assert (status, json.loads(body)) == (200, {"delivered": 5})
    return served


def test_it_says_it_is_a_stand_in_and_that_keys_are_not_checked(served):
    text = "".join(served.output)
    assert "`func start` (Core Tools) is the real one" in text
    assert "Function keys are NOT checked" in text
    assert f"{served.base}/api/vms/{{subscriptionId}}/{{resourceGroup}}/{{vmName}}" in text


def test_posted_events_reach_on_vm_event_and_show_in_list_vms_and_get_vm(recorded):
    status, _, body = request(f"{recorded.base}/api/vms")
    assert status == 200
    assert [vm["vmName"] for vm in json.loads(body)["value"]] == ["web-01"]
    status, _, body = request(
        f"{recorded.base}/api/vms/{SUB}/RG-SHOP/web-01?from=2026-11-23T00:00:00Z&to=2026-11-24T00:00:00Z"
    )
    vm = json.loads(body)
    assert status == 200 and vm["billedSeconds"] == 5 * 3600 and vm["hibernated"] is True


def test_a_redelivered_batch_changes_nothing_and_a_single_cloud_event_is_accepted(recorded):
    transitions = f"{recorded.base}/api/vms/{SUB}/rg-shop/web-01/transitions"
    before = json.loads(request(transitions)[2])["value"]
    status, _, body = post_events(recorded, DAY)
    assert (status, json.loads(body)) == (200, {"delivered": 5})
    assert json.loads(request(transitions)[2])["value"] == before

    cloud = wire_event("start", at(hours=20), resource_id=WEB, schema="CloudEvents")
    status, _, body = request(
        f"{recorded.base}/runtime/webhooks/eventgrid?functionName=on_vm_event",
        method="POST",
        body=json.dumps(cloud).encode(),
        headers={"Content-Type": "application/cloudevents+json"},
    )
    assert (status, json.loads(body)) == (200, {"delivered": 1})
    _, _, body = request(f"{recorded.base}/api/vms/{SUB}/rg-shop/web-01")
    assert json.loads(body)["powerState"] == "running"


def test_timelines_as_csv_has_a_header_and_the_vms_billed_hours(recorded):
    status, headers, body = request(
        f"{recorded.base}/api/timelines?format=csv&from=2026-11-23T00:00:00Z&to=2026-11-23T16:00:00Z"
    )
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8"), newline="")))
    assert [(row["vmName"], row["billedHours"]) for row in rows] == [("web-01", hours(5 * 3600))]


def test_the_timeline_page_is_html_with_its_content_security_policy(served):
    status, headers, body = request(f"{served.base}/api/timeline?code=anything")
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert "script-src 'sha256-" in headers["Content-Security-Policy"]
    assert b"<title>VM compute timeline</title>" in body


def test_an_unknown_route_is_a_404_and_a_bad_parameter_a_400_json_error(served):
    status, _, body = request(f"{served.base}/api/nothing/here")
    assert status == 404 and json.loads(body)["error"]["code"] == "NotFound"
    status, headers, body = request(f"{served.base}/api/vms/{SUB}/rg-shop/web-01?from=yesterday")
    assert status == 400 and headers["Content-Type"].startswith("application/json")
    assert json.loads(body)["error"]["code"] == "InvalidTime"
    status, headers, _ = request(f"{served.base}/api/vms", method="POST", body=b"")
    assert status == 405 and headers["Allow"] == "GET"


def test_the_webhook_answers_event_grids_validation_handshake_and_rejects_bad_bodies(served):
    validation = [{"id": "1", "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
                   "data": {"validationCode": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"}}]  # fmt: skip
    status, _, body = post_events(served, validation, **{"aeg-event-type": "SubscriptionValidation"})
    assert (status, json.loads(body)) == (200, {"validationResponse": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"})
    status, _, body = request(
        f"{served.base}/runtime/webhooks/EventGrid?functionName=nope", method="POST", body=b"[]"
    )
    assert status == 404 and "on_vm_event" in json.loads(body)["error"]["message"]
    status, _, _ = request(
        f"{served.base}/runtime/webhooks/EventGrid?functionName=on_vm_event", method="POST", body=b"{oops"
    )
    assert status == 400


def test_a_scale_set_event_is_queued_and_the_queue_function_records_its_instances(recorded, fake_arm):
    event = wire_event("write", at(hours=21), resource_id=scale_set_id("web-ss", "rg-shop"),
                       operation=scale_set_operation("write"))  # fmt: skip
    status, _, body = post_events(recorded, [event])
    assert (status, json.loads(body)) == (200, {"delivered": 1})
    assert "QUEUE vmledger-scale-sets   (record_scale_set_event" in "".join(recorded.output)
    deadline = time.monotonic() + STARTUP
    names: list[str] = []
    while time.monotonic() < deadline and len(names) < 2:
        _, _, body = request(f"{recorded.base}/api/vms?scaleSet=web-ss")
        names = sorted(vm["vmName"] for vm in json.loads(body)["value"])
        time.sleep(0.2)
    assert names == ["web-ss_0", "web-ss_1"]
    assert [r.path.rsplit("/", 1)[-1] for r in fake_arm.requests] == ["virtualMachines"]


def test_its_loopback_findings_topic_takes_test_http_s_digest_and_prints_it(served):
    endpoint = re.search(r"Findings topic \(loopback, key (\S+)\) at (\S+):", "".join(served.output))
    assert endpoint, served.output
    key, url = endpoint.groups()
    body = json.dumps([digest_in_test_http()]).encode()
    headers = {"Content-Type": "application/cloudevents-batch+json; charset=utf-8", "aeg-sas-key": key}
    status, _, _ = request(f"{url}?api-version=2018-01-01", method="POST", body=body, headers=headers)
    assert status == 200
    assert request(f"{url}?api-version=2018-01-01", method="POST", body=body, headers={})[0] == 401
    assert served.process.stdout is not None
    printed = served.process.stdout.readline()  # printed before the topic answered
    assert printed.startswith("VmLedger.DailyDigest digest/2026-12-06 id=")


def test_stopping_it_stops_its_azurite_and_the_ledger_survives_a_restart(
    recorded, location, azurite_port, queue_port
):
    table_pid, queue_pid = recorded.azurite_pids
    assert pid_alive(table_pid) and pid_alive(queue_pid)
    text = stop_serve(recorded)
    assert recorded.process.returncode == 0
    assert f"Stopped Azurite (table pid {table_pid}, queue pid {queue_pid})" in text
    assert not pid_alive(table_pid) and not pid_alive(queue_pid)

    again = start_serve(location, azurite_port, queue_port)
    try:
        _, _, body = request(f"{again.base}/api/vms")
        assert "web-01" in [vm["vmName"] for vm in json.loads(body)["value"]]
    finally:
        stop_serve(again)
    assert not any(pid_alive(pid) for pid in again.azurite_pids)


def test_the_persistent_store_is_reused_when_azurite_is_already_there_and_refused_when_not(tmp_path):
    with Azurite() as mine:
        shared = Azurite.persistent(mine.port, tmp_path, queue_port=mine.queue_port)
        assert shared.reused and shared.pid is None and shared.owned() == []
        shared.stop()  # not ours: must leave it running
        assert mine.table.process.poll() is None and mine.queue.process.poll() is None
    with pytest.raises(PortBusyError, match="not Azurite"):
        with _listener() as port:
            Azurite.persistent(port, tmp_path)


def _listener():
    import contextlib
    import socket

    @contextlib.contextmanager
    def listen():
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            sock.listen()
            yield sock.getsockname()[1]

    return listen()


def test_a_queue_function_without_an_azurite_connection_string_is_listed_as_not_polled():
    from devtools.function_host import Functions, QueueFunction
    from scripts.serve import QueuePollers

    queue = QueueFunction("record_scale_set_event", "%VM_LEDGER_QUEUE%", "VM_LEDGER_STORAGE", print)
    functions = Functions(routes=(), event_grid={}, queues=(queue,))
    identity = {
        "VM_LEDGER_QUEUE": "q1",
        "VM_LEDGER_STORAGE__queueServiceUri": "https://a.queue.core.windows.net",
    }
    pollers = QueuePollers(functions, identity)
    assert pollers.running == [] and pollers.threads == []
    assert pollers.not_polled == [(queue, "VM_LEDGER_STORAGE holds no connection string: the stand-in reads "
                                          "Azurite with one")]  # fmt: skip
    pollers.stop()  # nothing started: nothing to join
    assert QueuePollers(functions, {"VM_LEDGER_STORAGE": "UseDevelopmentStorage=true"}).not_polled[0][1] == (
        "the queue name '%VM_LEDGER_QUEUE%' resolves to nothing: set VM_LEDGER_QUEUE"
    )
