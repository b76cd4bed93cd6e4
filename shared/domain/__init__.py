"""Pure rules: VM ids, times, power states and transitions, the operation table, window accounting,
health causes."""

from shared.domain.accounting import WindowTotals, window_totals
from shared.domain.health import Cause, annotation_cause, health_name
from shared.domain.ids import VmId, is_subscription_id, parse_vm_id, require_part, vm_id_from_parts
from shared.domain.operations import CANCELED, FAILED, SUCCEEDED, change_for, operation_suffix
from shared.domain.times import as_utc, format_time, parse_time, utc_now
from shared.domain.vm_state import (
    UNKNOWN,
    BillingPolicy,
    Change,
    VmState,
    apply_change,
    normalize_power_state,
    state_before_first,
)

__all__ = [
    "CANCELED",
    "Cause",
    "FAILED",
    "SUCCEEDED",
    "UNKNOWN",
    "BillingPolicy",
    "Change",
    "VmId",
    "VmState",
    "WindowTotals",
    "annotation_cause",
    "apply_change",
    "as_utc",
    "change_for",
    "format_time",
    "health_name",
    "is_subscription_id",
    "normalize_power_state",
    "operation_suffix",
    "parse_time",
    "parse_vm_id",
    "require_part",
    "state_before_first",
    "utc_now",
    "vm_id_from_parts",
    "window_totals",
]
