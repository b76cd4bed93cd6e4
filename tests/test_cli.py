"""The command line against a real Azurite: replay saved events, show, reconcile from a saved listing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from devtools.azurite import free_port
from devtools.events import SUB, at, instance_id, scale_set_operation, vm_id, wire_event
from devtools.fake_arm import FakeArm, Faults, make_vm
from shared import cli, context, settings
from shared.domain.ids import parse_vm_id
from shared.store import STORAGE_CLIENT_OPTIONS
from tests.factories import deliver, sample_day

pytestmark = pytest.mark.azurite

VM = vm_id("web-01", "rg-app")
ROOT = Path(__file__).resolve().parent.parent


def test_replay_records_a_saved_file_of_events_and_counts_outcomes(ledger, tmp_path, capsys):
    events = sample_day(VM)
    path = tmp_path / "events.json"
    path.write_text(json.dumps(events + events[:1]))  # one delivered twice
    assert cli.main(["replay", str(path)]) == 0
    assert capsys.readouterr().out.strip() == "1 duplicate, 5 recorded"
    assert ledger.get_current(parse_vm_id(VM)).condition.state.hibernated


def test_replay_reads_json_lines_too(ledger, tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(json.dumps(event) for event in sample_day(VM)[:2]))
    assert cli.main(["replay", str(path)]) == 0
    assert ledger.get_current(parse_vm_id(VM)).condition.state.power_state == "stopped"


def test_show_prints_billed_hours_for_the_window(ledger, tmp_path, capsys):
    path = tmp_path / "events.json"
    path.write_text(json.dumps(sample_day(VM)))
    cli.main(["replay", str(path)])
    capsys.readouterr()
    assert cli.main(["show", "--from", at(0).isoformat(), "--to", at(hours=24).isoformat()]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if "rg-app/web-01" in line)
    assert "deallocated (hibernated)" in row and "5.00" in row
    assert cli.main(["show", VM, "--from", at(0).isoformat(), "--to", at(hours=24).isoformat()]) == 0
    assert "billed 5.00 h" in capsys.readouterr().out


def test_reconcile_from_a_saved_listing_applies_it_and_marks_the_missing_as_deleted(ledger, tmp_path, capsys):
    path = tmp_path / "events.json"
    path.write_text(json.dumps(sample_day(VM) + sample_day(vm_id("gone", "rg-app"))))
    cli.main(["replay", str(path)])
    listing = tmp_path / "list-all.json"
    listing.write_text(json.dumps({"value": [make_vm(SUB, "rg-app", "web-01", power="stopped")]}))
    assert cli.main(["reconcile", "--from-file", str(listing)]) == 0
    assert "changed 1" in capsys.readouterr().out
    assert ledger.get_current(parse_vm_id(VM)).condition.state.power_state == "stopped"
    assert ledger.get_current(parse_vm_id(vm_id("gone", "rg-app"))).condition.state.deleted


def test_a_saved_listing_with_a_next_link_is_incomplete_and_deletes_nothing(ledger, tmp_path, capsys):
    path = tmp_path / "events.json"
    path.write_text(json.dumps(sample_day(VM) + sample_day(vm_id("other", "rg-app"))))
    cli.main(["replay", str(path)])
    listing = tmp_path / "page1.json"
    page = {"value": [make_vm(SUB, "rg-app", "web-01")], "nextLink": "https://management.azure.com/next"}
    listing.write_text(json.dumps(page))
    assert cli.main(["reconcile", "--from-file", str(listing)]) == 1
    assert "FAILED" in capsys.readouterr().out
    assert not ledger.get_current(parse_vm_id(vm_id("other", "rg-app"))).condition.state.deleted


def test_a_bad_argument_is_a_clear_error_not_a_traceback(ledger, capsys):
    assert cli.main(["show", "not-a-vm-id"]) == 2
    assert "error: not a VM resource id" in capsys.readouterr().err


def test_the_shipped_sample_listing_reconciles_as_the_readme_shows(ledger, capsys):
    samples = Path(__file__).resolve().parent.parent / "samples"
    assert cli.main(["replay", str(samples / "events-day.json")]) == 0
    capsys.readouterr()
    assert cli.main(["reconcile", "--from-file", str(samples / "list-all.json")]) == 0
    out = capsys.readouterr().out
    assert f"subscription {SUB}: listed " in out and ": ok" in out


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["replay", "no-such-file.json"], "error: no such file: no-such-file.json"),
        (["reconcile", "--from-file", "no-such-file.json"], "error: no such file: no-such-file.json"),
        (["show", "--from", "yesterday"], "error: not an accepted ISO-8601 time"),
    ],
)
def test_a_missing_file_or_bad_value_is_one_line_and_exit_2(ledger, capsys, argv, says):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.strip() == says
    assert "Traceback" not in err


def test_a_file_that_is_not_json_is_one_line(ledger, tmp_path, capsys):
    path = tmp_path / "listing.json"
    path.write_text("{not json")
    assert cli.main(["reconcile", "--from-file", str(path)]) == 2
    assert capsys.readouterr().err.startswith("error: not JSON: ")


@pytest.mark.parametrize(
    "argv", [["show"], ["replay", "samples/one-event.json"], ["reconcile", "--from-file", "x"]]
)
def test_storage_down_is_one_clear_line_for_every_command(ledger_env, monkeypatch, capsys, argv):
    monkeypatch.setenv(
        "VM_LEDGER_STORAGE",
        f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
        f"TableEndpoint=http://127.0.0.1:{free_port()}/devstoreaccount1;",
    )
    monkeypatch.setitem(STORAGE_CLIENT_OPTIONS, "retry_backoff_factor", 0.01)
    context.reset()
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("error: the ledger storage is not reachable")


def table_rows(text: str) -> list[dict[str, str]]:
    """The rows of a printed table, by column title: columns start where the dashes under them do."""
    lines = [line for line in text.splitlines() if line.strip()]
    rule = next(index for index, line in enumerate(lines) if set(line.strip()) <= {"-", " "})
    starts = [
        index
        for index, char in enumerate(lines[rule])
        if char == "-" and lines[rule][index - 1 : index] != "-"
    ]
    spans = list(zip(starts, [*starts[1:], None], strict=True))
    title = lines[rule - 1]
    return [{title[a:b].strip(): line[a:b].strip() for a, b in spans} for line in lines[rule + 1 :]]


def test_the_vm_table_says_billing_now_next_to_billed_hours(ledger, tmp_path, capsys):
    """A VM hibernated at 15:00 bills nothing now, and billed 5 hours that day: one row says both."""
    path = tmp_path / "events.json"
    path.write_text(json.dumps(sample_day(VM)))
    cli.main(["replay", str(path)])
    capsys.readouterr()
    cli.main(["show", "--from", at(0).isoformat(), "--to", at(hours=24).isoformat()])
    [row] = table_rows(capsys.readouterr().out)
    assert row["VM"] == "rg-app/web-01"
    assert (row["BILLING NOW"], row["BILLED H"]) == ("no", "5.00")


def test_findings_name_a_scale_set_instance_as_azure_does(ledger, capsys):
    deliver(
        wire_event("powerOff", at(hours=1), resource_id=instance_id("1", group="rg-shop"),
                   operation=scale_set_operation("powerOff", instance=True)),
    )  # fmt: skip
    assert cli.main(["findings", "--kind", "stoppedButBilled", "--min-hours", "0"]) == 0
    [row] = [line for line in capsys.readouterr().out.splitlines() if line.startswith("stoppedButBilled")]
    assert row.split()[1] == "rg-shop/web-ss_1"  # the name the VM table and the API (vmName) show


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "-1", "1e9"])
def test_min_hours_must_be_a_number_of_hours_as_over_http(ledger, capsys, value):
    assert cli.main(["findings", f"--min-hours={value}"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "error: --min-hours must be a number of hours from 0 to 87840"


def _cli(env: dict[str, str], *args: str, close_stdout: bool = False) -> subprocess.CompletedProcess[str]:
    """The CLI as a user runs it; with ``close_stdout`` the reader of its output has gone (``| head``)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "shared.cli", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    if close_stdout:
        process.stdout.close()  # before the CLI writes anything: its first write finds no reader
        _, err = process.communicate(timeout=120)
        return subprocess.CompletedProcess(process.args, process.returncode, "", err)
    out, err = process.communicate(timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def test_a_reader_that_goes_away_ends_the_output_quietly(ledger_env, ledger):
    deliver(*sample_day(VM))
    done = _cli(ledger_env, "show", close_stdout=True)
    assert (done.returncode, done.stderr) == (1, "")  # 1, as Python itself exits on a broken pipe


def test_text_the_terminal_cannot_carry_is_replaced_not_a_failure(ledger_env, monkeypatch):
    deliver(*sample_day(VM))
    with FakeArm({SUB: [make_vm(SUB, "rg-app", "web-01")]}) as arm:
        # An Activity Log error whose code holds a lone surrogate: the CLI prints it in its summary.
        arm.faults = Faults(fail_page=1, fail_status=403, fail_code="Denied\ud800")
        done = _cli({**ledger_env, settings.ARM_ENDPOINT: arm.url}, "backfill", "--days", "1", "--vm", VM)
    assert done.returncode == 1  # the backfill failed, and says so on stdout; the CLI itself did not
    assert not any(line.startswith("error:") for line in done.stderr.splitlines())
    assert "not backfilled: " in done.stdout and "HTTP 403 Denied?" in done.stdout
