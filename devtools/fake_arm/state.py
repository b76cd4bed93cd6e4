"""What the fake ARM serves (listings, scale sets, Activity Log records, from memory or from files that
are re-read) and the faults it injects; shared by the server and its request handler."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devtools.fake_arm.cost_management import CostState
from devtools.fake_arm.resource_graph import GraphState
from devtools.loopback import RecordedRequest

Listings = Mapping[str, Sequence[Mapping[str, Any]]]


@dataclass(frozen=True)
class Faults:
    """Failures to inject. Pages count from 1 within one listing; requests count across the server.

    ``throttle_first`` requests answer 429 (with ``Retry-After: retry_after`` unless that is ``None``);
    ``fail_page`` always answers ``fail_status``; ``drop_page`` closes the connection without an answer;
    ``garbage_page`` answers 200 with a body that is not JSON. ``fail_instance_view`` is the status every
    instance view request answers (``None``: served normally). Both failures carry ARM's error body with
    ``fail_code`` as ``error.code`` (``None``: an empty body, as a gateway may answer). ``endless``: every
    page of every listing links a next page with a new skip token, forever (a service caught in a paging
    loop); then ``stop_after`` requests end it with 500s, so that a client that never stops fails instead
    of hanging the test. ``unfiltered_times``: the Activity Log answers records outside its ``$filter``'s
    time range.
    """

    throttle_first: int = 0
    retry_after: str | None = "0"
    fail_page: int | None = None
    fail_status: int = 500
    drop_page: int | None = None
    garbage_page: int | None = None
    fail_instance_view: int | None = None
    fail_code: str | None = "InternalServerError"
    endless: bool = False
    stop_after: int = 20_000
    unfiltered_times: bool = False


@dataclass
class ArmState:
    listings: dict[str, list[dict[str, Any]]]
    page_size: int
    faults: Faults
    listing_file: Path | None
    scale_sets: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    scale_set_file: Path | None = None
    activity: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    activity_file: Path | None = None
    # What VMs keep, per subscription: {"disks": [...], "networkInterfaces": [...], ...} (``ATTACHED_KINDS``)
    attached: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)
    attached_file: Path | None = None
    requests: list[RecordedRequest] = field(default_factory=list)
    served: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    on_request: Callable[[RecordedRequest], None] | None = None
    graph: GraphState = field(default_factory=GraphState)
    costs: CostState = field(default_factory=CostState)


def load_listing_file(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Read ``{"<subscriptionId>": [item, ...]}``; raise ``ValueError`` if it has another shape."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(isinstance(vms, list) for vms in data.values()):
        raise ValueError(f"{path}: expected an object mapping subscription ids to arrays of VMs")
    return normalized(data)


def normalized(listings: Listings) -> dict[str, list[dict[str, Any]]]:
    return {sub.lower(): [dict(vm) for vm in vms] for sub, vms in listings.items()}


ATTACHED_KINDS = ("disks", "networkInterfaces", "publicIPAddresses")


def load_attached_file(path: Path) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Read ``{"<subscriptionId>": {"disks": [...], "networkInterfaces": [...], "publicIPAddresses": [...]}}``
    (missing kinds are empty)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(isinstance(kinds, dict) for kinds in data.values()):
        raise ValueError(f"{path}: expected an object mapping subscription ids to disks, NICs and public IPs")
    return {sub.lower(): normalized_attached(kinds) for sub, kinds in data.items()}


def normalized_attached(kinds: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    return {kind: [dict(item) for item in kinds.get(kind, [])] for kind in ATTACHED_KINDS}
