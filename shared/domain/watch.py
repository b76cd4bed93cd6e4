"""What the app watches and how reconcile reads it: the reconcile source (List All per subscription, a
Resource Graph sweep, or the choice by fleet size) and the management group id rule."""

from __future__ import annotations

import re
from enum import StrEnum

# ``auto`` sweeps above this many subscriptions: up to it, a List All each costs few enough calls.
AUTO_SWEEP_ABOVE = 20
# Azure's management group id: up to 90 letters, digits, hyphens, underscores, periods and parentheses.
_MANAGEMENT_GROUP_ID = re.compile(r"^[A-Za-z0-9_().-]{1,90}$")


class ReconcileSource(StrEnum):
    """``RECONCILE_SOURCE``'s values, spelt as the setting takes them."""

    LIST = "list"
    RESOURCE_GRAPH = "resourceGraph"
    AUTO = "auto"


def sweeps(source: ReconcileSource, subscription_count: int) -> bool:
    """Whether reconcile reads Resource Graph (``True``) or List All, for ``subscription_count``."""
    if source is ReconcileSource.AUTO:
        return subscription_count > AUTO_SWEEP_ABOVE
    return source is ReconcileSource.RESOURCE_GRAPH


def parse_reconcile_source(text: str | None) -> ReconcileSource:
    """The source named by ``text`` (any case; ``list`` when absent); ``ValueError`` for another name."""
    by_name = {source.value.lower(): source for source in ReconcileSource}
    if text is None:
        return ReconcileSource.LIST
    if text.strip().lower() not in by_name:
        raise ValueError(f"must be one of {', '.join(ReconcileSource)}, got {text!r}")
    return by_name[text.strip().lower()]


def parse_management_group(text: str | None) -> str | None:
    """A management group id, or ``None`` when absent; ``ValueError`` for anything else."""
    if text is None:
        return None
    if not _MANAGEMENT_GROUP_ID.fullmatch(text.strip()):
        raise ValueError(f"not a management group id (up to 90 letters, digits, -, _, ., ( and )): {text!r}")
    return text.strip()
