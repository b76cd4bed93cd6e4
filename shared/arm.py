"""Azure Resource Manager client for "Virtual Machines - List All" in status-only mode.

The timer reconcile needs it because some power changes raise no event at all (shutdown from inside
the guest, Spot eviction, host failures): only a listing shows them. Pages are streamed so memory
grows with the page size, not with the number of VMs. A VM absent from a *complete* listing is gone,
while a listing that failed part way proves nothing, so any failure after retries raises
``ListingError`` carrying how many pages had been read.

Built on the azure-core pipeline: its ``RetryPolicy`` retries 408/429/5xx and connection errors and
sleeps for ``Retry-After`` when the server sends one; its ``HttpLoggingPolicy`` logs only allow-listed
headers, so the ``Authorization`` header shows as ``REDACTED``. On ``http://`` loopback (local
emulation against a fake ARM) no token is sent and no credential is needed.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from azure.core import PipelineClient
from azure.core.credentials import TokenCredential
from azure.core.exceptions import AzureError
from azure.core.pipeline.policies import (
    BearerTokenCredentialPolicy,
    HeadersPolicy,
    HttpLoggingPolicy,
    RequestIdPolicy,
    RetryPolicy,
    UserAgentPolicy,
)
from azure.core.pipeline.transport import HttpTransport
from azure.core.rest import HttpRequest, HttpResponse

from shared.errors import ConfigurationError
from shared.resource_ids import require_part
from shared.settings import Settings, get_settings, is_loopback_http
from shared.states import normalize_power_state

logger = logging.getLogger(__name__)

USER_AGENT_MONIKER = "vm-billing-ledger/0.1.0"
_PROVISIONING_PREFIX = "provisioningstate/"
_POWER_PREFIX = "powerstate/"
_HIBERNATED_CODE = "hibernationstate/hibernated"
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Enough of an ARM error message to diagnose (role missing, throttled) without flooding the log.
_MAX_ERROR_TEXT = 300


class ListingError(RuntimeError):
    """A List All that did not complete: the VMs seen so far are not the whole subscription.

    ``pages_read`` counts the pages already yielded; ``status_code`` is the last HTTP status when the
    failure was an HTTP answer, ``None`` for connection errors, malformed bodies and refused links.
    """

    def __init__(
        self, subscription_id: str, pages_read: int, message: str, *, status_code: int | None = None
    ) -> None:
        super().__init__(
            f"listing VMs of subscription {subscription_id} failed after {pages_read} page(s): {message}"
        )
        self.subscription_id = subscription_id
        self.pages_read = pages_read
        self.message = message
        self.status_code = status_code


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


def parse_listing_page(body: Mapping[str, Any]) -> tuple[list[ListedVm], str | None]:
    """The VMs of one List All response body and its ``nextLink`` (``None`` on the last page).

    Raises ``ValueError`` when the body is not a listing page: a page read as empty by mistake would
    make every VM look deleted. Single VM entries without an ``id`` are skipped with a warning.
    """
    if not isinstance(body, Mapping):
        raise ValueError(f"a List All page is a JSON object, got {type(body).__name__}")
    entries = body.get("value")
    if not isinstance(entries, list):
        raise ValueError("a List All page needs a 'value' array")
    next_link = body.get("nextLink")
    if next_link is not None and not isinstance(next_link, str):
        raise ValueError(f"'nextLink' must be a string, got {type(next_link).__name__}")
    vms = [vm for vm in (_listed_vm(entry, index) for index, entry in enumerate(entries)) if vm]
    return vms, next_link or None


def _listed_vm(entry: Any, index: int) -> ListedVm | None:
    if not isinstance(entry, Mapping):
        logger.warning("Skipping List All entry %s: not a JSON object", index)
        return None
    resource_id = entry.get("id")
    if not isinstance(resource_id, str) or not resource_id.strip():
        logger.warning("Skipping List All entry %s (name %r): it has no id", index, entry.get("name"))
        return None
    codes = _status_codes(entry)
    power_code = _first_with_prefix(codes, _POWER_PREFIX)
    return ListedVm(
        resource_id=resource_id,
        provisioning_state=_remainder(_first_with_prefix(codes, _PROVISIONING_PREFIX), _PROVISIONING_PREFIX),
        power_state=normalize_power_state(power_code) if power_code else None,
        hibernated=any(code.lower() == _HIBERNATED_CODE for code in codes),
    )


def _status_codes(entry: Mapping[str, Any]) -> list[str]:
    """The ``properties.instanceView.statuses[].code`` strings, tolerating any missing level."""
    properties = entry.get("properties")
    view = properties.get("instanceView") if isinstance(properties, Mapping) else None
    statuses = view.get("statuses") if isinstance(view, Mapping) else None
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


class ArmClient:
    """Lists the VMs of a subscription with their run-time status, page by page.

    The pipeline (and, for https without an explicit credential, a ``DefaultAzureCredential``) is
    built on the first request, so constructing the client at startup costs nothing.
    """

    def __init__(
        self,
        endpoint: str,
        api_version: str,
        credential: TokenCredential | None = None,
        *,
        retry_total: int = 5,
        retry_backoff_factor: float = 0.8,
        timeout: float = 60.0,
        transport: HttpTransport | None = None,
    ) -> None:
        self._endpoint = endpoint.strip().rstrip("/")
        self._emulated = _check_endpoint(self._endpoint)
        if not api_version or not api_version.strip():
            raise ConfigurationError("the Compute api-version must not be empty")
        self._api_version = api_version.strip()
        self._credential = credential
        self._owns_credential = False
        self._retry_total = retry_total
        self._retry_backoff_factor = retry_backoff_factor
        self._timeout = timeout
        self._transport = transport
        self._client: PipelineClient | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        credential: TokenCredential | None = None,
        *,
        transport: HttpTransport | None = None,
    ) -> ArmClient:
        """A client for ``Settings.arm_endpoint`` and ``Settings.compute_api_version``."""
        return cls(settings.arm_endpoint, settings.compute_api_version, credential, transport=transport)

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
        first_url = (
            f"{self._endpoint}/subscriptions/{subscription_id}/providers/Microsoft.Compute/virtualMachines"
        )
        first = HttpRequest("GET", first_url, params={"api-version": self._api_version, "statusOnly": "true"})
        return self._pages(subscription_id, first)

    def close(self) -> None:
        """Close the transport and any credential this client created itself."""
        with self._lock:
            client, self._client = self._client, None
            owned = self._credential if self._owns_credential else None
            if owned is not None:
                self._credential, self._owns_credential = None, False
        if client is not None:
            client.close()
        if owned is not None and hasattr(owned, "close"):
            owned.close()

    def __enter__(self) -> ArmClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _pages(self, subscription_id: str, request: HttpRequest) -> Iterator[list[ListedVm]]:
        pages_read = 0
        vm_count = 0
        followed: set[str] = set()
        while True:
            body = self._read_page(subscription_id, request, pages_read)
            try:
                vms, next_link = parse_listing_page(body)
            except ValueError as err:
                raise ListingError(subscription_id, pages_read, f"malformed page: {err}") from err
            pages_read += 1
            vm_count += len(vms)
            logger.debug("List All page %s of subscription %s: %s VMs", pages_read, subscription_id, len(vms))
            yield vms
            if next_link is None:
                break
            self._check_next_link(subscription_id, pages_read, next_link, followed)
            request = HttpRequest("GET", next_link)
        logger.info("Listed %s VMs in %s page(s) for subscription %s", vm_count, pages_read, subscription_id)

    def _read_page(self, subscription_id: str, request: HttpRequest, pages_read: int) -> Any:
        try:
            response = self._pipeline().send_request(
                request, connection_timeout=self._timeout, read_timeout=self._timeout
            )
            content = response.read()
        except AzureError as err:
            raise ListingError(subscription_id, pages_read, f"request failed: {err}") from err
        if response.status_code != 200:
            raise ListingError(
                subscription_id, pages_read, _describe_error(response), status_code=response.status_code
            )
        try:
            return json.loads(content)
        except ValueError as err:
            raise ListingError(subscription_id, pages_read, "the response body is not JSON") from err

    def _check_next_link(self, subscription_id: str, pages_read: int, link: str, followed: set[str]) -> None:
        # A link to another origin would receive our bearer token; a repeated one would loop forever.
        if _origin(link) != _origin(self._endpoint):
            raise ListingError(subscription_id, pages_read, "nextLink points outside the ARM endpoint")
        if link in followed:
            raise ListingError(subscription_id, pages_read, "nextLink repeats a page already read")
        followed.add(link)

    def _pipeline(self) -> PipelineClient:
        with self._lock:
            if self._client is None:
                self._client = PipelineClient(
                    self._endpoint, policies=self._policies(), transport=self._transport
                )
            return self._client

    def _policies(self) -> list[Any]:
        policies: list[Any] = [
            RequestIdPolicy(),
            HeadersPolicy({"Accept": "application/json"}),
            UserAgentPolicy(sdk_moniker=USER_AGENT_MONIKER),
            RetryPolicy(retry_total=self._retry_total, retry_backoff_factor=self._retry_backoff_factor),
        ]
        if self.scope is not None:
            policies.append(BearerTokenCredentialPolicy(self._credential_for_https(), self.scope))
        # DEBUG, not azure-core's INFO: one record per page request would flood Application Insights.
        policies.append(
            HttpLoggingPolicy(
                http_logging_level=logging.DEBUG, additional_allowed_query_params=["statusOnly"]
            )
        )
        return policies

    def _credential_for_https(self) -> TokenCredential:
        if self._credential is None:
            # Imported here: azure.identity is heavy and only needed against real ARM.
            from azure.identity import DefaultAzureCredential

            self._credential = DefaultAzureCredential()
            self._owns_credential = True
        return self._credential


@functools.cache
def get_arm_client() -> ArmClient:
    """The process-wide client for the configured ARM endpoint, built on first use."""
    return ArmClient.from_settings(get_settings())


def _check_endpoint(endpoint: str) -> bool:
    """True for local emulation (loopback http, no token); raise for anything but https otherwise."""
    if is_loopback_http(endpoint):
        return True
    parts = urlsplit(endpoint)
    if parts.scheme == "https" and parts.hostname:
        return False
    raise ConfigurationError(
        f"the ARM endpoint must be https://, or http:// on a loopback address for local emulation; "
        f"got {endpoint!r}"
    )


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port


def _describe_error(response: HttpResponse) -> str:
    """``HTTP 403 AuthorizationFailed: ...`` from an ARM error body, or the bare status."""
    summary = f"HTTP {response.status_code}"
    try:
        body = json.loads(response.text())
    except ValueError:
        return summary
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return summary
    code, message = error.get("code"), error.get("message")
    if code:
        summary += f" {code}"
    if message:
        summary += f": {str(message)[:_MAX_ERROR_TEXT]}"
    return summary
