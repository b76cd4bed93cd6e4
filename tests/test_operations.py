"""The operation table row by row, and how each outcome changes a VM's state."""

from __future__ import annotations

import pytest

from devtools.events import at
from shared.domain.operations import CANCELED, FAILED, SUCCEEDED, change_for, operation_suffix
from shared.domain.vm_state import BillingPolicy, VmState, apply_change, state_before_first

POLICY = BillingPolicy.parse(None)
RUNNING = VmState("Succeeded", "running", False, False, True, at(0))
DEALLOCATED = VmState("Succeeded", "deallocated", False, False, False, at(0))


def after(suffix: str, prev: VmState | None, outcome: str = SUCCEEDED, **options) -> VmState:
    change = change_for(suffix, outcome, **options)
    return apply_change(prev, change, at(hours=1), POLICY)


@pytest.mark.parametrize(
    ("suffix", "power", "billable"),
    [
        ("start/action", "running", True),
        ("restart/action", "running", True),
        ("redeploy/action", "running", True),
        ("performmaintenance/action", "running", True),
        ("reimage/action", "running", True),
        ("poweroff/action", "stopped", True),
        ("deallocate/action", "deallocated", False),
    ],
)
def test_a_successful_action_sets_the_power_state_of_the_table(suffix, power, billable):
    state = after(suffix, DEALLOCATED if power != "deallocated" else RUNNING)
    assert (state.power_state, state.billable, state.provisioning_state) == (power, billable, SUCCEEDED)


@pytest.mark.parametrize(
    "suffix",
    ["simulateeviction/action", "generalize/action", "capture/action", "reapply/action",
     "converttomanageddisks/action", "runcommand/action", "installpatches/action", "assesspatches/action",
     "somethingnew/action"],
)  # fmt: skip
def test_actions_that_do_not_change_power_leave_it_as_it_was(suffix):
    assert after(suffix, RUNNING).power_state == "running"
    assert after(suffix, DEALLOCATED).power_state == "deallocated"


def test_a_write_creates_a_running_vm_when_it_is_not_known_or_was_deleted():
    assert after("write", None).power_state == "running"
    deleted = after("delete", RUNNING)
    assert after("write", deleted).power_state == "running"


def test_a_write_on_a_known_vm_is_an_update_that_keeps_the_power_state():
    updated = after("write", DEALLOCATED)
    assert updated.power_state == "deallocated"
    assert updated.since == DEALLOCATED.since  # still deallocated since the same time


def test_deallocate_with_hibernate_marks_the_vm_hibernated_and_free():
    state = after("deallocate/action", RUNNING, hibernate=True)
    assert (state.power_state, state.hibernated, state.billable) == ("deallocated", True, False)
    assert after("start/action", state).hibernated is False


def test_delete_ends_billing():
    state = after("delete", RUNNING)
    assert (state.deleted, state.billable, state.power_state, state.provisioning_state) == (
        True, False, None, "Deleted",
    )  # fmt: skip


@pytest.mark.parametrize("outcome", [FAILED, CANCELED])
@pytest.mark.parametrize("suffix", ["start/action", "deallocate/action", "write", "delete"])
def test_failure_and_cancel_keep_the_power_state_and_mark_provisioning(suffix, outcome):
    state = after(suffix, RUNNING, outcome)
    assert (state.power_state, state.provisioning_state, state.deleted) == ("running", outcome, False)


def test_a_failure_for_a_vm_never_seen_starts_it_with_power_unknown():
    change = change_for("start/action", FAILED)
    state = apply_change(state_before_first(change, at(0)), change, at(0), POLICY)
    assert (state.power_state, state.billable) == ("unknown", False)


def test_a_vm_that_is_failed_but_running_is_still_billed():
    assert after("restart/action", RUNNING, FAILED).billable is True


def test_the_billing_policy_is_a_setting_and_the_2018_table_did_not_bill_starting():
    older = BillingPolicy.parse("running,stopping,stopped")
    assert not older.is_billed("starting")
    assert older.label == "running,stopping,stopped"
    with pytest.raises(ValueError, match="hibernating"):
        BillingPolicy.parse("running,hibernating")


@pytest.mark.parametrize(
    ("operation", "suffix"),
    [
        ("Microsoft.Compute/virtualMachines/start/action", "start/action"),
        ("MICROSOFT.COMPUTE/VIRTUALMACHINES/DEALLOCATE/ACTION", "deallocate/action"),
        ("Microsoft.Compute/virtualMachines/write", "write"),
        ("Microsoft.Storage/storageAccounts/write", None),
        ("Microsoft.Compute/virtualMachineScaleSets/write", None),
    ],
)
def test_operation_names_are_matched_case_insensitively(operation, suffix):
    assert operation_suffix(operation) == suffix
