"""Azure Resource Graph client: the reconcile sweep's VM and Uniform instance rows across up to 100
subscriptions a query, and the enabled subscriptions under a management group.

``POST {arm}/providers/Microsoft.ResourceGraph/resources?api-version=2024-04-01`` through the same azure-core
pipeline as the Resource Manager client (same credential and token scope, same capped retries and
deadlines). Pages are 1,000 rows; the next page is the same query with the previous answer's
``$skipToken``; each query reads at most ``MAX_PAGES`` pages, and a failure anywhere raises ``ListingError``
so a partial sweep is never taken for a complete one.

Throttling (Learn, "Guidance for throttled requests"): about 15 queries per 5 seconds per user. Every
answer says how many queries are left (``x-ms-user-quota-remaining``) and when the quota resets
(``x-ms-user-quota-resets-after``); with none left the client waits for the reset before its next query
(never past the deadline, never longer than ``max_retry_wait``). A 429 is retried by the pipeline after
``Retry-After`` or, without it, after the quota's reset time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from azure.core import PipelineClient
from azure.core.pipeline.transport import HttpTransport
from azure.core.rest import HttpRequest, HttpResponse

from shared.domain.ids import require_part
from shared.errors import ConfigurationError
from shared.settings import check_endpoint
from shared.sources._pager import ListingError, read_json_page
from shared.sources._pipeline import CredentialSource, LazyPipeline, build_pipeline
from shared.sources.graph_rows import (
    SUBSCRIPTIONS_QUERY,
    SWEEP_QUERIES,
    Quota,
    listed_from_row,
    parse_graph_page,
    read_quota,
    subscription_from_row,
)
from shared.sources.vm_listing import ListedVm

logger = logging.getLogger(__name__)

API_VERSION = "2024-04-01"
PATH = "/providers/Microsoft.ResourceGraph/resources"
PAGE_ROWS = 1_000  # the most ``$top`` allows
MAX_SUBSCRIPTIONS_PER_QUERY = 100
# One query's pages: 500,000 rows, five times the largest fleet measured (bench/sweep_cost.py).
MAX_PAGES = 500
# A management group scope of more than 10,000 subscriptions is answered for the first 10,000 only.
SUBSCRIPTION_LIMIT_HIT = "x-ms-tenant-subscription-limit-hit"


class ResourceGraphClient:
    """Queries Resource Graph, one page at a time, counting the queries it sends (``queries_sent``) and
    keeping the last quota headers it saw (``quota``)."""

    def __init__(
        self,
        endpoint: str,
        credential: CredentialSource | None = None,
        *,
        retry_total: int = 5,
        retry_backoff_factor: float = 0.8,
        timeout: float = 60.0,
        max_retry_wait: float = 30.0,
        page_timeout: float = 120.0,
        transport: HttpTransport[Any, Any] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._endpoint = endpoint.strip().rstrip("/")
        self._emulated = check_endpoint(self._endpoint, "the ARM endpoint")
        if credential is None and not self._emulated:
            raise ConfigurationError(f"the ARM endpoint {self._endpoint} needs a credential")
        self._credential = credential
        self._retry_total, self._retry_backoff_factor = retry_total, retry_backoff_factor
        self._max_retry_wait, self._page_timeout = max_retry_wait, page_timeout
        self._timeout = timeout
        self._transport = transport
        self._sleep = sleep
        self._pipelines = LazyPipeline(self._build_pipeline)
        self.queries_sent = 0
        self.quota: Quota | None = None
        self.waited_for_quota = 0.0
        self.subscription_limit_hit = False

    def iter_fleet_pages(
        self, subscriptions: Sequence[str], *, deadline: float | None = None
    ) -> Iterator[list[ListedVm]]:
        """The VMs and Uniform scale set instances of ``subscriptions`` (at most 100), page by page: the VM
        query's pages, then the instance query's."""
        subs = _batch(subscriptions)
        for query in SWEEP_QUERIES:
            subject = f"Resource Graph sweep of {len(subs)} subscription(s)"
            for rows in self._pages({"subscriptions": subs, "query": query}, subject, deadline):
                yield [vm for vm in (listed_from_row(row, index) for index, row in enumerate(rows)) if vm]

    def list_subscriptions_under(self, management_group: str, *, deadline: float | None = None) -> list[str]:
        """The enabled subscriptions under ``management_group`` (at any depth), lower-cased, sorted."""
        scope = {"managementGroups": [management_group], "query": SUBSCRIPTIONS_QUERY}
        found: set[str] = set()
        self.subscription_limit_hit = False
        for rows in self._pages(scope, f"subscriptions under {management_group}", deadline):
            found.update(sub for sub in map(subscription_from_row, rows) if sub)
        if self.subscription_limit_hit:
            logger.error(
                "Resource Graph answered only the first 10,000 subscriptions under %s "
                "(x-ms-tenant-subscription-limit-hit): the others are not watched",
                management_group,
            )
        return sorted(found)

    def _pages(
        self, request_body: dict[str, Any], subject: str, deadline: float | None
    ) -> Iterator[list[Any]]:
        token: str | None = None
        seen: set[str] = set()
        for pages_read in range(MAX_PAGES):
            options: dict[str, Any] = {"resultFormat": "objectArray", "$top": PAGE_ROWS}
            if token:
                options["$skipToken"] = token
            body = self._query({**request_body, "options": options}, subject, pages_read, deadline)
            try:
                page = parse_graph_page(body)
            except ValueError as err:
                raise ListingError(subject, pages_read, f"malformed answer: {err}") from err
            yield page.rows
            if page.skip_token is None:
                return
            if page.skip_token in seen:
                raise ListingError(subject, pages_read + 1, "the $skipToken repeats a page already read")
            seen.add(token := page.skip_token)
        raise ListingError(subject, MAX_PAGES, f"more pages after {MAX_PAGES:,}, the most it reads")

    def _query(self, body: dict[str, Any], subject: str, pages_read: int, deadline: float | None) -> Any:
        self._wait_for_quota(subject, pages_read, deadline)
        url, params = f"{self._endpoint}{PATH}", {"api-version": API_VERSION}
        request = HttpRequest("POST", url, params=params, json=body)
        self.queries_sent += 1
        pipeline = self._pipeline()
        response, answer = read_json_page(pipeline, request, subject, pages_read, self._timeout, deadline)
        self.quota = read_quota(response.headers)
        if response.headers.get(SUBSCRIPTION_LIMIT_HIT, "").lower() == "true":
            self.subscription_limit_hit = True
        return answer

    def _wait_for_quota(self, subject: str, pages_read: int, deadline: float | None) -> None:
        """With no query left, wait until the quota resets, if that ends in time; fail otherwise."""
        quota = self.quota
        if quota is None or quota.remaining != 0 or not quota.resets_after:
            return
        wait = quota.resets_after
        left = None if deadline is None else deadline - time.monotonic()
        if wait > self._max_retry_wait or (left is not None and wait >= left):
            raise ListingError(subject, pages_read, f"Resource Graph quota spent; it resets in {wait:.0f} s")
        logger.info("Resource Graph quota spent: waiting %.1f s for it to reset", wait)
        self._sleep(wait)
        self.waited_for_quota += wait
        self.quota = None

    def close(self) -> None:
        self._pipelines.close()

    def _pipeline(self) -> PipelineClient[HttpRequest, HttpResponse]:
        return self._pipelines.get()

    def _build_pipeline(self) -> PipelineClient[HttpRequest, HttpResponse]:
        return build_pipeline(
            self._endpoint,
            credential=self._credential,
            scope=None if self._emulated else f"{self._endpoint}/.default",
            retry_total=self._retry_total,
            retry_backoff_factor=self._retry_backoff_factor,
            transport=self._transport,
            max_retry_wait=self._max_retry_wait,
            total_timeout=self._page_timeout,
            fallback_retry_after=_quota_reset,
            read_only_posts=True,
        )


def _quota_reset(response: Any) -> float | None:
    """A 429 without ``Retry-After`` is retried when the user's quota resets."""
    if getattr(response, "status_code", None) != 429:
        return None
    return read_quota(response.headers).resets_after


def _batch(subscriptions: Sequence[str]) -> list[str]:
    subs = [require_part("subscriptionId", sub).lower() for sub in subscriptions]
    if not 0 < len(subs) <= MAX_SUBSCRIPTIONS_PER_QUERY:
        most = MAX_SUBSCRIPTIONS_PER_QUERY
        raise ValueError(f"a sweep query covers 1 to {most} subscriptions, got {len(subs)}")
    return subs
