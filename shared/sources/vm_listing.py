"""Virtual Machines - List All (status only) pages, reduced to what the reconcile compares.

A page read as empty by mistake would make every VM look deleted, so a body that is not a listing page
raises; single entries that cannot be read are skipped with a warning.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.domain.vm_state import normalize_power_state
from shared.sources._pager import arm_page

logger = logging.getLogger(__name__)

_PROVISIONING_PREFIX = "provisioningstate/"
_POWER_PREFIX = "powerstate/"
_HIBERNATED_CODE = "hibernationstate/hibernated"


@dataclass(frozen=True)
class ListedVm:
    """One VM of a List All page, reduced to what the ledger compares.

    ``provisioning_state`` is everything after ``ProvisioningState/`` as returned (``succeeded``,
    ``failed/AllocationFailed``, ``creating/OSProvisioningInprogress``). ``power_state`` is normalized
    lowercase, ``None`` when the power status is missing or not a known state (ARM omits it "due to
    intermittent issues"): the caller must treat that as unknown, never as a change.
    """

    resource_id: str
    provisioning_state: str | None
    power_state: str | None
    hibernated: bool
    # ``properties.virtualMachineScaleSet.id`` of a Flexible member, when the listing carries it.
    scale_set_id: str | None = None


def parse_listing_page(body: Mapping[str, Any]) -> tuple[list[ListedVm], str | None]:
    """The VMs of one List All response body and its ``nextLink`` (``None`` on the last page).

    Raises ``ValueError`` when the body is not a listing page: a page read as empty by mistake would
    make every VM look deleted. Single VM entries without an ``id`` are skipped with a warning.
    """
    entries, next_link = arm_page(body, "List All")
    vms = [vm for vm in (listed_vm(entry, index) for index, entry in enumerate(entries)) if vm]
    return vms, next_link


def listed_vm(entry: Any, index: int, listing: str = "List All") -> ListedVm | None:
    """One listed VM (or scale set instance: same ``properties.instanceView.statuses``), or ``None``
    with a warning when the entry cannot be read."""
    if not isinstance(entry, Mapping):
        logger.warning("Skipping %s entry %s: not a JSON object", listing, index)
        return None
    resource_id = entry.get("id")
    if not isinstance(resource_id, str) or not resource_id.strip():
        logger.warning("Skipping %s entry %s (name %r): it has no id", listing, index, entry.get("name"))
        return None
    properties = entry.get("properties")
    view = properties.get("instanceView") if isinstance(properties, Mapping) else None
    statuses = view.get("statuses") if isinstance(view, Mapping) else None
    return listed_from_statuses(resource_id, statuses, scale_set_id=_scale_set_id_of(entry))


def listed_from_statuses(resource_id: str, statuses: Any, *, scale_set_id: str | None = None) -> ListedVm:
    """A VM's state from an instance view's ``statuses`` array (List All's or the instance view's own)."""
    codes = status_codes(statuses)
    power_code = _first_with_prefix(codes, _POWER_PREFIX)
    return ListedVm(
        resource_id=resource_id,
        provisioning_state=_remainder(_first_with_prefix(codes, _PROVISIONING_PREFIX), _PROVISIONING_PREFIX),
        power_state=normalize_power_state(power_code) if power_code else None,
        hibernated=any(code.lower() == _HIBERNATED_CODE for code in codes),
        scale_set_id=scale_set_id,
    )


def _scale_set_id_of(entry: Mapping[str, Any]) -> str | None:
    properties = entry.get("properties")
    reference = properties.get("virtualMachineScaleSet") if isinstance(properties, Mapping) else None
    scale_set_id = reference.get("id") if isinstance(reference, Mapping) else None
    return scale_set_id.strip() if isinstance(scale_set_id, str) and scale_set_id.strip() else None


def status_codes(statuses: Any) -> list[str]:
    """The ``code`` strings of a ``statuses`` array, tolerating anything malformed (``[]``)."""
    if not isinstance(statuses, list):
        return []
    codes = (status.get("code") for status in statuses if isinstance(status, Mapping))
    return [code.strip() for code in codes if isinstance(code, str) and code.strip()]


def _first_with_prefix(codes: list[str], prefix: str) -> str | None:
    return next((code for code in codes if code.lower().startswith(prefix)), None)


def _remainder(code: str | None, prefix: str) -> str | None:
    if code is None:
        return None
    return code[len(prefix) :] or None
