"""The Resource Graph client: the published request and answer shapes, paging by ``$skipToken``, batches of
subscriptions, the quota headers and 429s, and a management group's subscriptions; against the loopback fake
ARM's Resource Graph and against the published spec examples."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools.fake_arm import FakeArm, Faults, make_instance, make_row, make_scale_set, make_vm
from shared.sources import ListedVm, ListingError, ResourceGraphClient, parse_graph_page
from shared.sources.graph_rows import INSTANCE_QUERY, VM_QUERY, resets_after_seconds
from tests.test_arm_client import FakeCredential, SleepRecordingTransport, canned_transport

PUBLISHED = Path(__file__).parent / "data" / "published" / "resource_graph"
SUB = "6f1d3c2a-8b4e-4f7a-9c2d-1e5b7a9c3d40"
OTHER_SUB = "0b9e2f4c-3a1d-4c8e-b7f6-5d2a9e1c8b37"


def published(name: str) -> dict[str, Any]:
    example: dict[str, Any] = json.loads((PUBLISHED / name).read_text(encoding="utf-8"))
    return example


def client_for(url: str, **kwargs: Any) -> ResourceGraphClient:
    kwargs.setdefault("retry_total", 3)
    kwargs.setdefault("retry_backoff_factor", 0)
    kwargs.setdefault("sleep", lambda seconds: None)
    return ResourceGraphClient(url, **kwargs)


def swept(client: ResourceGraphClient, subs: list[str]) -> list[ListedVm]:
    return [vm for page in client.iter_fleet_pages(subs) for vm in page]


class SleepingTransport(SleepRecordingTransport):
    """Records each retry wait and really waits it: the fake's quota window is real time."""

    def sleep(self, duration: float) -> None:
        super().sleep(duration)
        time.sleep(duration)


@pytest.fixture
def fake() -> Iterator[FakeArm]:
    vms = [make_vm(SUB, "rg", f"vm-{index:04d}", power="running") for index in range(2_500)]
    scale_set = make_scale_set(OTHER_SUB, "rg", "pool")
    instances = [make_instance(scale_set, str(index), power="deallocated") for index in range(3)]
    with FakeArm(
        {SUB: vms, OTHER_SUB: [make_vm(OTHER_SUB, "rg", "solo", power="stopped")]},
        scale_sets={OTHER_SUB: [{"scaleSet": scale_set, "instances": instances}]},
    ) as server:
        server.graph.quota = 1_000
        yield server


def test_the_published_pages_parse_as_rows_with_their_skip_token_and_total() -> None:
    page = parse_graph_page(published("ResourcesFirstPageQuery.json")["responses"]["200"]["body"])
    assert (len(page.rows), page.total_records) == (3, 386)
    assert page.skip_token == "eyAibm8iOiAibHVjayIsICJidXQiOiAibmljZSIsICJ0cnkiOiAiISIgfQ=="
    last = published("ResourcesMgBasicQuery.json")["responses"]["200"]["body"]
    assert parse_graph_page(last).skip_token is None


@pytest.mark.parametrize(
    "body",
    [
        {"totalRecords": 1, "count": 1, "resultTruncated": "false", "data": {"columns": [], "rows": []}},
        {"totalRecords": 9, "count": 1, "resultTruncated": "true", "data": [{"id": "/subscriptions/x"}]},
        {"value": []},
        [],
    ],
    ids=["table-format", "truncated-without-token", "not-a-graph-answer", "not-an-object"],
)
def test_an_answer_of_another_shape_is_refused_rather_than_read_as_empty(body: Any) -> None:
    with pytest.raises(ValueError):
        parse_graph_page(body)


def test_the_next_page_is_the_same_query_with_the_published_skip_token_and_the_token_is_sent() -> None:
    first = published("ResourcesFirstPageQuery.json")["responses"]["200"]["body"]
    following = published("ResourcesNextPageQuery.json")["responses"]["200"]["body"]
    last = {**following, "data": [], "count": 0}
    del last["$skipToken"]
    # The instance query's one (empty) page follows the VM query's three.
    transport, adapter = canned_transport(first, following, last, last)
    credential = FakeCredential()
    client = ResourceGraphClient("https://management.azure.com", credential, transport=transport)
    rows = swept(client, [SUB])
    bodies = [json.loads(request.body or b"{}") for request in adapter.sent]
    assert adapter.sent[0].url == (
        "https://management.azure.com/providers/Microsoft.ResourceGraph/resources?api-version=2024-04-01"
    )
    assert adapter.sent[0].method == "POST"
    assert bodies[0] == {
        "subscriptions": [SUB],
        "query": VM_QUERY,
        "options": {"resultFormat": "objectArray", "$top": 1000},
    }
    assert bodies[1]["options"]["$skipToken"] == first["$skipToken"]
    assert bodies[2]["options"]["$skipToken"] == following["$skipToken"]
    assert credential.scopes[0] == ("https://management.azure.com/.default",)
    assert [vm.resource_id for vm in rows][:1] == [first["data"][0]["id"]]
    assert client.queries_sent == 4
    assert bodies[3]["query"] == INSTANCE_QUERY


def test_a_sweep_reads_vms_then_uniform_instances_in_pages_of_a_thousand(fake: FakeArm) -> None:
    client = client_for(fake.url)
    listed = swept(client, [SUB, OTHER_SUB])
    by_id = {vm.resource_id.lower(): vm for vm in listed}
    assert len(listed) == 2_504
    assert by_id[make_vm(OTHER_SUB, "rg", "solo")["id"].lower()].power_state == "stopped"
    instance = f"{make_scale_set(OTHER_SUB, 'rg', 'pool')['id']}/virtualMachines/2".lower()
    assert (by_id[instance].power_state, by_id[instance].provisioning_state) == ("deallocated", "Succeeded")
    queries = [(body["query"], body["options"].get("$skipToken") is not None) for body in fake.graph.received]
    assert queries == [(VM_QUERY, False), (VM_QUERY, True), (VM_QUERY, True), (INSTANCE_QUERY, False)]
    assert all(body["subscriptions"] == [SUB, OTHER_SUB] for body in fake.graph.received)
    assert not any(request.method == "GET" for request in fake.requests)


def test_one_query_covers_at_most_a_hundred_subscriptions(fake: FakeArm) -> None:
    subs = [f"00000000-0000-0000-0000-{index:012d}" for index in range(101)]
    with pytest.raises(ValueError, match="1 to 100"):
        swept(client_for(fake.url), subs)


@pytest.mark.slow
def test_with_no_query_left_the_client_waits_for_the_quota_to_reset_and_is_never_throttled(
    fake: FakeArm,
) -> None:
    fake.graph.quota, fake.graph.window = 2, 1.0
    waits: list[float] = []

    def wait(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    client = client_for(fake.url, sleep=wait)
    assert len(swept(client, [SUB, OTHER_SUB])) == 2_504
    assert fake.graph.throttled == 0
    assert waits and all(0 < wait <= 1.0 for wait in waits)
    assert client.quota is not None and client.quota.remaining is not None


@pytest.mark.slow
def test_a_429_without_retry_after_is_retried_when_the_quota_header_says_it_resets(fake: FakeArm) -> None:
    fake.graph.quota, fake.graph.window = 1, 1.0
    transport = SleepingTransport()
    # The client's own wait is skipped, so its second query is throttled; the pipeline then waits.
    client = client_for(fake.url, transport=transport)
    pages = list(client.iter_fleet_pages([OTHER_SUB]))
    assert fake.graph.throttled >= 1
    assert transport.sleeps and all(wait == 1.0 for wait in transport.sleeps)
    assert sum(len(page) for page in pages) >= 1


def test_throttling_that_outlasts_the_retries_fails_the_sweep_with_429(fake: FakeArm) -> None:
    fake.faults = Faults(throttle_first=100, retry_after="0")
    with pytest.raises(ListingError) as failure:
        swept(client_for(fake.url), [SUB])
    assert failure.value.status_code == 429


def test_a_lagging_row_is_served_as_resource_graph_has_it(fake: FakeArm) -> None:
    vm = make_vm(SUB, "rg", "vm-0001")["id"]
    fake.graph.rows[vm.lower()] = make_row(vm, "deallocated")
    fake.graph.rows[make_vm(SUB, "rg", "vm-0002")["id"].lower()] = None
    listed = {item.resource_id: item for item in swept(client_for(fake.url), [SUB])}
    assert listed[vm].power_state == "deallocated"
    assert make_vm(SUB, "rg", "vm-0002")["id"] not in listed


def test_the_enabled_subscriptions_under_a_management_group_are_asked_at_its_scope(fake: FakeArm) -> None:
    fake.graph.management_groups["mg-prod"] = [
        {"subscriptionId": OTHER_SUB.upper()},
        {"subscriptionId": SUB, "state": "Disabled"},
        {"subscriptionId": "11111111-2222-3333-4444-555555555555", "state": "Enabled"},
    ]
    found = client_for(fake.url).list_subscriptions_under("mg-prod")
    assert found == sorted([OTHER_SUB, "11111111-2222-3333-4444-555555555555"])
    assert fake.graph.received[-1]["managementGroups"] == ["mg-prod"]
    assert "subscriptions" not in fake.graph.received[-1]


def test_quota_reset_times_read_as_seconds() -> None:
    assert resets_after_seconds("00:00:03") == 3.0
    assert resets_after_seconds("01:02:03") == 3723.0
    assert resets_after_seconds("soon") is None


def test_a_management_group_cut_at_ten_thousand_subscriptions_is_logged_not_hidden(
    fake: FakeArm, caplog: pytest.LogCaptureFixture
) -> None:
    fake.graph.management_groups["mg-huge"] = [{"subscriptionId": OTHER_SUB}]
    fake.graph.subscription_limit_hit = True
    client = client_for(fake.url)
    assert client.list_subscriptions_under("mg-huge") == [OTHER_SUB]
    assert client.subscription_limit_hit
    assert "only the first 10,000 subscriptions under mg-huge" in caplog.text
