"""The azure-core pipeline every Azure API client here is built on.

``RetryPolicy`` retries 408/429/5xx and connection errors and sleeps for ``Retry-After``, here capped
(``_retry.BoundedRetryPolicy``: at most ``max_retry_wait`` seconds of sleep per request, and
``total_timeout`` for the request and all its retries);
``HttpLoggingPolicy`` logs only allow-listed headers, so ``Authorization`` shows as ``REDACTED``. With no
token scope (local emulation on loopback, or an anonymous API) no token is requested or sent.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any, cast

from azure.core import PipelineClient
from azure.core.credentials import TokenCredential
from azure.core.pipeline.policies import (
    BearerTokenCredentialPolicy,
    HeadersPolicy,
    HttpLoggingPolicy,
    RequestIdPolicy,
    UserAgentPolicy,
)
from azure.core.pipeline.transport import HttpTransport
from azure.core.rest import HttpRequest, HttpResponse

from shared.sources._retry import BoundedRetryPolicy, RetryAfter

USER_AGENT_MONIKER = "vm-billing-ledger/0.1.0"

CredentialSource = TokenCredential | Callable[[], TokenCredential]


def build_pipeline(
    endpoint: str,
    *,
    credential: CredentialSource | None,
    scope: str | None,
    retry_total: int,
    retry_backoff_factor: float,
    transport: HttpTransport[Any, Any] | None,
    allowed_query_params: Sequence[str] = (),
    max_retry_wait: float = 30.0,
    total_timeout: float = 120.0,
    fallback_retry_after: RetryAfter | None = None,
    read_only_posts: bool = False,
) -> PipelineClient[HttpRequest, HttpResponse]:
    """A pipeline for ``endpoint``; with ``scope``, every request carries a token for it.

    ``credential`` may be a callable, called only when the first token is needed, so that building a
    client (at startup) never builds an identity.
    """
    policies: list[Any] = [
        RequestIdPolicy(),
        HeadersPolicy({"Accept": "application/json"}),
        UserAgentPolicy(sdk_moniker=USER_AGENT_MONIKER),
        BoundedRetryPolicy(
            max_wait=max_retry_wait,
            fallback_retry_after=fallback_retry_after,
            read_only_posts=read_only_posts,
            retry_total=retry_total,
            retry_backoff_factor=retry_backoff_factor,
            timeout=total_timeout,
        ),
    ]
    if scope is not None:
        if credential is None:
            raise ValueError(f"a token for {scope} needs a credential")
        policies.append(BearerTokenCredentialPolicy(_resolve(credential), scope))
    # DEBUG, not azure-core's INFO: one record per page request would flood Application Insights.
    policies.append(
        HttpLoggingPolicy(
            http_logging_level=logging.DEBUG, additional_allowed_query_params=list(allowed_query_params)
        )
    )
    return PipelineClient(endpoint, policies=policies, transport=transport)


def _resolve(credential: CredentialSource) -> TokenCredential:
    if hasattr(credential, "get_token"):
        return cast(TokenCredential, credential)
    factory: Callable[[], TokenCredential] = credential
    return factory()


class LazyPipeline:
    """A client's pipeline, built on first use (never at startup) by ``build`` and closed by ``close``."""

    def __init__(self, build: Callable[[], PipelineClient[HttpRequest, HttpResponse]]) -> None:
        self._build = build
        self._client: PipelineClient[HttpRequest, HttpResponse] | None = None
        self._lock = threading.Lock()

    def get(self) -> PipelineClient[HttpRequest, HttpResponse]:
        with self._lock:
            if self._client is None:
                self._client = self._build()
            return self._client

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()
