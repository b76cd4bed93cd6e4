"""``FakeArm``: the fake Azure Resource Manager on loopback, run in a background thread."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from devtools.fake_arm.cost_management import CostState
from devtools.fake_arm.handler import handler_for
from devtools.fake_arm.resource_graph import GraphState
from devtools.fake_arm.state import (
    ArmState,
    Faults,
    Listings,
    load_attached_file,
    load_listing_file,
    normalized,
    normalized_attached,
)
from devtools.loopback import LoopbackServer, RecordedRequest


class FakeArm(LoopbackServer):
    """The fake server, bound to 127.0.0.1 on a free port (or ``port``) and run in a background thread.

    Use it as a context manager. ``listings`` maps subscription ids (any case) to recorded-shape VM
    objects (see ``make_vm``); ``listing_file`` instead names a JSON file of that shape, re-read at the
    start of each listing. ``faults`` may also be replaced while the server runs.
    """

    def __init__(
        self,
        listings: Listings | None = None,
        *,
        page_size: int = 100,
        faults: Faults | None = None,
        listing_file: Path | None = None,
        port: int = 0,
        scale_sets: Listings | None = None,
        scale_set_file: Path | None = None,
        activity_log: Listings | None = None,
        activity_log_file: Path | None = None,
        attached_file: Path | None = None,
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self._state = ArmState(
            listings=normalized(listings or {}),
            page_size=page_size,
            faults=faults or Faults(),
            listing_file=listing_file,
            scale_sets=normalized(scale_sets or {}),
            scale_set_file=scale_set_file,
        )
        if listing_file is not None:
            self._state.listings = load_listing_file(listing_file)
        if scale_set_file is not None:
            self._state.scale_sets = load_listing_file(scale_set_file)
        self._state.activity = normalized(activity_log or {})
        self._state.activity_file = activity_log_file
        if activity_log_file is not None:
            self._state.activity = load_listing_file(activity_log_file)
        self._state.attached_file = attached_file
        if attached_file is not None:
            self._state.attached = load_attached_file(attached_file)
        super().__init__(handler_for(self._state), port, name="fake-arm")

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in arrival order."""
        with self._state.lock:
            return list(self._state.requests)

    @property
    def graph(self) -> GraphState:
        """The fake Resource Graph's overrides, management groups, quota and the queries it received."""
        return self._state.graph

    @property
    def costs(self) -> CostState:
        """The fake Cost Management's bills, paging, throttling and the queries it received."""
        return self._state.costs

    @property
    def faults(self) -> Faults:
        return self._state.faults

    @faults.setter
    def faults(self, value: Faults) -> None:
        with self._state.lock:
            self._state.faults = value
            self._state.served = 0

    def on_request(self, hook: Callable[[RecordedRequest], None] | None) -> None:
        """Call ``hook`` with each request as it arrives, before it is answered (a test starts a storage
        outage when a given listing begins, say)."""
        with self._state.lock:
            self._state.on_request = hook

    def set_vms(self, subscription_id: str, vms: Sequence[Mapping[str, Any]]) -> None:
        """Replace the VMs listed for a subscription (e.g. a VM shut down from inside its guest)."""
        with self._state.lock:
            self._state.listings[subscription_id.lower()] = [dict(vm) for vm in vms]

    def set_scale_sets(self, subscription_id: str, entries: Sequence[Mapping[str, Any]]) -> None:
        """Replace a subscription's scale sets: ``{"scaleSet": make_scale_set(...), "instances": [...]}``."""
        with self._state.lock:
            self._state.scale_sets[subscription_id.lower()] = [dict(entry) for entry in entries]

    def set_activity_log(self, subscription_id: str, records: Sequence[Mapping[str, Any]]) -> None:
        """Replace the Activity Log records served for a subscription."""
        with self._state.lock:
            self._state.activity[subscription_id.lower()] = [dict(record) for record in records]

    def set_attached(
        self,
        subscription_id: str,
        *,
        disks: Sequence[Mapping[str, Any]] = (),
        nics: Sequence[Mapping[str, Any]] = (),
        public_ips: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        """Replace a subscription's Disks - List, Network Interfaces - List All and Public IP Addresses - List
        All entries (published shapes: ``devtools.fake_arm.attached``)."""
        kinds = {"disks": disks, "networkInterfaces": nics, "publicIPAddresses": public_ips}
        with self._state.lock:
            self._state.attached[subscription_id.lower()] = normalized_attached(kinds)
