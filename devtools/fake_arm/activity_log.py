"""Activity Log records in the published shape (azure-rest-api-specs ``GetActivityLogsFiltered.json``):
one record, or the records of one operation."""

from __future__ import annotations

import copy
import functools
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from devtools.published import PUBLISHED

PUBLISHED_ACTIVITY_LOG = PUBLISHED / "activity_log" / "GetActivityLogsFiltered.json"


def activity_record(
    resource_id: str,
    operation: str,
    status: str,
    when: datetime,
    *,
    correlation_id: str,
    operation_id: str,
    event_data_id: str,
    uri_query: str = "",
) -> dict[str, Any]:
    """One Activity Log record in the published shape (azure-rest-api-specs GetActivityLogsFiltered.json):
    the example's record, caller and claims included, pointed at ``resource_id`` and ``operation``."""
    record = copy.deepcopy(_published_record())
    subscription = resource_id.split("/")[2]
    group = resource_id.split("/")[4]
    stamp = when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"
    action = operation.rsplit("/", 2)
    method = "POST" if action[-1].lower() == "action" else ("DELETE" if action[-1] == "delete" else "PUT")
    path = f"{resource_id}/{action[-2]}" if method == "POST" else resource_id
    record.update(
        authorization={**record["authorization"], "action": operation, "scope": resource_id},
        correlationId=correlation_id,
        eventDataId=event_data_id,
        eventName={"value": "BeginRequest" if status == "Started" else "EndRequest",
                   "localizedValue": "Begin request" if status == "Started" else "End request"},
        httpRequest={**record["httpRequest"], "method": method,
                     "uri": f"https://management.azure.com{path}?api-version=2024-07-01{uri_query}"},
        id=f"{resource_id}/events/{event_data_id}/ticks/{int(when.timestamp() * 10**7) + 621355968000000000}",
        resourceGroupName=group,
        resourceProviderName={"value": "Microsoft.Compute", "localizedValue": "Microsoft.Compute"},
        operationId=operation_id,
        operationName={"value": operation, "localizedValue": operation},
        status={"value": status, "localizedValue": status},
        subStatus={"value": {"Started": "", "Accepted": "Accepted"}.get(status, "OK"), "localizedValue": ""},
        eventTimestamp=stamp,
        submissionTimestamp=stamp,
        subscriptionId=subscription,
        resourceId=resource_id,
    )  # fmt: skip
    return record


def operation_records(
    resource_id: str, operation: str, ended: datetime, *, seed: str, status: str = "Succeeded",
    took: timedelta = timedelta(seconds=40), uri_query: str = "", correlation_id: str | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """One operation as the Activity Log shows it: ``Started``, ``Accepted`` (actions), then the final
    record at ``ended``; one ``operationId`` and ``correlationId``, an ``eventDataId`` each."""
    ids = {name: str(uuid.uuid5(_ACTIVITY_NAMESPACE, f"{seed}/{name}")) for name in ("c", "o", "1", "2", "3")}
    common = {"correlation_id": correlation_id or ids["c"], "operation_id": ids["o"], "uri_query": uri_query}
    started = ended - took
    records = [activity_record(resource_id, operation, "Started", started, event_data_id=ids["1"], **common)]
    if operation.lower().endswith("/action"):
        accepted = started + timedelta(seconds=1)
        records.append(
            activity_record(resource_id, operation, "Accepted", accepted, event_data_id=ids["2"], **common)
        )
    records.append(activity_record(resource_id, operation, status, ended, event_data_id=ids["3"], **common))
    return records


_ACTIVITY_NAMESPACE = uuid.UUID("6a0c1e3f-2b4d-4f6a-8c9e-0b1d2f3a4c5e")


@functools.cache
def _published_record() -> dict[str, Any]:
    body = json.loads(PUBLISHED_ACTIVITY_LOG.read_text(encoding="utf-8"))
    record: dict[str, Any] = body["responses"]["200"]["body"]["value"][0]
    return record
