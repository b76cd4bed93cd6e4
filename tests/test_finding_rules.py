"""The finding rules, one table each: what a VM's current row must say to be a finding, at the thresholds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.domain.evidence import Origin, Source
from shared.domain.findings import (
    ALL_KINDS,
    RULES,
    FindingKind,
    ReachedBy,
    Thresholds,
    VmFacts,
    deallocated_long,
    failed_provisioning,
    findings_of,
    stopped_but_billed,
    unconfirmed,
)
from shared.domain.vm_state import VmState

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
START = Origin(Source.EVENT, "Microsoft.Compute/virtualMachines/start/action")
DEFAULTS = Thresholds()


def facts(
    power: str | None = "running",
    *,
    hours: float = 0.0,
    billable: bool | None = None,
    provisioning: str = "Succeeded",
    deleted: bool = False,
    hibernated: bool = False,
    cause: Origin | None = START,
    changed_hours: float | None = None,
    confirmed_hours: float | None = None,
) -> VmFacts:
    since = NOW - timedelta(hours=hours)
    billed = billable if billable is not None else power in ("starting", "running", "stopping", "stopped")
    state = VmState(provisioning, None if deleted else power, hibernated, deleted, billed, since)
    last_change = NOW - timedelta(hours=changed_hours if changed_hours is not None else hours)
    confirmed = NOW - timedelta(hours=confirmed_hours) if confirmed_hours is not None else last_change
    return VmFacts(state, cause, last_change, max(confirmed, last_change), NOW)


POWER_OFF = Origin(Source.EVENT, "Microsoft.Compute/virtualMachines/powerOff/action")
POWER_OFF_LOG = Origin(Source.ACTIVITY_LOG, "microsoft.compute/virtualmachines/poweroff/action")
RECONCILE = Origin(Source.RECONCILE, "reconcile/listAll")


@pytest.mark.parametrize(
    ("vm", "expected"),
    [
        (facts("stopped", hours=1, cause=POWER_OFF), (1.0, ReachedBy.POWER_OFF)),
        (facts("stopped", hours=0.99, cause=POWER_OFF), None),  # below the 1-hour default
        (facts("stopped", hours=5, cause=RECONCILE), (5.0, ReachedBy.FOUND_BY_RECONCILE)),
        (facts("stopped", hours=2, cause=POWER_OFF_LOG), (2.0, ReachedBy.POWER_OFF)),
        (facts("stopped", hours=2, cause=None), (2.0, ReachedBy.OTHER)),
        (facts("stopped", hours=9, billable=False), None),  # a policy that does not bill stopped
        (facts("running", hours=9), None),
        (facts("deallocated", hours=9), None),
        (facts("stopped", hours=9, deleted=True), None),
    ],
)
def test_stopped_but_billed(vm, expected):
    finding = stopped_but_billed(vm, DEFAULTS)
    if expected is None:
        assert finding is None
        return
    hours, how = expected
    assert finding is not None and finding.kind == FindingKind.STOPPED_BUT_BILLED
    assert (finding.hours, finding.billed_hours, finding.reached_by) == (hours, hours, how)
    assert finding.since == vm.state.since


@pytest.mark.parametrize(
    ("vm", "thresholds", "hours"),
    [
        (facts("deallocated", hours=30 * 24), DEFAULTS, 720.0),
        (facts("deallocated", hours=30 * 24 - 0.01), DEFAULTS, None),
        (facts("deallocated", hours=40 * 24, hibernated=True), DEFAULTS, 960.0),
        (facts("deallocated", hours=3), DEFAULTS.with_min_hours(2), 3.0),
        (facts("stopped", hours=40 * 24), DEFAULTS, None),
        (facts("deallocated", hours=40 * 24, deleted=True), DEFAULTS, None),
    ],
)
def test_deallocated_long(vm, thresholds, hours):
    finding = deallocated_long(vm, thresholds)
    assert (finding.hours, finding.billed_hours) == (hours, 0.0) if hours is not None else finding is None


@pytest.mark.parametrize(
    ("vm", "thresholds", "since_hours"),
    [
        (facts("running", hours=10, changed_hours=2, provisioning="Failed"), DEFAULTS, 2.0),
        (facts("stopped", hours=1, provisioning="Failed/AllocationFailed"), DEFAULTS, 1.0),
        (facts("deallocated", hours=10, provisioning="Failed"), DEFAULTS, None),  # not billed
        (facts("running", hours=10, provisioning="Succeeded"), DEFAULTS, None),
        (
            facts("running", hours=10, changed_hours=2, provisioning="Failed"),
            DEFAULTS.with_min_hours(3),
            None,
        ),  # noqa: E501
    ],
)
def test_failed_provisioning(vm, thresholds, since_hours):
    finding = failed_provisioning(vm, thresholds)
    if since_hours is None:
        assert finding is None
    else:
        assert finding is not None and finding.since == NOW - timedelta(hours=since_hours)
        assert finding.billed_hours == finding.hours == since_hours


@pytest.mark.parametrize(
    ("vm", "thresholds", "since_hours"),
    [
        (facts("running", hours=10, confirmed_hours=0.5), DEFAULTS, 0.5),  # two periods: exactly at it
        (facts("running", hours=10, confirmed_hours=0.49), DEFAULTS, None),
        (facts("running", hours=0.1), DEFAULTS, None),  # its last transition confirms it
        (facts("unknown", hours=0.1), DEFAULTS, 0.1),  # unknown is always unconfirmed
        (facts("unknown", hours=0.1), DEFAULTS.with_min_hours(1), None),
        (facts("running", hours=10, confirmed_hours=2), DEFAULTS.with_min_hours(0), 2.0),
        (facts("deallocated", hours=10, deleted=True), DEFAULTS, None),
    ],
)
def test_unconfirmed(vm, thresholds, since_hours):
    finding = unconfirmed(vm, thresholds)
    if since_hours is None:
        assert finding is None
    else:
        assert finding is not None and finding.since == NOW - timedelta(hours=since_hours)
        assert finding.billed_hours == (finding.hours if vm.state.billable else 0.0)


def test_the_registry_lists_every_kind_once_in_the_documented_order():
    assert list(ALL_KINDS) == list(FindingKind)  # the VM rules, then the disks' kind
    assert list(RULES) == list(FindingKind)[:-1] and ALL_KINDS[-1] == FindingKind.UNATTACHED_DISK
    vm = facts("stopped", hours=3, provisioning="Failed", cause=RECONCILE)
    assert [f.kind for f in findings_of(vm, DEFAULTS, FindingKind)] == [
        FindingKind.STOPPED_BUT_BILLED,
        FindingKind.FAILED_PROVISIONING,
        FindingKind.UNCONFIRMED,
    ]
    assert findings_of(vm, DEFAULTS, [FindingKind.DEALLOCATED_LONG]) == []
