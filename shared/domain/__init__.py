"""Pure rules: VM ids, times and calendar months, power states and transitions, the evidence each source
gives of a transition, the operation table, window accounting, health causes, finding rules, and when two
sources describe one operation."""

from shared.domain.accounting import WindowTotals, window_totals
from shared.domain.evidence import (
    ActivityLogRecord,
    Evidence,
    HealthAnnotation,
    ListingObservation,
    NewTransition,
    Origin,
    ResourceEvent,
    Source,
)
from shared.domain.findings import RULES, Finding, FindingKind, ReachedBy, Thresholds, VmFacts, findings_of
from shared.domain.health import Cause, annotation_cause, health_name
from shared.domain.ids import VmId, is_subscription_id, parse_vm_id, require_part, vm_id_from_parts
from shared.domain.operations import CANCELED, FAILED, SUCCEEDED, change_for, operation_suffix
from shared.domain.same_operation import MATCH_WINDOW, TIME_TOLERANCE, OperationRecord, same_operation
from shared.domain.times import (
    as_utc,
    format_time,
    month_of,
    month_start,
    months_from,
    months_touched,
    parse_time,
    utc_now,
)
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
    "ActivityLogRecord",
    "Evidence",
    "HealthAnnotation",
    "ListingObservation",
    "NewTransition",
    "Origin",
    "ResourceEvent",
    "Source",
    "month_of",
    "month_start",
    "months_from",
    "months_touched",
    "CANCELED",
    "Cause",
    "FAILED",
    "MATCH_WINDOW",
    "RULES",
    "TIME_TOLERANCE",
    "SUCCEEDED",
    "UNKNOWN",
    "BillingPolicy",
    "Change",
    "Finding",
    "FindingKind",
    "OperationRecord",
    "ReachedBy",
    "Thresholds",
    "VmFacts",
    "VmId",
    "VmState",
    "WindowTotals",
    "annotation_cause",
    "apply_change",
    "as_utc",
    "change_for",
    "findings_of",
    "format_time",
    "health_name",
    "is_subscription_id",
    "normalize_power_state",
    "operation_suffix",
    "parse_time",
    "parse_vm_id",
    "require_part",
    "same_operation",
    "state_before_first",
    "utc_now",
    "vm_id_from_parts",
    "window_totals",
]
