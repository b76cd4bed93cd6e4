"""Saved List All responses for ``reconcile --from-file``, in the shapes people actually keep.

- one List All page (``{"value": [...], "nextLink": ...}``) or an array of pages, as ARM returns them;
- an object mapping subscription ids to arrays of VMs (``samples/list-all.json``, what the demo's
  loopback fake of ARM serves), each taken as that subscription's complete listing.

A saved listing whose last page still has a ``nextLink`` is not the whole subscription: reconciling it
must delete nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.domain.ids import is_subscription_id, parse_vm_id
from shared.sources import ListedVm, ListingError, parse_listing_page


@dataclass(frozen=True)
class SavedListing:
    subscription: str
    vms: list[ListedVm]
    complete: bool

    def pages(self) -> Iterator[list[ListedVm]]:
        """The listing as reconcile reads it; an incomplete one fails after its VMs, deleting nothing."""
        yield self.vms
        if not self.complete:
            raise ListingError(
                f"VMs of subscription {self.subscription}",
                1,
                "the saved listing has a nextLink: it is not the whole subscription",
            )


def load_saved_listings(path: Path, subscriptions: list[str]) -> list[SavedListing]:
    """The listings in ``path``, per subscription (only ``subscriptions`` when given), in id order.

    Raises ``ValueError`` with a clear message when the file is none of the accepted shapes.
    """
    body = json.loads(path.read_text(encoding="utf-8"))
    if _is_per_subscription(body):
        listed = {sub.lower(): parse_listing_page({"value": vms})[0] for sub, vms in body.items()}
        complete = True
    else:
        pages = body if isinstance(body, list) else [body]
        parsed = [parse_listing_page(page) for page in pages]
        vms = [vm for page_vms, _ in parsed for vm in page_vms]
        complete = parsed[-1][1] is None if parsed else True
        listed = {}
        for vm in vms:
            vm_id = parse_vm_id(vm.resource_id)
            if vm_id is not None:
                listed.setdefault(vm_id.subscription_key, []).append(vm)
    wanted = [sub.lower() for sub in subscriptions] or sorted(listed)
    return [SavedListing(sub, listed.get(sub, []), complete) for sub in wanted]


def _is_per_subscription(body: Any) -> bool:
    return (
        isinstance(body, Mapping)
        and "value" not in body
        and all(isinstance(key, str) and is_subscription_id(key) for key in body)
        and all(isinstance(vms, list) for vms in body.values())
    )
