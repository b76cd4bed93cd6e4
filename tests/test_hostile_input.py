"""Property-based tests: broken and hostile input never crashes the app, never writes, never shapes a filter.

Events are built from a valid event of either schema, then broken in at least one way that must make
the ledger skip it (the id, the type, the time, the data, the operation, the resource id, or a verb that
does not match its operation) and filled with hostile noise where the ledger does not look (claims, the
request URL, extra fields): huge strings, quotes, ``#``, ``?``, ``/``, control characters, unicode, wrong
types. HTTP requests get route parts and parameters of the same kind. The app runs against a real Azurite
behind ``devtools.faultproxy``, which sees every request the app sends: a malformed event must send no write,
and every filter the app sends must be one of its own templates with the input only inside quoted values.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import azure.functions as func
import pytest
from azure.eventgrid import SystemEventNames
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import function_app
from devtools.azurite import Azurite
from devtools.events import (
    ACTION_FAILED,
    ACTION_OK,
    DELETE_OK,
    SUB,
    WRITE_FAILED,
    WRITE_OK,
    at,
    vm_id,
    wire_event,
)
from devtools.faultproxy import WRITE_KINDS, FaultProxy
from devtools.worker import event_grid_argument
from shared import context
from shared import settings as app_settings
from shared.domain.ids import parse_vm_id
from shared.store._keys import transitions_prefix

pytestmark = [pytest.mark.faults, pytest.mark.azurite]

# Hypothesis: modest example counts (the whole fault suite must stay well under three minutes on two
# cores), no per-example deadline (storage round trips on a noisy machine), the module fixture is shared.
EXAMPLES = settings(
    max_examples=120,
    deadline=None,
    database=None,  # no .hypothesis/ directory in the work tree; failures print their example anyway
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

SEEDED = vm_id("web-01", "rg-app")
SEEDED_PARTS = {"subscriptionId": SUB, "resourceGroup": "rg-app", "vmName": "web-01"}
SEEDED_DAY = (("write", 8), ("powerOff", 10), ("deallocate", 11), ("start", 13), ("deallocate", 15))
SEEDED_FIRST = at(hours=8)
KNOWN_TYPES = {name.value.lower() for name in SystemEventNames}
VM_OPERATION_PREFIX = "microsoft.compute/virtualmachines/"

# ---- strategies -------------------------------------------------------------------------------------------

FRAGMENTS = (
    "'", "''", '"', "#", "?", "/", "\\", "%", "%27", "%2F", "&", "=", "|", "vm|", "tx|", "(", ")", "*",
    "\x00", "\x01", "\x1f", "\x7f", "\n", "\r\n", "\t", " ", "\u2028", "\ufeff", "\u202e", "é", "中文", "𝐀",
    "' or PartitionKey ne '", "') or true or ('", " and RowKey gt ''", "$filter=", "<script>", "../", "~",
    "{", "}", "[", "]", "null", "true", "1e309", "-0", "NaN",
)  # fmt: skip
# Characters that never appear in the app's own error messages: finding one there means an echo.
ECHO_MARKERS = re.compile(r"[#?<>\\%&|\x00-\x1f\x7f\u2028\ufeff\u202e\u4e2d𝐀]")

hostile_text = st.one_of(
    st.text(max_size=30),
    st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=4), min_size=1, max_size=8).map("".join),
    st.builds(
        lambda piece, count: piece * count,
        st.sampled_from(["a", "'", "#", "é", "9", "%", "\x00", "𝐀"]),
        st.integers(300, 70_000),
    ),
)
wrong_types = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)
ABSENT = object()


@st.composite
def broken_vm_ids(draw: st.DrawFn) -> Any:
    """Resource ids that are not a VM: a forbidden character inside a part, a child, another type."""
    parts = {"sub": SUB, "group": "rg-app", "name": "web-01"}
    part = draw(st.sampled_from(sorted(parts)))
    bad = draw(
        st.lists(st.sampled_from([c for c in FRAGMENTS if not re.fullmatch(r"[-\w.()]+", c)]), min_size=1)
    )
    value = parts[part]
    cut = draw(st.integers(1, len(value) - 1))
    parts[part] = value[:cut] + "".join(bad) + value[cut:]
    broken = vm_id(parts["name"], parts["group"], parts["sub"])
    return draw(
        st.sampled_from(
            [
                broken,
                vm_id() + "/extensions/" + draw(hostile_text),
                vm_id().replace("virtualMachines", "virtualMachineScaleSets"),
                vm_id().replace("Microsoft.Compute", "Microsoft.Storage"),
                vm_id()[: draw(st.integers(0, len(vm_id()) - 12))],
            ]
        )
    )


@st.composite
def not_json_objects(draw: st.DrawFn) -> str:
    text = draw(hostile_text)
    try:
        parsed = json.loads(text)
    except ValueError:
        return text
    return text if not isinstance(parsed, dict) else "[" + text


def _unknown_type(text: str) -> bool:
    return text.lower() not in KNOWN_TYPES


def _not_a_vm_operation(value: Any) -> bool:
    return not isinstance(value, str) or not value.strip().lower().startswith(VM_OPERATION_PREFIX)


DEFECTS: dict[str, Callable[[st.DrawFn, dict[str, Any], dict[str, str]], None]] = {}


def defect(name: str):
    def register(function):
        DEFECTS[name] = function
        return function

    return register


@defect("id")
def _break_id(draw: st.DrawFn, wire: dict[str, Any], fields: dict[str, str]) -> None:
    wire[fields["id"]] = draw(
        st.one_of(
            st.just(ABSENT),
            wrong_types,
            st.just(""),
            st.integers(257, 70_000).map(lambda length: "'#?/" * (length // 4 + 1)),
        )
    )


@defect("type")
def _break_type(draw: st.DrawFn, wire: dict[str, Any], fields: dict[str, str]) -> None:
    wire[fields["type"]] = draw(st.one_of(st.just(ABSENT), wrong_types, hostile_text.filter(_unknown_type)))


@defect("time")
def _break_time(draw: st.DrawFn, wire: dict[str, Any], fields: dict[str, str]) -> None:
    # Only what the Functions worker can decode: a time it cannot parse never reaches the function.
    wire[fields["time"]] = draw(st.sampled_from([ABSENT, None, ""]))


@defect("operation")
def _break_operation(draw: st.DrawFn, wire: dict[str, Any], fields: dict[str, str]) -> None:
    wire["data"]["operationName"] = draw(
        st.one_of(
            st.just(ABSENT),
            wrong_types,
            st.sampled_from(["", "   ", "Microsoft.Compute/virtualMachines/", "Microsoft.Storage/write"]),
            hostile_text.filter(_not_a_vm_operation),
        )
    )


@defect("resource")
def _break_resource(draw: st.DrawFn, wire: dict[str, Any], fields: dict[str, str]) -> None:
    wire["data"]["resourceUri"] = draw(st.one_of(broken_vm_ids(), wrong_types, st.just("")))
    wire["subject"] = draw(st.one_of(broken_vm_ids(), st.just(ABSENT), wrong_types))


@defect("verb")
def _break_verb(draw: st.DrawFn, wire: dict[str, Any], fields: dict[str, str]) -> None:
    event_type, operation = draw(
        st.sampled_from(
            [
                (WRITE_OK, "Microsoft.Compute/virtualMachines/start/action"),
                (WRITE_FAILED, "Microsoft.Compute/virtualMachines/delete"),
                (WRITE_OK, "Microsoft.Compute/virtualMachines/extensions/write"),
                (ACTION_OK, "Microsoft.Compute/virtualMachines/write"),
                (ACTION_FAILED, "Microsoft.Compute/virtualMachines/delete"),
                (DELETE_OK, "Microsoft.Compute/virtualMachines/deallocate/action"),
            ]
        )
    )
    wire[fields["type"]] = draw(st.sampled_from([event_type, event_type.upper(), event_type.lower()]))
    wire["data"]["operationName"] = operation


@defect("data")
def _break_data(draw: st.DrawFn, wire: dict[str, Any], fields: dict[str, str]) -> None:
    wire["data"] = draw(
        st.one_of(st.just(ABSENT), wrong_types.filter(lambda v: not isinstance(v, dict)), not_json_objects())
    )


def _add_noise(draw: st.DrawFn, wire: dict[str, Any]) -> None:
    """Hostile values where the ledger does not look; none of them can make a broken event valid."""
    data = wire.get("data")
    if isinstance(data, dict):
        for name in draw(st.sets(st.sampled_from(["claims", "authorization", "correlationId", "status"]))):
            data[name] = draw(st.one_of(hostile_text, wrong_types))
        if draw(st.booleans()):
            data["httpRequest"] = draw(
                st.one_of(
                    wrong_types,
                    hostile_text,
                    st.builds(lambda url: {"url": url}, hostile_text),
                    st.builds(lambda url: json.dumps({"url": url}), hostile_text),
                )
            )
        if draw(st.booleans()):
            wire["data"] = json.dumps(_without_absent(data))  # some fields arrive as JSON text
    for name in draw(st.sets(st.sampled_from(["topic", "source", "dataVersion", "x-extra"]))):
        wire[name] = draw(st.one_of(hostile_text, wrong_types))


def _fields(schema: str) -> dict[str, str]:
    if schema == "CloudEvents":
        return {"id": "id", "type": "type", "time": "time"}
    return {"id": "id", "type": "eventType", "time": "eventTime"}


@st.composite
def broken_events(draw: st.DrawFn) -> tuple[dict[str, Any], list[str]]:
    """A wire event of either schema with at least one defect that must make the ledger skip it."""
    schema = draw(st.sampled_from(["EventGrid", "CloudEvents"]))
    verb = draw(st.sampled_from(["write", "start", "deallocate", "powerOff", "delete", "restart"]))
    event_id = str(draw(st.uuids()))
    wire = wire_event(
        verb, at(hours=draw(st.integers(0, 48))), resource_id=SEEDED, schema=schema, event_id=event_id
    )
    fields = _fields(schema)
    # ``data`` last: the other defects edit the data object, this one replaces it.
    names = draw(st.lists(st.sampled_from(sorted(DEFECTS)), min_size=1, max_size=3, unique=True))
    names.sort(key=lambda name: name == "data")
    for name in names:
        DEFECTS[name](draw, wire, fields)
    _add_noise(draw, wire)
    return _without_absent(wire), names


def _without_absent(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_absent(item) for key, item in value.items() if item is not ABSENT}
    return value


# ---- fixtures ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def proxy(azurite: Azurite) -> Iterator[FaultProxy]:
    """The app, pointed through the proxy at a table of this module's own with one VM's day in it."""
    with (
        FaultProxy(azurite.port, queue_port=azurite.queue_port) as server,
        pytest.MonkeyPatch.context() as patch,
    ):
        for name in (app_settings.STORAGE_SERVICE_URI, app_settings.BILLED_POWER_STATES):
            patch.delenv(name, raising=False)
        patch.setenv(app_settings.STORAGE_CONNECTION, server.connection_string)
        patch.setenv(app_settings.TABLE_NAME, "hostile" + uuid.uuid4().hex[:16])
        _reset_process_state()
        for verb, hour in SEEDED_DAY:
            function_app.on_vm_event(
                event_grid_argument(wire_event(verb, at(hours=hour), resource_id=SEEDED))
            )
        yield server
    _reset_process_state()


def _reset_process_state() -> None:
    context.reset()


# ---- events -----------------------------------------------------------------------------------------------


@EXAMPLES
@given(case=broken_events())
def test_a_broken_or_hostile_event_never_raises_and_never_writes(proxy, case):
    wire, defects = case
    # What the worker hands over; the generator only makes decodable payloads.
    event = event_grid_argument(wire)
    proxy.reset_counts()
    function_app.on_vm_event(event)
    writes = [request for request in proxy.seen if request.kind in WRITE_KINDS]
    assert not writes, f"an event broken by {defects} was written: {writes[:2]}"


valid_names = st.text(
    alphabet=st.characters(categories=["Lu", "Ll", "Lo", "Nd"]) | st.sampled_from("-_."),
    min_size=1,
    max_size=64,
)


@settings(EXAMPLES, max_examples=40)
@given(
    event_id=st.one_of(
        st.text(min_size=1, max_size=256),
        st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=20).map(lambda parts: "".join(parts)[:256]),
    ),
    name=valid_names,
    schema=st.sampled_from(["EventGrid", "CloudEvents"]),
    noise=st.data(),
)
def test_an_event_with_a_hostile_id_or_payload_is_recorded_exactly_once(proxy, event_id, name, schema, noise):
    resource_id = vm_id(name, "rg-" + uuid.uuid4().hex[:12])
    wire = wire_event("start", at(hours=1), resource_id=resource_id, event_id=event_id, schema=schema)
    _add_noise(noise.draw, wire)
    for _ in range(2):  # a redelivery must not add a second row
        function_app.on_vm_event(event_grid_argument(wire))
    vm = parse_vm_id(resource_id)
    rows = list(context.get_ledger().iter_transitions(vm))
    assert [row.evidence.id for row in rows] == [event_id]
    assert rows[0].key.startswith(transitions_prefix(vm))


# ---- HTTP -------------------------------------------------------------------------------------------------

HTTP_FUNCTIONS = {
    "get_vm": function_app.get_vm,
    "list_vm_transitions": function_app.list_vm_transitions,
    "list_vms": function_app.list_vms,
    "list_vm_timelines": function_app.list_vm_timelines,
    "list_costs": function_app.list_costs,
    "vm_timeline_page": function_app.vm_timeline_page,
}
_QUOTED = r"'(?:[^']|'')*'"
FILTER_TEMPLATES = (
    re.compile(
        rf"PartitionKey eq {_QUOTED} and RowKey (?:ge|gt) {_QUOTED} and RowKey lt {_QUOTED}", re.DOTALL
    ),
    re.compile(rf"PartitionKey eq {_QUOTED}", re.DOTALL),
    # The stored actuals of a subscription's months (shared/store/actuals.py).
    re.compile(
        rf"PartitionKey eq {_QUOTED} and billMonth ge {_QUOTED} and billMonth le {_QUOTED}", re.DOTALL
    ),
    # The stored actuals of a page of VMs' keys and months (/vms and /timelines, shared/store/actuals.py).
    re.compile(
        rf"PartitionKey eq {_QUOTED} and RowKey ge {_QUOTED} and RowKey lt {_QUOTED}"
        rf" and billMonth ge {_QUOTED} and billMonth le {_QUOTED}",
        re.DOTALL,
    ),
)
POINT_READ = re.compile(rf"/[^/]+/[A-Za-z0-9]+\(PartitionKey={_QUOTED},RowKey={_QUOTED}\)", re.DOTALL)


def _token(after: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": after}).encode()).decode().rstrip("=")


times = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
).map(lambda moment: moment.isoformat())
PARAMETERS = {
    "from": st.one_of(hostile_text, times),
    "to": st.one_of(hostile_text, times),
    "top": st.one_of(
        hostile_text,
        st.integers(-5, 2000).map(str),
        st.integers(4000, 20_000).map(lambda digits: "1" * digits),
        st.sampled_from(["1e3", "0x10", "٣", "²", " 5", "5 "]),
    ),
    "continuationToken": st.one_of(
        hostile_text,
        st.builds(_token, hostile_text),
        st.builds(_token, wrong_types),
        st.builds(lambda tail: _token("tx|rg-app|web-01|" + tail), hostile_text),
        st.builds(lambda tail: _token(SUB + "/vm|" + tail), hostile_text),
        st.builds(lambda head, tail: _token(head + "/vm|" + tail), hostile_text, hostile_text),
    ),
    "subscriptionId": st.one_of(hostile_text, st.just(SUB)),
    "resourceGroup": st.one_of(hostile_text, st.just("rg-app")),
    "format": st.one_of(hostile_text, st.sampled_from(["json", "csv", "CSV"])),
    "groupBy": st.one_of(
        hostile_text,
        st.sampled_from(["subscription", "resourceGroup", "tag:team"]),
        st.builds(lambda name: "tag:" + name, hostile_text),
    ),
}
route_parts = st.fixed_dictionaries(
    {},
    optional={name: st.one_of(st.just(value), hostile_text) for name, value in SEEDED_PARTS.items()},
)
parameters = st.fixed_dictionaries({}, optional=PARAMETERS)


@EXAMPLES
@given(function=st.sampled_from(sorted(HTTP_FUNCTIONS)), route=route_parts, params=parameters)
@example(function="list_vms", route={}, params={"top": "1" * 5000})
@example(function="get_vm", route=SEEDED_PARTS, params={"top": "9" * 4301})
def test_hostile_route_parts_and_parameters_get_a_clean_answer_and_never_shape_a_filter(
    proxy, function, route, params
):
    proxy.reset_counts()
    request = func.HttpRequest(
        "GET", "http://localhost:7071/api/" + function, body=b"", params=params, route_params=route
    )
    response = HTTP_FUNCTIONS[function](request)
    text = response.get_body().decode("utf-8")

    assert response.status_code in (200, 400, 404), text[:300]
    assert "Traceback" not in text and 'File "' not in text
    if response.status_code != 200:
        body = json.loads(text)
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
        for value in [*route.values(), *params.values()]:
            if len(value) >= 3 and ECHO_MARKERS.search(value):
                assert value not in text, "an error message echoes input"
    for seen in proxy.seen:
        if seen.kind == "query":
            (filter_text,) = parse_qs(seen.query, keep_blank_values=True).get("$filter", [""])
            assert any(t.fullmatch(filter_text) for t in FILTER_TEMPLATES), (
                f"unexpected filter {filter_text!r}"
            )
        elif seen.kind == "point_read":
            assert POINT_READ.fullmatch(seen.path), f"unexpected point read {seen.path!r}"
        else:
            assert seen.kind not in WRITE_KINDS, f"a read-only API wrote: {seen}"


SEEDED_END = SEEDED_FIRST + timedelta(hours=16)


@settings(EXAMPLES, max_examples=40)
@given(
    start=st.datetimes(
        min_value=(SEEDED_END - timedelta(days=366)).replace(tzinfo=None),
        max_value=SEEDED_FIRST.replace(tzinfo=None),
    )
)
@example(start=(SEEDED_END - timedelta(days=366)).replace(tzinfo=None))
def test_a_window_starting_anywhere_before_the_first_transition_bills_the_same(proxy, start):
    """Within the longest window ``get_vm`` serves (366 days)."""
    end = SEEDED_END.isoformat()
    answers = []
    for window_start in (start.replace(tzinfo=UTC), SEEDED_FIRST):
        request = func.HttpRequest(
            "GET",
            "http://localhost:7071/api/vms",
            body=b"",
            params={"from": window_start.isoformat(), "to": end},
            route_params=SEEDED_PARTS,
        )
        response = function_app.get_vm(request)
        assert response.status_code == 200
        body = json.loads(response.get_body())
        answers.append((body["billedSeconds"], body["unknownSeconds"]))
    # 08-10 running, 10-11 stopped (billed), 13-15 running: 5 hours, whatever came before 08:00.
    assert answers[0] == answers[1] == (5 * 3600, 0)
