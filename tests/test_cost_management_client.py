"""The Cost Management Query client: the published answer read by column name, paging by ``nextLink`` (the
same body POSTed again), the 429's Cost Management retry-after headers, and links that leave the endpoint;
against the loopback fake ARM's Cost Management and the published spec examples."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from devtools.fake_arm import BillLine, FakeArm
from shared.domain.actuals import BillRow, CostType
from shared.sources import CostManagementClient, ListingError
from shared.sources.bill_rows import parse_query_page
from shared.sources.cost_management import throttle_wait
from tests.test_arm_client import SleepRecordingTransport

PUBLISHED = Path(__file__).parent / "data" / "published" / "cost_management"
SUB = "6f1d3c2a-8b4e-4f7a-9c2d-1e5b7a9c3d40"
VM = f"/subscriptions/{SUB}/resourceGroups/RG/providers/Microsoft.Compute/virtualMachines/vm-{{:03d}}"


def published_body(name: str) -> Any:
    return json.loads((PUBLISHED / name).read_text(encoding="utf-8"))["responses"]["200"]["body"]


def lines(count: int, day: date = date(2026, 12, 1)) -> list[BillLine]:
    return [BillLine(VM.format(index), "Virtual Machines", day, 0.5 + index, 24.0) for index in range(count)]


@pytest.fixture
def fake() -> Iterator[FakeArm]:
    with FakeArm({}) as server:
        yield server


def client_for(fake: FakeArm, **kwargs: Any) -> CostManagementClient:
    kwargs.setdefault("retry_backoff_factor", 0)
    return CostManagementClient(fake.url, **kwargs)


def test_a_page_is_read_by_column_name_whatever_the_column_order() -> None:
    body = published_body("SubscriptionQuery.json")
    props = body["properties"]
    # The published daily example, its ResourceGroup column renamed to the ResourceId this client groups by.
    props["columns"][1]["name"] = "ResourceId"
    rows, link = parse_query_page(body)
    assert link is None
    assert rows[0] == BillRow(
        "screensharingtest-peer", "", date(2018, 3, 31), Decimal("2.10333307059661"), 0.0, "USD"
    )
    assert [row.day for row in rows] == [
        date(2018, 3, 31),
        date(2018, 3, 31),
        date(2018, 4, 1),
        date(2018, 4, 29),
    ]
    props["columns"].reverse()
    props["rows"] = [list(reversed(row)) for row in props["rows"]]
    assert parse_query_page(body)[0] == rows


def test_a_page_without_the_columns_it_needs_is_malformed() -> None:
    # Both published examples group by ResourceGroup: no ResourceId column, nothing to match a VM by.
    for name in ("SubscriptionQuery.json", "SubscriptionQueryGrouping.json"):
        with pytest.raises(ValueError, match="resourceid"):
            parse_query_page(published_body(name))


def test_unreadable_rows_are_skipped_not_read_as_zero() -> None:
    body = published_body("SubscriptionQuery.json")
    body["properties"]["columns"][1]["name"] = "ResourceId"
    body["properties"]["rows"][0][2] = 20181399  # no such day
    body["properties"]["rows"][1][0] = "NaN"
    rows, _ = parse_query_page(body)
    assert len(rows) == 2


def test_every_page_is_read_by_posting_the_same_body_to_the_next_link(fake: FakeArm) -> None:
    fake.costs.page_rows = 40
    fake.costs.set_bill(SUB, "ActualCost", lines(100))
    client = client_for(fake)
    rows = list(client.daily_costs(SUB, CostType.ACTUAL, date(2026, 12, 1), date(2026, 12, 31)))
    assert len(rows) == 100 and client.requests_sent == 3
    assert {row.resource_id for row in rows} == {VM.format(index).lower() for index in range(100)}
    bodies = fake.costs.received
    assert len(bodies) == 3 and all(body == bodies[0] for body in bodies)
    assert bodies[0]["type"] == "ActualCost" and bodies[0]["dataset"]["granularity"] == "Daily"
    assert bodies[0]["timePeriod"] == {"from": "2026-12-01T00:00:00Z", "to": "2026-12-31T23:59:59Z"}
    assert [group["name"] for group in bodies[0]["dataset"]["grouping"]] == ["ResourceId", "MeterCategory"]
    assert bodies[0]["dataset"]["filter"] == {
        "dimensions": {
            "name": "MeterCategory",
            "operator": "In",
            "values": ["Virtual Machines", "Virtual Machines Licenses", "Storage", "Virtual Network"],
        }
    }
    posts = [request for request in fake.requests if request.method == "POST"]
    assert [request.query.get("$skiptoken") for request in posts] == [None, "40", "80"]
    assert all(request.query["api-version"] == "2025-03-01" for request in posts)


def test_a_429_waits_for_the_longest_cost_management_retry_after(fake: FakeArm) -> None:
    fake.costs.set_bill(SUB, "AmortizedCost", lines(3))
    fake.costs.throttle, fake.costs.throttle_seconds = 2, (2.0, 7.0, 3.0)
    transport = SleepRecordingTransport()
    client = client_for(fake, transport=transport)
    rows = list(client.daily_costs(SUB, CostType.AMORTIZED, date(2026, 12, 1), date(2026, 12, 31)))
    assert len(rows) == 3 and fake.costs.throttled == 2
    assert transport.sleeps == [7.0, 7.0]


def test_a_429_asking_more_than_the_cap_fails_the_query_as_incomplete(fake: FakeArm) -> None:
    fake.costs.set_bill(SUB, "ActualCost", lines(3))
    fake.costs.throttle, fake.costs.throttle_seconds = 1, (600.0, 0.0, 0.0)
    client = client_for(fake, transport=SleepRecordingTransport(), max_retry_wait=30)
    with pytest.raises(ListingError) as failure:
        list(client.daily_costs(SUB, CostType.ACTUAL, date(2026, 12, 1), date(2026, 12, 31)))
    assert failure.value.status_code == 429


def test_the_throttle_wait_reads_only_a_429s_headers() -> None:
    class Answer:
        def __init__(self, status: int, headers: dict[str, str]) -> None:
            self.status_code, self.headers = status, headers

    qpu = "x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after"
    assert throttle_wait(Answer(429, {qpu: "12"})) == 12.0
    assert throttle_wait(Answer(429, {qpu: "soon"})) is None
    assert throttle_wait(Answer(503, {qpu: "12"})) is None


def test_a_next_link_off_the_endpoint_is_refused(fake: FakeArm, monkeypatch: pytest.MonkeyPatch) -> None:
    import devtools.fake_arm.cost_management as fake_costs

    real = fake_costs.answer

    def elsewhere(*args: Any) -> tuple[int, dict[str, Any]]:
        status, body = real(*args)
        body["properties"]["nextLink"] = "https://attacker.example/next"
        return status, body

    monkeypatch.setattr(fake_costs, "answer", elsewhere)
    fake.costs.set_bill(SUB, "ActualCost", lines(3))
    client = client_for(fake)
    with pytest.raises(ListingError, match="outside the endpoint"):
        list(client.daily_costs(SUB, CostType.ACTUAL, date(2026, 12, 1), date(2026, 12, 31)))
