"""The List All client against the fake ARM on 127.0.0.1, and the parsing of recorded pages."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from azure.core.credentials import AccessToken
from azure.core.pipeline.transport import RequestsTransport

from devtools.events import scale_set_id, vm_id
from devtools.fake_arm import FakeArm, Faults, make_scale_set, make_vm
from shared import context
from shared.domain.ids import parse_scale_set_id, parse_vm_id
from shared.errors import ConfigurationError
from shared.sources import ArmClient, ListedVm, ListingError, list_vm_operations, parse_listing_page
from shared.sources.activity_log import MAX_ACTIVITY_LOG_PAGES
from shared.sources.arm import MAX_INSTANCE_PAGES, MAX_SCALE_SET_PAGES, MAX_VM_PAGES

SUB = "6f1d3c2a-8b4e-4f7a-9c2d-1e5b7a9c3d40"
OTHER_SUB = "0b9e2f4c-3a1d-4c8e-b7f6-5d2a9e1c8b37"
API_VERSION = "2024-07-01"
DATA = Path(__file__).parent / "data"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
LOG_WINDOW = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 23, tzinfo=UTC))
SECRET_TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.secret-test-token"


# ---- helpers -------------------------------------------------------------------------------------------


def vms(count: int, subscription_id: str = SUB) -> list[dict[str, Any]]:
    return [make_vm(subscription_id, "rg-app", f"vm-{index:02d}") for index in range(count)]


def fast_client(endpoint: str, **kwargs: Any) -> ArmClient:
    """A client whose retries do not wait: tests check behaviour, never timings."""
    kwargs.setdefault("retry_total", 3)
    kwargs.setdefault("retry_backoff_factor", 0)
    return ArmClient(endpoint, API_VERSION, **kwargs)


def read_all(client: ArmClient, subscription_id: str = SUB) -> list[list[ListedVm]]:
    return list(client.iter_vm_pages(subscription_id))


def read_until_failure(client: ArmClient) -> tuple[list[list[ListedVm]], ListingError]:
    pages: list[list[ListedVm]] = []
    with pytest.raises(ListingError) as failure:
        for page in client.iter_vm_pages(SUB):
            pages.append(page)
    return pages, failure.value


def load_page(name: str = "list_all_status_only.json") -> dict[str, Any]:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def page_with(*statuses: dict[str, Any] | str, vm_id: str | None = "/subscriptions/x/vm") -> dict[str, Any]:
    """A one-VM page whose statuses are given as codes or whole status objects."""
    objects = [{"code": s, "level": "Info"} if isinstance(s, str) else s for s in statuses]
    vm: dict[str, Any] = {"name": "vm", "properties": {"instanceView": {"statuses": objects}}}
    if vm_id is not None:
        vm["id"] = vm_id
    return {"value": [vm]}


class SleepRecordingTransport(RequestsTransport):
    """The real transport, except that retry waits are recorded instead of slept."""

    def __init__(self) -> None:
        super().__init__()
        self.sleeps: list[float] = []

    def sleep(self, duration: float) -> None:
        self.sleeps.append(duration)


class CannedArmAdapter(requests.adapters.BaseAdapter):
    """Stands in for management.azure.com (unreachable here): records each request, answers canned pages."""

    def __init__(self, pages: list[dict[str, Any]]) -> None:
        super().__init__()
        self.pages = list(pages)
        self.sent: list[requests.PreparedRequest] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self.sent.append(request)
        response = requests.Response()
        response.status_code = 200
        response.headers["Content-Type"] = "application/json"
        response.raw = io.BytesIO(json.dumps(self.pages.pop(0)).encode())
        response.url = request.url or ""
        response.request = request
        return response

    def close(self) -> None:
        """Nothing to release."""


def canned_transport(*pages: dict[str, Any]) -> tuple[RequestsTransport, CannedArmAdapter]:
    adapter = CannedArmAdapter(list(pages))
    session = requests.Session()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return RequestsTransport(session=session, session_owner=False), adapter


class FakeCredential:
    """Test double for a TokenCredential: hands out a fixed token and remembers the scopes asked for."""

    def __init__(self) -> None:
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(SECRET_TOKEN, 4_102_444_800)


@pytest.fixture
def fake() -> Iterator[FakeArm]:
    with FakeArm({SUB: vms(5)}, page_size=2) as server:
        yield server


# ---- paging and request shape --------------------------------------------------------------------------


def test_listing_follows_next_link_over_several_pages_and_yields_each_vm_once(fake: FakeArm) -> None:
    with fast_client(fake.url) as client:
        pages = read_all(client)

    assert [len(page) for page in pages] == [2, 2, 1]
    listed = [vm.resource_id for page in pages for vm in page]
    assert listed == [vm["id"] for vm in vms(5)]
    assert all(vm.power_state == "running" and vm.provisioning_state == "succeeded" for vm in pages[0])


def test_pages_after_the_first_are_fetched_with_the_opaque_skip_token_from_next_link(fake: FakeArm) -> None:
    with fast_client(fake.url) as client:
        read_all(client)

    first, *rest = fake.requests
    assert "$skiptoken" not in first.query
    assert len(rest) == 2
    assert all(request.query.get("$skiptoken") for request in rest)
    assert len({request.query["$skiptoken"] for request in rest}) == 2


def test_every_request_asks_for_status_only_with_the_configured_api_version(fake: FakeArm) -> None:
    with ArmClient(fake.url, "2023-09-01", retry_total=0) as client:
        read_all(client)

    assert len(fake.requests) == 3
    for request in fake.requests:
        assert request.method == "GET"
        assert request.path == f"/subscriptions/{SUB}/providers/Microsoft.Compute/virtualMachines"
        assert request.query["statusOnly"] == "true"
        assert request.query["api-version"] == "2023-09-01"


def test_loopback_endpoint_sends_no_authorization_header_and_needs_no_credential(fake: FakeArm) -> None:
    with fast_client(fake.url) as client:
        read_all(client)

    assert client.scope is None
    assert fake.requests
    assert all("authorization" not in request.headers for request in fake.requests)


def test_requests_identify_the_ledger_in_the_user_agent_and_ask_for_json(fake: FakeArm) -> None:
    with fast_client(fake.url) as client:
        read_all(client)

    headers = fake.requests[0].headers
    assert "vm-billing-ledger/" in headers["user-agent"]
    assert headers["accept"] == "application/json"
    assert headers["x-ms-client-request-id"]


def test_a_subscription_with_no_vms_is_a_complete_listing_of_one_empty_page() -> None:
    with FakeArm({SUB: []}) as fake, fast_client(fake.url) as client:
        assert read_all(client) == [[]]


def test_pages_are_produced_lazily_one_request_at_a_time(fake: FakeArm) -> None:
    with fast_client(fake.url) as client:
        pages = client.iter_vm_pages(SUB)
        assert fake.requests == []
        next(pages)
        assert len(fake.requests) == 1
        pages.close()


def test_the_process_client_uses_the_configured_endpoint_and_api_version(
    fake: FakeArm, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VM_LEDGER_STORAGE", "UseDevelopmentStorage=true")
    monkeypatch.setenv("ARM_ENDPOINT", fake.url)
    monkeypatch.setenv("COMPUTE_API_VERSION", "2024-03-01")
    context.reset()
    with context.get_arm_client() as client:
        read_all(client)
    context.reset()

    assert client.endpoint == fake.url
    assert {request.query["api-version"] for request in fake.requests} == {"2024-03-01"}


# ---- throttling and failures ---------------------------------------------------------------------------


def test_throttled_requests_are_retried_after_the_retry_after_delay_and_the_listing_completes() -> None:
    transport = SleepRecordingTransport()
    faults = Faults(throttle_first=2, retry_after="1")
    with FakeArm({SUB: vms(3)}, page_size=2, faults=faults) as fake:
        with fast_client(fake.url, transport=transport) as client:
            pages = read_all(client)

    assert sum(len(page) for page in pages) == 3
    assert transport.sleeps == [1.0, 1.0]
    assert len(fake.requests) == 2 + 2


def test_a_429_with_retry_after_zero_is_retried_at_once() -> None:
    with FakeArm({SUB: vms(1)}, faults=Faults(throttle_first=1, retry_after="0")) as fake:
        with fast_client(fake.url) as client:
            pages = read_all(client)

    assert [len(page) for page in pages] == [1]
    assert len(fake.requests) == 2


def test_throttling_that_outlasts_the_retries_raises_listing_error_with_status_429() -> None:
    with FakeArm({SUB: vms(1)}, faults=Faults(throttle_first=100)) as fake:
        with fast_client(fake.url, retry_total=2) as client:
            pages, error = read_until_failure(client)

    assert pages == []
    assert error.pages_read == 0
    assert error.status_code == 429
    assert "TooManyRequests" in str(error)
    assert len(fake.requests) == 3


def test_a_retry_after_beyond_the_wait_cap_is_not_waited_for_and_the_listing_fails_with_429(
    caplog: pytest.LogCaptureFixture,
) -> None:
    transport = SleepRecordingTransport()
    with FakeArm({SUB: vms(1)}, faults=Faults(throttle_first=100, retry_after="100000")) as fake:
        with fast_client(fake.url, transport=transport, max_retry_wait=30) as client:
            with caplog.at_level(logging.WARNING):
                pages, error = read_until_failure(client)

    assert pages == [] and error.status_code == 429
    assert transport.sleeps == []
    assert len(fake.requests) == 1
    assert "Retry-After 100000 s" in caplog.text and "not waiting" in caplog.text


def test_retry_waits_of_one_request_add_up_to_at_most_the_cap() -> None:
    transport = SleepRecordingTransport()
    with FakeArm({SUB: vms(1)}, faults=Faults(throttle_first=100, retry_after="20")) as fake:
        with fast_client(fake.url, transport=transport, retry_total=5, max_retry_wait=50) as client:
            _, error = read_until_failure(client)

    assert error.status_code == 429
    assert transport.sleeps == [20.0, 20.0]  # a third 20 s would pass 50 s: the request fails instead
    assert len(fake.requests) == 3


def test_a_retry_after_that_would_end_past_the_deadline_is_not_waited_for(
    caplog: pytest.LogCaptureFixture,
) -> None:
    transport = SleepRecordingTransport()
    with FakeArm({SUB: vms(1)}, faults=Faults(throttle_first=100, retry_after="20")) as fake:
        with fast_client(fake.url, transport=transport, retry_total=5, max_retry_wait=50) as client:
            with caplog.at_level(logging.WARNING), pytest.raises(ListingError) as failure:
                list(client.iter_vm_pages(SUB, deadline=time.monotonic() + 10))
        requests_sent = len(fake.requests)

    assert failure.value.status_code == 429
    assert transport.sleeps == []  # 20 s would end past the deadline, 10 s away
    assert requests_sent == 1
    assert "Retry-After 20 s" in caplog.text and "not waiting" in caplog.text


def test_a_page_that_always_fails_raises_listing_error_after_the_pages_before_it() -> None:
    with FakeArm({SUB: vms(5)}, page_size=1, faults=Faults(fail_page=3)) as fake:
        with fast_client(fake.url, retry_total=2) as client:
            pages, error = read_until_failure(client)

    assert [len(page) for page in pages] == [1, 1]
    assert error.pages_read == 2
    assert error.subject == f"VMs of subscription {SUB}"
    assert error.status_code == 500
    assert len(fake.requests) == 2 + 3


def test_a_dropped_connection_on_a_page_raises_listing_error_without_a_status() -> None:
    with FakeArm({SUB: vms(4)}, page_size=2, faults=Faults(drop_page=2)) as fake:
        with fast_client(fake.url, retry_total=1) as client:
            pages, error = read_until_failure(client)

    assert [len(page) for page in pages] == [2]
    assert error.pages_read == 1
    assert error.status_code is None


def test_a_body_that_is_not_json_raises_listing_error() -> None:
    with FakeArm({SUB: vms(1)}, faults=Faults(garbage_page=1)) as fake:
        with fast_client(fake.url) as client:
            pages, error = read_until_failure(client)

    assert pages == []
    assert error.pages_read == 0
    assert "not JSON" in str(error)


def test_an_error_answer_is_not_retried_and_its_arm_error_code_is_reported() -> None:
    with FakeArm({SUB: vms(1)}) as fake, fast_client(fake.url) as client:
        with pytest.raises(ListingError) as failure:
            read_all(client, OTHER_SUB)

    assert failure.value.status_code == 404
    assert "SubscriptionNotFound" in str(failure.value)
    assert len(fake.requests) == 1


def test_a_page_without_a_value_array_is_a_failed_listing_not_an_empty_one() -> None:
    transport, _ = canned_transport({"nextLink": None})
    with ArmClient(
        "https://management.azure.com", API_VERSION, FakeCredential(), transport=transport
    ) as client:
        pages, error = read_until_failure(client)

    assert pages == []
    assert "value" in error.message


def test_a_next_link_to_another_host_is_not_followed_so_the_token_stays_home() -> None:
    foreign = "https://collector.example.com/subscriptions/x?$skiptoken=abc"
    transport, adapter = canned_transport({"value": [make_vm(SUB, "rg", "a")], "nextLink": foreign})
    with ArmClient(
        "https://management.azure.com", API_VERSION, FakeCredential(), transport=transport
    ) as client:
        pages, error = read_until_failure(client)

    assert [len(page) for page in pages] == [1]
    assert error.pages_read == 1
    assert [request.url for request in adapter.sent if "collector" in (request.url or "")] == []


def test_a_next_link_that_repeats_a_page_already_read_stops_the_listing() -> None:
    loop = f"https://management.azure.com/subscriptions/{SUB}/providers/Microsoft.Compute/virtualMachines?$skiptoken=a"
    page = {"value": [], "nextLink": loop}
    transport, adapter = canned_transport(page, page, page)
    with ArmClient(
        "https://management.azure.com", API_VERSION, FakeCredential(), transport=transport
    ) as client:
        pages, error = read_until_failure(client)

    assert len(pages) == 2
    assert error.pages_read == 2
    assert len(adapter.sent) == 2


# ---- every listing bounded: a page cap, and a deadline -----------------------------------------------


def endless_fake(**listings: Any) -> FakeArm:
    """A fake whose every listing links a next page forever; past all caps it answers 500 (no hang)."""
    entry = {"scaleSet": make_scale_set(SUB, "rg-app", "web-ss"), "instances": []}
    return FakeArm(
        {SUB: vms(1)},
        scale_sets={SUB: [entry]},
        activity_log={SUB: []},
        faults=Faults(endless=True, stop_after=MAX_VM_PAGES + 100),
        **listings,
    )


LISTINGS = {
    "List All": (MAX_VM_PAGES, lambda client: client.iter_vm_pages(SUB)),
    "List All models": (MAX_VM_PAGES, lambda client: client.iter_model_pages(SUB)),
    "Scale Sets - List All": (MAX_SCALE_SET_PAGES, lambda client: client.iter_scale_set_pages(SUB)),
    "Scale Set VMs - List": (
        MAX_INSTANCE_PAGES,
        lambda client: client.iter_instance_pages(parse_scale_set_id(scale_set_id(subscription=SUB))),
    ),
    "Activity Log": (
        MAX_ACTIVITY_LOG_PAGES,
        lambda client: [
            list_vm_operations(client, parse_vm_id(vm_id("vm-00", subscription=SUB)), *LOG_WINDOW)
        ],
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("listing", sorted(LISTINGS))
def test_a_next_link_that_changes_on_every_page_stops_at_the_listing_s_page_cap(listing: str) -> None:
    cap, pages_of = LISTINGS[listing]
    with endless_fake() as fake, fast_client(fake.url) as client:
        with pytest.raises(ListingError) as failure:
            for _ in pages_of(client):
                pass
        requests_sent = len(fake.requests)
    assert requests_sent == cap
    assert failure.value.pages_read == cap
    assert f"more pages after {cap:,}" in failure.value.message


@pytest.mark.slow
def test_a_listing_of_exactly_its_page_cap_completes() -> None:
    with FakeArm({SUB: vms(MAX_VM_PAGES)}, page_size=1) as fake, fast_client(fake.url) as client:
        pages = read_all(client)
    assert len(pages) == MAX_VM_PAGES and len(fake.requests) == MAX_VM_PAGES


def test_no_page_is_requested_once_the_deadline_has_passed() -> None:
    with FakeArm({SUB: vms(3)}, page_size=1) as fake, fast_client(fake.url) as client:
        with pytest.raises(ListingError) as failure:
            list(client.iter_fleet_pages(SUB, deadline=time.monotonic() - 1))
        assert fake.requests == []
    assert failure.value.pages_read == 0 and "time budget is spent" in failure.value.message


# ---- endpoints, credentials and logging ----------------------------------------------------------------


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://management.azure.com",
        "http://10.0.0.5:8080",
        "http://127.0.0.1.example.com",
        "ftp://127.0.0.1",
    ],
)
def test_plain_http_to_a_non_loopback_host_is_refused_before_any_request(endpoint: str) -> None:
    transport, adapter = canned_transport()
    with pytest.raises(ConfigurationError):
        ArmClient(endpoint, API_VERSION, transport=transport)

    assert adapter.sent == []


def test_an_invalid_subscription_id_is_refused_before_any_request(fake: FakeArm) -> None:
    with fast_client(fake.url) as client:
        with pytest.raises(ValueError):
            client.iter_vm_pages("../../providers/Microsoft.Authorization")

    assert fake.requests == []


def test_https_endpoint_sends_a_bearer_token_requested_for_the_management_scope() -> None:
    credential = FakeCredential()
    transport, adapter = canned_transport({"value": [make_vm(SUB, "rg", "a")]})
    with ArmClient("https://management.azure.com/", API_VERSION, credential, transport=transport) as client:
        pages = read_all(client)

    assert [vm.resource_id for vm in pages[0]] == [make_vm(SUB, "rg", "a")["id"]]
    assert credential.scopes == [("https://management.azure.com/.default",)]
    sent = adapter.sent[0]
    assert sent.headers["Authorization"] == f"Bearer {SECRET_TOKEN}"
    assert sent.url == (
        f"https://management.azure.com/subscriptions/{SUB}/providers/Microsoft.Compute/virtualMachines"
        f"?api-version={API_VERSION}&statusOnly=true"
    )


def test_a_sovereign_cloud_endpoint_requests_a_token_for_its_own_scope() -> None:
    credential = FakeCredential()
    transport, _ = canned_transport({"value": []})
    endpoint = "https://management.usgovcloudapi.net"
    with ArmClient(endpoint, API_VERSION, credential, transport=transport) as client:
        read_all(client)

    assert credential.scopes == [("https://management.usgovcloudapi.net/.default",)]


def test_https_without_a_credential_is_refused_before_any_request() -> None:
    transport, adapter = canned_transport({"value": []})
    with pytest.raises(ConfigurationError, match="needs a credential"):
        ArmClient("https://management.azure.com", API_VERSION, transport=transport)

    assert adapter.sent == []


def test_a_credential_given_as_a_callable_is_built_on_the_first_request_only() -> None:
    created: list[FakeCredential] = []

    def build() -> FakeCredential:
        created.append(FakeCredential())
        return created[-1]

    transport, adapter = canned_transport({"value": []})
    client = ArmClient("https://management.azure.com", API_VERSION, build, transport=transport)
    assert created == []

    read_all(client)
    client.close()

    assert len(created) == 1
    assert created[0].scopes == [("https://management.azure.com/.default",)]
    assert adapter.sent[0].headers["Authorization"] == f"Bearer {SECRET_TOKEN}"


def test_the_token_never_appears_in_the_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    # function_app quiets this logger at import; the test needs its lines whatever ran before.
    caplog.set_level(logging.DEBUG, logger="azure.core.pipeline.policies.http_logging_policy")
    transport, _ = canned_transport({"value": [make_vm(SUB, "rg", "a")]})
    with ArmClient(
        "https://management.azure.com", API_VERSION, FakeCredential(), transport=transport
    ) as client:
        read_all(client)

    assert "Authorization" in caplog.text
    assert "REDACTED" in caplog.text
    assert "secret-test-token" not in caplog.text


# ---- parsing -------------------------------------------------------------------------------------------


def test_a_recorded_page_parses_into_listed_vms_and_its_next_link() -> None:
    listed, next_link = parse_listing_page(load_page())

    assert next_link is not None and "statusOnly=true" in next_link and "$skiptoken=" in next_link
    by_name = {vm.resource_id.rsplit("/", 1)[-1]: vm for vm in listed}
    assert by_name["web-01"] == ListedVm(
        resource_id=f"/subscriptions/{SUB}/resourceGroups/RG-WEB/providers/Microsoft.Compute/virtualMachines/web-01",
        provisioning_state="succeeded",
        power_state="running",
        hibernated=False,
    )
    assert by_name["batch-07"].power_state == "stopped"
    assert by_name["dev-box"].power_state == "deallocated" and by_name["dev-box"].hibernated


def test_resource_ids_are_kept_exactly_as_returned() -> None:
    page = load_page()
    listed, _ = parse_listing_page(page)

    # Every id character for character, in order, whatever its casing ("RG-WEB", "resourcegroups").
    assert [vm.resource_id for vm in listed] == [entry["id"] for entry in page["value"]]
    assert "/resourcegroups/rg-batch/" in listed[1].resource_id


def test_failed_provisioning_keeps_its_error_code_while_the_power_state_still_says_running() -> None:
    listed, _ = parse_listing_page(load_page())
    gpu = next(vm for vm in listed if vm.resource_id.endswith("/gpu-train-2"))

    assert gpu.provisioning_state == "failed/AllocationFailed"
    assert gpu.power_state == "running"


def test_os_provisioning_substates_are_kept_whole() -> None:
    listed, _ = parse_listing_page(load_page())
    image = next(vm for vm in listed if vm.resource_id.endswith("/img-build-3"))

    assert image.provisioning_state == "creating/OSProvisioningInprogress"
    assert image.power_state == "starting"


def test_a_missing_power_status_gives_no_power_state_rather_than_a_guess() -> None:
    listed, _ = parse_listing_page(load_page())
    legacy = next(vm for vm in listed if vm.resource_id.endswith("/legacy-sql"))

    assert legacy.power_state is None
    assert legacy.provisioning_state == "updating"


def test_status_codes_are_compared_case_insensitively() -> None:
    listed, _ = parse_listing_page(
        page_with("PROVISIONINGSTATE/Succeeded", "powerstate/Deallocated", "hibernationState/HIBERNATED")
    )

    assert listed[0].provisioning_state == "Succeeded"
    assert listed[0].power_state == "deallocated"
    assert listed[0].hibernated is True


def test_an_unknown_power_state_is_reported_as_unknown_and_an_unrecognised_one_as_none() -> None:
    unknown, _ = parse_listing_page(page_with("ProvisioningState/succeeded", "PowerState/unknown"))
    strange, _ = parse_listing_page(page_with("ProvisioningState/succeeded", "PowerState/levitating"))

    assert unknown[0].power_state == "unknown"
    assert strange[0].power_state is None


def test_a_vm_without_an_instance_view_has_no_states() -> None:
    listed, next_link = parse_listing_page({"value": [{"id": "/subscriptions/x/vm", "name": "vm"}]})

    assert listed == [ListedVm("/subscriptions/x/vm", None, None, False)]
    assert next_link is None


def test_malformed_statuses_are_ignored_without_crashing() -> None:
    listed, _ = parse_listing_page(page_with("PowerState/running", {"code": 42}, {"level": "Info"}, "", "x"))

    assert listed[0].power_state == "running"


def test_a_vm_without_an_id_is_skipped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="shared.sources.vm_listing")
    body = {
        "value": [
            page_with("PowerState/running", vm_id=None)["value"][0],
            "not a vm",
            make_vm(SUB, "rg", "a"),
        ]
    }

    listed, _ = parse_listing_page(body)

    assert [vm.resource_id for vm in listed] == [make_vm(SUB, "rg", "a")["id"]]
    assert len([record for record in caplog.records if record.levelno == logging.WARNING]) == 2


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"value": None},
        {"value": {}},
        {"nextLink": "https://management.azure.com/x"},
        {"value": [], "nextLink": 7},
    ],
)
def test_a_body_that_is_not_a_listing_page_raises_value_error(body: Any) -> None:
    with pytest.raises(ValueError):
        parse_listing_page(body)


def test_an_empty_next_link_means_the_last_page() -> None:
    assert parse_listing_page({"value": [], "nextLink": ""}) == ([], None)


# ---- the fake as a separate process (how the demo runs it) ---------------------------------------------


def test_fake_arm_runs_as_a_script_serving_a_listing_file_and_stops_on_sigterm(tmp_path: Path) -> None:
    listing = tmp_path / "listing.json"
    listing.write_text(json.dumps({SUB: vms(3)}), encoding="utf-8")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devtools.fake_arm",
            "--port",
            "0",
            "--listing",
            str(listing),
            "--page-size",
            "2",
        ],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        with fast_client(url) as client:
            first = read_all(client)
            listing.write_text(json.dumps({SUB: vms(1)}), encoding="utf-8")
            second = read_all(client)
    finally:
        process.terminate()
        returncode = process.wait(timeout=30)

    assert [len(page) for page in first] == [2, 1]
    assert [len(page) for page in second] == [1]
    assert returncode == 0
