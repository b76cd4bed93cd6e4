"""CSV for finance: RFC 4180 text, safe in spreadsheets, with the same rows as the JSON API."""

from __future__ import annotations

import csv
import io
import json

import azure.functions as func
import pytest

import function_app
from devtools.events import at, vm_id, wire_event
from shared.errors import InvalidInput
from shared.web.csv_export import (
    TRANSITION_COLUMNS,
    VM_COLUMNS,
    format_decimal,
    hours,
    requested_format,
    safe_field,
    to_csv,
)
from tests.factories import deliver, http_get


def parse(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def test_a_header_row_comes_first_and_every_line_ends_with_crlf():
    text = to_csv(["name", "hours"], [{"name": "web-01", "hours": "5"}, {"name": "db-01", "hours": "0.5"}])
    assert text == "name,hours\r\nweb-01,5\r\ndb-01,0.5\r\n"


def test_commas_quotes_and_line_breaks_inside_a_field_are_quoted_as_rfc_4180_says():
    awkward = 'say "hi", then\r\nleave'
    text = to_csv(["note"], [{"note": awkward}])
    assert text == 'note\r\n"say ""hi"", then\r\nleave"\r\n'
    assert parse(text) == [["note"], [awkward]]


@pytest.mark.parametrize(
    "value",
    ["=SUM(A1:A9)", "+1+2", "-2+3", "@SUM(A1)", "\t=1+1", "\r=1+1", '=HYPERLINK("http://x","y")', "-rg-app"]
    # Spreadsheets that trim leading blanks before looking for a formula, and full-width signs.
    + [" =1+1", "\n=1+1", "  \n@SUM(A1)", " +1", "\u3000-1+1", "\uff1d1+1", " \uff20x"],
)
def test_a_field_a_spreadsheet_would_run_as_a_formula_gets_a_leading_apostrophe(value):
    assert safe_field(value) == "'" + value
    assert parse(to_csv(["f"], [{"f": value}]))[1] == ["'" + value]


@pytest.mark.parametrize(
    "value", ["web-01", "a=b", "2026-11-23T08:00:00.000000Z", "'quoted", " a=1", "", "  "]
)
def test_ordinary_text_is_left_as_it_is(value):
    assert safe_field(value) == value


def test_header_names_are_guarded_too():
    assert parse(to_csv(["=cmd", "ok"], []))[0] == ["'=cmd", "ok"]


def test_missing_values_are_empty_and_booleans_read_true_or_false():
    text = to_csv(["a", "b", "c", "d"], [{"a": None, "b": True, "c": False}])
    assert parse(text)[1] == ["", "true", "false", ""]


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0, "0"),
        (5 * 3600, "5"),
        (5400, "1.5"),
        (1, "0.000278"),
        (900, "0.25"),
        (1e-9, "0"),
        (3600 * 1e7, "10000000"),
    ],
)
def test_hours_are_plain_decimals_never_exponents(seconds, expected):
    assert hours(seconds) == expected


def test_numbers_are_written_as_decimals_and_a_negative_one_is_still_made_inert():
    assert safe_field(2.5) == "2.5"
    assert safe_field(7) == "7"
    assert format_decimal(-0.0000001) == "0"
    assert safe_field(-3) == "'-3"


@pytest.mark.parametrize(
    ("given", "expected"), [(None, "json"), ("json", "json"), ("CSV", "csv"), ("csv", "csv")]
)
def test_the_format_is_json_unless_csv_is_asked_for(given, expected):
    params = {} if given is None else {"format": given}
    assert requested_format(params) == expected


@pytest.mark.parametrize("given", ["xml", "", "csv;", "html"])
def test_any_other_format_is_a_client_error(given):
    with pytest.raises(InvalidInput) as caught:
        requested_format({"format": given})
    assert caught.value.field == "format"


# ---- through the HTTP functions, on Azurite -----------------------------------------------------------

VM = vm_id("web-01", "rg-app")
ODD = vm_id("-cmd", "-rg")  # Azure allows a leading '-' in both names: a spreadsheet would see a formula
ROUTE = {"subscriptionId": VM.split("/")[2], "resourceGroup": "rg-app", "vmName": "web-01"}


call = http_get


def as_json(response: func.HttpResponse) -> dict:
    assert response.mimetype == "application/json"
    return json.loads(response.get_body())


def as_csv(response: func.HttpResponse) -> list[dict[str, str]]:
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    text = response.get_body().decode("utf-8")
    assert text.endswith("\r\n")
    return list(csv.DictReader(io.StringIO(text, newline="")))


@pytest.mark.azurite
def test_list_vms_as_csv_has_the_state_columns_and_one_row_per_vm(ledger_env):
    deliver(
        wire_event("write", at(hours=8), resource_id=VM),
        wire_event("deallocate", at(hours=9), resource_id=VM),
        wire_event("write", at(hours=8), resource_id=ODD),
    )
    response = call(function_app.list_vms, "vms", format="csv")
    rows = as_csv(response)
    assert list(rows[0]) == list(VM_COLUMNS)
    json_rows = as_json(call(function_app.list_vms, "vms"))["value"]
    assert len(rows) == len(json_rows) == 2
    by_name = {row["vmName"]: row for row in rows}
    assert by_name["web-01"]["powerState"] == "deallocated"
    assert by_name["web-01"]["billable"] == "false"
    assert by_name["web-01"]["since"] == "2026-11-23T09:00:00.000000Z"
    assert by_name["'-cmd"]["resourceGroup"] == "'-rg"
    assert by_name["'-cmd"]["resourceId"] == ODD  # starts with '/': nothing to guard
    assert 'filename="vms.csv"' in response.headers["Content-Disposition"]


@pytest.mark.azurite
def test_list_vm_transitions_as_csv_matches_its_json_rows(ledger_env):
    deliver(
        wire_event("write", at(hours=8), resource_id=VM),
        wire_event("powerOff", at(hours=10), resource_id=VM),
        wire_event("deallocate", at(hours=11), resource_id=VM),
    )
    rows = as_csv(call(function_app.list_vm_transitions, "t", ROUTE, format="csv"))
    json_rows = as_json(call(function_app.list_vm_transitions, "t", ROUTE))["value"]
    assert list(rows[0]) == list(TRANSITION_COLUMNS)
    assert [row["time"] for row in rows] == [row["time"] for row in json_rows]
    assert [row["powerState"] for row in rows] == ["running", "stopped", "deallocated"]
    assert [row["billable"] for row in rows] == ["true", "true", "false"]
    assert rows[1]["operationName"] == "Microsoft.Compute/virtualMachines/powerOff/action"
    assert rows[0]["changedAfter"] == ""


@pytest.mark.azurite
def test_a_paged_csv_links_to_the_next_page_which_continues_in_csv(ledger_env):
    deliver(*(wire_event("start", at(hours=h), resource_id=VM) for h in range(1, 6)))
    first = call(function_app.list_vm_transitions, "t", ROUTE, format="csv", top="3")
    assert len(as_csv(first)) == 3
    link = first.headers["Link"]
    assert link.endswith('>; rel="next"')
    token = link.split("continuationToken=")[1].split("&")[0].split(">")[0]
    second = call(
        function_app.list_vm_transitions, "t", ROUTE, format="csv", top="3", continuationToken=token
    )
    assert [row["time"][11:16] for row in as_csv(second)] == ["04:00", "05:00"]
    assert "Link" not in second.headers


@pytest.mark.azurite
@pytest.mark.parametrize("fn_name", ["list_vms", "list_vm_transitions"])
def test_an_unknown_format_is_refused_with_a_json_error(ledger_env, fn_name):
    deliver(wire_event("write", at(hours=8), resource_id=VM))
    response = call(getattr(function_app, fn_name), "x", ROUTE, format="xlsx")
    assert response.status_code == 400
    assert as_json(response)["error"]["code"] == "InvalidFormat"


@pytest.mark.azurite
def test_without_a_format_the_lists_still_answer_in_json(ledger_env):
    deliver(wire_event("write", at(hours=8), resource_id=VM))
    assert as_json(call(function_app.list_vms, "vms"))["value"][0]["vmName"] == "web-01"
    assert len(as_json(call(function_app.list_vm_transitions, "t", ROUTE, format="json"))["value"]) == 1
