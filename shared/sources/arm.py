"""Azure Resource Manager client: Virtual Machines - List All in status-only mode, page by page; the
scale sets of a subscription with their Uniform instances (``$expand=instanceView``); and one VM's
instance view (read when a health event arrives). List All also without ``statusOnly``: the VMs' models
(size, OS, priority, tags) for the inventory.

The timer reconcile needs it because some power changes raise no event at all (shutdown from inside
the guest, Spot eviction, host failures): only a listing shows them. Pages are streamed so memory grows
with the page size, not with the number of VMs. On ``http://`` loopback (local emulation against a fake
ARM) no token is sent and no credential is needed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any, TypeVar

from azure.core import PipelineClient
from azure.core.pipeline.transport import HttpTransport
from azure.core.rest import HttpRequest, HttpResponse

from shared.domain.ids import ScaleSetId, VmId, require_part
from shared.errors import ConfigurationError
from shared.settings import check_endpoint
from shared.sources._pager import arm_page, iter_pages
from shared.sources._pipeline import CredentialSource, LazyPipeline, build_pipeline
from shared.sources.instance_view import instance_view_path, read_instance_view
from shared.sources.scale_set_listing import ListedScaleSet, parse_instance_page, parse_scale_set_page
from shared.sources.vm_listing import ListedVm, parse_listing_page
from shared.sources.vm_models import ListedModel, parse_model_page

logger = logging.getLogger(__name__)
T = TypeVar("T")

# The most pages one listing reads (ARM does not publish its page sizes): past them a listing fails as
# incomplete, since a next link that changes on every page would otherwise be followed forever.
MAX_VM_PAGES = 1_000  # List All, status or models: 100,000 VMs even at 100 a page
MAX_SCALE_SET_PAGES = 1_000  # Scale Sets - List All, per subscription
MAX_INSTANCE_PAGES = 100  # one Uniform scale set's instances: at most 1,000, so 10 a page at least


class ArmClient:
    """Lists the VMs of a subscription with their run-time status, page by page.

    The pipeline is built on the first request, so constructing the client at startup costs nothing;
    ``credential`` may be a callable that builds the credential then. One page costs at most
    ``page_timeout`` seconds with its retries, of which at most ``max_retry_wait`` asleep: a longer
    ``Retry-After`` fails the page (and the listing) at once instead of holding the timer.
    """

    def __init__(
        self,
        endpoint: str,
        api_version: str,
        credential: CredentialSource | None = None,
        *,
        retry_total: int = 5,
        retry_backoff_factor: float = 0.8,
        timeout: float = 60.0,
        max_retry_wait: float = 30.0,
        page_timeout: float = 120.0,
        transport: HttpTransport[Any, Any] | None = None,
    ) -> None:
        self._endpoint = endpoint.strip().rstrip("/")
        self._emulated = check_endpoint(self._endpoint, "the ARM endpoint")
        if not api_version or not api_version.strip():
            raise ConfigurationError("the Compute api-version must not be empty")
        if credential is None and not self._emulated:
            raise ConfigurationError(f"the ARM endpoint {self._endpoint} needs a credential")
        self._api_version = api_version.strip()
        self._credential = credential
        self._retry_total = retry_total
        self._retry_backoff_factor = retry_backoff_factor
        self._timeout = timeout
        self._max_retry_wait = max_retry_wait
        self._page_timeout = page_timeout
        self._transport = transport
        self._pipelines = LazyPipeline(self._build_pipeline)

    @property
    def endpoint(self) -> str:
        return self._endpoint

    @property
    def scope(self) -> str | None:
        """The token scope requested for this endpoint; ``None`` in local emulation (no token)."""
        return None if self._emulated else f"{self._endpoint}/.default"

    def iter_vm_pages(
        self, subscription_id: str, *, deadline: float | None = None
    ) -> Iterator[list[ListedVm]]:
        """Yield the VMs of ``subscription_id`` one page at a time, following ``nextLink`` verbatim.

        Raises ``ValueError`` at once if ``subscription_id`` is not a GUID. While iterating, raises
        ``ListingError`` if a page cannot be read after retries, past ``MAX_VM_PAGES`` pages or once
        ``deadline`` (``time.monotonic()``) has passed, so a partial listing is never mistaken for a
        complete one.
        """
        require_part("subscriptionId", subscription_id)
        first = HttpRequest(
            "GET",
            self._list_url(subscription_id),
            params={"api-version": self._api_version, "statusOnly": "true"},
        )
        return self._vm_pages(subscription_id, first, deadline)

    def get_instance_view(self, vm: VmId) -> ListedVm | None:
        """``vm``'s status now, from its instance view; ``None`` if it no longer exists.

        Raises ``UpstreamUnavailable`` when the read fails after the pipeline's retries.
        """
        url = f"{self._endpoint}{instance_view_path(vm)}"
        return read_instance_view(self._pipeline(), url, self._api_version, vm, self._timeout)

    def iter_scale_set_pages(
        self, subscription_id: str, *, deadline: float | None = None
    ) -> Iterator[list[ListedScaleSet]]:
        """The scale sets of ``subscription_id`` (Virtual Machine Scale Sets - List All), page by page: at
        most ``MAX_SCALE_SET_PAGES``, none after ``deadline``."""
        require_part("subscriptionId", subscription_id)
        provider = "providers/Microsoft.Compute/virtualMachineScaleSets"
        url = f"{self._endpoint}/subscriptions/{subscription_id}/{provider}"
        first = HttpRequest("GET", url, params={"api-version": self._api_version})
        subject = f"scale sets of subscription {subscription_id}"
        pages = self._bodies(first, subject, "scale set List All", MAX_SCALE_SET_PAGES, deadline)
        return _parsed(pages, subject, parse_scale_set_page)

    def iter_instance_pages(
        self, scale_set: ScaleSetId, *, deadline: float | None = None
    ) -> Iterator[list[ListedVm]]:
        """The instances of one Uniform scale set with their instance view, page by page (at most
        ``MAX_INSTANCE_PAGES``, none after ``deadline``): the statuses are those of List All
        (``ProvisioningState/...``, ``PowerState/...``)."""
        url = f"{self._endpoint}{scale_set.resource_id}/virtualMachines"
        params = {"api-version": self._api_version, "$expand": "instanceView"}
        first = HttpRequest("GET", url, params=params)
        subject = f"instances of {scale_set.resource_id}"
        pages = self._bodies(first, subject, "scale set VMs List", MAX_INSTANCE_PAGES, deadline)
        return _parsed(pages, subject, parse_instance_page)

    def iter_fleet_pages(
        self, subscription_id: str, *, deadline: float | None = None
    ) -> Iterator[list[ListedVm]]:
        """Every VM of the subscription: List All's pages, then each Uniform scale set's instance pages.

        One ``ListingError`` anywhere ends the whole listing, so nothing is ever judged gone from part of
        it; no page is requested after ``deadline``. Round trips: List All pages + scale set pages + one
        or more per Uniform scale set.
        """
        yield from self.iter_vm_pages(subscription_id, deadline=deadline)
        for scale_sets in self.iter_scale_set_pages(subscription_id, deadline=deadline):
            for listed in scale_sets:
                if listed.is_uniform:
                    yield from self.iter_instance_pages(listed.scale_set, deadline=deadline)

    def iter_json_pages(
        self,
        path: str,
        params: dict[str, str],
        *,
        subject: str,
        max_pages: int,
        deadline: float | None = None,
    ) -> Iterator[Any]:
        """Every page (JSON body) of another Resource Manager list API under this endpoint, through the same
        pipeline (token, 429 and ``Retry-After`` rules) and the one guarded pager: ``ListingError`` on any
        failure, past ``max_pages`` or after ``deadline``. ``path`` starts with ``/subscriptions/``."""
        first = HttpRequest("GET", f"{self._endpoint}{path}", params=params)
        return self._bodies(first, subject, subject, max_pages, deadline)

    def iter_model_pages(
        self, subscription_id: str, *, deadline: float | None = None
    ) -> Iterator[list[ListedModel]]:
        """The same listing without ``statusOnly``: each VM's model (size, OS, priority, tags), page by page.

        Same paging, retry, page cap, deadline and partial-listing rules as ``iter_vm_pages``.
        """
        require_part("subscriptionId", subscription_id)
        first = HttpRequest("GET", self._list_url(subscription_id), params={"api-version": self._api_version})
        subject = f"VM models of subscription {subscription_id}"
        return _parsed(
            self._bodies(first, subject, "List All", MAX_VM_PAGES, deadline), subject, parse_model_page
        )

    def _list_url(self, subscription_id: str) -> str:
        return f"{self._endpoint}/subscriptions/{subscription_id}/providers/Microsoft.Compute/virtualMachines"

    def close(self) -> None:
        """Close the transport; the credential belongs to whoever passed it in."""
        self._pipelines.close()

    def __enter__(self) -> ArmClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _vm_pages(
        self, subscription_id: str, first: HttpRequest, deadline: float | None
    ) -> Iterator[list[ListedVm]]:
        pages = self._bodies(
            first, f"VMs of subscription {subscription_id}", "List All", MAX_VM_PAGES, deadline
        )
        vm_count = page_count = 0
        for body in pages:
            vms, _ = parse_listing_page(body)
            page_count += 1
            vm_count += len(vms)
            logger.debug("List All page %s of subscription %s: %s VMs", page_count, subscription_id, len(vms))
            yield vms
        logger.info("Listed %s VMs in %s page(s) for subscription %s", vm_count, page_count, subscription_id)

    def _bodies(
        self, first: HttpRequest, subject: str, what: str, max_pages: int, deadline: float | None
    ) -> Iterator[Any]:
        """The JSON bodies of a Resource Manager listing (``value`` + ``nextLink`` pages of ``what``)."""
        return iter_pages(
            self._pipeline(),
            first,
            subject=subject,
            next_link=lambda body: arm_page(body, what)[1],
            timeout=self._timeout,
            max_pages=max_pages,
            deadline=deadline,
        )

    def _pipeline(self) -> PipelineClient[HttpRequest, HttpResponse]:
        return self._pipelines.get()

    def _build_pipeline(self) -> PipelineClient[HttpRequest, HttpResponse]:
        return build_pipeline(
            self._endpoint,
            credential=self._credential,
            scope=self.scope,
            retry_total=self._retry_total,
            retry_backoff_factor=self._retry_backoff_factor,
            transport=self._transport,
            allowed_query_params=["statusOnly", "$expand", "$filter", "$select"],
            max_retry_wait=self._max_retry_wait,
            total_timeout=self._page_timeout,
        )


def _parsed(
    pages: Iterator[Any], subject: str, parse: Callable[[Any], tuple[list[T], str | None]]
) -> Iterator[list[T]]:
    count = 0
    for body in pages:
        items, _ = parse(body)
        count += len(items)
        yield items
    logger.debug("Listed %s item(s) of %s", count, subject)
