"""Azure Resource Manager client: Virtual Machines - List All, status only or full models, page by page.

The timer reconcile needs it because some power changes raise no event at all (shutdown from inside
the guest, Spot eviction, host failures): only a listing shows them. Pages are streamed so memory grows
with the page size, not with the number of VMs. On ``http://`` loopback (local emulation against a fake
ARM) no token is sent and no credential is needed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from types import TracebackType
from typing import Any

from azure.core import PipelineClient
from azure.core.pipeline.transport import HttpTransport
from azure.core.rest import HttpRequest, HttpResponse

from shared.domain.ids import require_part
from shared.errors import ConfigurationError
from shared.settings import check_endpoint
from shared.sources._pager import arm_page, iter_pages
from shared.sources._pipeline import CredentialSource, build_pipeline
from shared.sources.vm_listing import ListedVm, parse_listing_page
from shared.sources.vm_models import ListedModel, parse_model_page

logger = logging.getLogger(__name__)


class ArmClient:
    """Lists the VMs of a subscription with their run-time status, page by page.

    The pipeline is built on the first request, so constructing the client at startup costs nothing;
    ``credential`` may be a callable that builds the credential then.
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
        self._transport = transport
        self._client: PipelineClient[HttpRequest, HttpResponse] | None = None
        self._lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        return self._endpoint

    @property
    def scope(self) -> str | None:
        """The token scope requested for this endpoint; ``None`` in local emulation (no token)."""
        return None if self._emulated else f"{self._endpoint}/.default"

    def iter_vm_pages(self, subscription_id: str) -> Iterator[list[ListedVm]]:
        """Yield the VMs of ``subscription_id`` one page at a time, following ``nextLink`` verbatim.

        Raises ``ValueError`` at once if ``subscription_id`` is not a GUID. While iterating, raises
        ``ListingError`` if a page cannot be read after retries, so a partial listing is never
        mistaken for a complete one.
        """
        require_part("subscriptionId", subscription_id)
        first = HttpRequest(
            "GET",
            self._list_url(subscription_id),
            params={"api-version": self._api_version, "statusOnly": "true"},
        )
        return self._vm_pages(subscription_id, first)

    def iter_model_pages(self, subscription_id: str) -> Iterator[list[ListedModel]]:
        """The same listing without ``statusOnly``: each VM's model (size, OS, priority, tags), page by page.

        Same paging, retry and partial-listing rules as ``iter_vm_pages``.
        """
        require_part("subscriptionId", subscription_id)
        first = HttpRequest("GET", self._list_url(subscription_id), params={"api-version": self._api_version})
        pages = iter_pages(
            self._pipeline(),
            first,
            subject=f"VM models of subscription {subscription_id}",
            next_link=lambda body: arm_page(body, "List All")[1],
            timeout=self._timeout,
        )
        return (parse_model_page(body)[0] for body in pages)

    def _list_url(self, subscription_id: str) -> str:
        return f"{self._endpoint}/subscriptions/{subscription_id}/providers/Microsoft.Compute/virtualMachines"

    def close(self) -> None:
        """Close the transport; the credential belongs to whoever passed it in."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def __enter__(self) -> ArmClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _vm_pages(self, subscription_id: str, first: HttpRequest) -> Iterator[list[ListedVm]]:
        pages = iter_pages(
            self._pipeline(),
            first,
            subject=f"VMs of subscription {subscription_id}",
            next_link=lambda body: arm_page(body, "List All")[1],
            timeout=self._timeout,
        )
        vm_count = page_count = 0
        for body in pages:
            vms, _ = parse_listing_page(body)
            page_count += 1
            vm_count += len(vms)
            logger.debug("List All page %s of subscription %s: %s VMs", page_count, subscription_id, len(vms))
            yield vms
        logger.info("Listed %s VMs in %s page(s) for subscription %s", vm_count, page_count, subscription_id)

    def _pipeline(self) -> PipelineClient[HttpRequest, HttpResponse]:
        with self._lock:
            if self._client is None:
                self._client = build_pipeline(
                    self._endpoint,
                    credential=self._credential,
                    scope=self.scope,
                    retry_total=self._retry_total,
                    retry_backoff_factor=self._retry_backoff_factor,
                    transport=self._transport,
                    allowed_query_params=["statusOnly"],
                )
            return self._client
