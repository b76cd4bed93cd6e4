"""Fixtures that drive the real function app: a VM's sample day, events delivered through ``on_vm_event``
and the queue function, and HTTP calls with a real ``func.HttpRequest``. The events themselves are built
by ``devtools.events``."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import azure.functions as func

from devtools.events import at, wire_event
from devtools.queue_host import QueueSettings, QueueTrigger
from devtools.worker import event_grid_argument

ROOT = Path(__file__).resolve().parent.parent


def sample_day(resource_id: str) -> list[dict[str, Any]]:
    """A VM's day: created 08:00, powered off 10:00 (still billed), deallocated 11:00, started 13:00,
    hibernated 15:00. Billed 5 hours."""
    return [
        wire_event("write", at(hours=8), resource_id=resource_id),
        wire_event("powerOff", at(hours=10), resource_id=resource_id),
        wire_event("deallocate", at(hours=11), resource_id=resource_id),
        wire_event("start", at(hours=13), resource_id=resource_id),
        wire_event("deallocate", at(hours=15), resource_id=resource_id, url_query="&hibernate=true"),
    ]


def deliver(*events: dict[str, Any]) -> None:
    """Hand each event to the real ``on_vm_event`` as the worker would, then let the real
    ``record_scale_set_event`` take what it queued (a scale-set-level event) before the next one."""
    import function_app

    for wire in events:
        function_app.on_vm_event(event_grid_argument(wire))
        run_queued()


def run_queued(*, retry_after: float = 0.0) -> list:
    """Run the queue function on the app's work queue until it is empty, as the host would (see
    ``devtools.queue_host``), with host.json's retry count and poison queue but ``retry_after`` seconds
    between tries instead of host.json's ``visibilityTimeout``."""
    import function_app
    from shared.settings import read_settings

    app_settings = read_settings()
    assert app_settings.storage.connection_string, "tests run the queue function on Azurite"
    host = dataclasses.replace(QueueSettings.from_host_json(), visibility_timeout=retry_after)
    trigger = QueueTrigger(
        function_app.record_scale_set_event,
        app_settings.storage.connection_string,
        app_settings.queue_name,
        host,
    )
    return trigger.drain()


def http_get(fn, path: str, route: dict[str, str] | None = None, **params: str) -> func.HttpResponse:
    """Call an HTTP function with a real ``func.HttpRequest`` for ``/api/<path>``."""
    request = func.HttpRequest(
        "GET", "http://localhost:7071/api/" + path, body=b"", params=params, route_params=route or {}
    )
    return fn(request)


def digest_in_test_http() -> dict[str, Any]:
    """The daily digest ``test.http`` posts to the loopback topic, as a CloudEvent."""
    text = (ROOT / "test.http").read_text(encoding="utf-8")
    block = text[text.index("VmLedger.DailyDigest) as the timer publishes it") :]
    [event] = json.loads(block[block.index("\n[") : block.index("\n]\n") + 2])
    return event


def shape_differences(example: Any, actual: Any, path: str = "data") -> list[str]:
    """Where ``actual`` is not shaped as ``example``: the keys of every object, and the first item of every
    list both have (a value that is a number in one and ``null`` in the other is the same shape)."""
    if isinstance(example, dict) and isinstance(actual, dict):
        if set(example) != set(actual):
            return [f"{path}: {sorted(set(example) ^ set(actual))}"]
        return [d for key in example for d in shape_differences(example[key], actual[key], f"{path}.{key}")]
    if isinstance(example, list) and isinstance(actual, list):
        return shape_differences(example[0], actual[0], f"{path}[0]") if example and actual else []
    if isinstance(example, dict | list) or isinstance(actual, dict | list):
        return [f"{path}: {type(example).__name__} in the example, {type(actual).__name__} sent"]
    return []


@contextlib.contextmanager
def loopback_findings_topic(monkeypatch: Any, key: str) -> Iterator[Any]:
    """A loopback findings topic (``devtools.fake_topic``) the app's settings point at, with ``key``."""
    from devtools.fake_topic import FakeTopic
    from shared import context, settings

    with FakeTopic(key) as fake:
        monkeypatch.setenv(settings.FINDINGS_TOPIC_ENDPOINT, fake.endpoint)
        monkeypatch.setenv(settings.FINDINGS_TOPIC_KEY, key)
        context.reset()
        yield fake
        context.reset()
