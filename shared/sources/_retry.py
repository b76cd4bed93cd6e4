"""azure-core's ``RetryPolicy`` with a cap on how long one request may spend waiting between retries.

azure-core sleeps for whatever ``Retry-After`` a service sends (``Retry-After: 100000`` is a day), so a
throttled listing could hold the reconcile timer far past its limit. Here the sleeps of one request add up
to at most ``max_wait`` seconds: a ``Retry-After`` beyond what is left is not waited for, the throttled
answer is returned as it is (the listing then fails and says so), and a warning names what was skipped.
A request may pass a shorter ``timeout`` for itself and its retries (what is left of a run's deadline);
no wait is begun that would end past it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from azure.core.pipeline import PipelineResponse
from azure.core.pipeline.policies import RetryPolicy

logger = logging.getLogger(__name__)

_WAITED = "vm_ledger_waited"
# Seconds to wait read from a throttled answer's own headers, or ``None``.
RetryAfter = Callable[[Any], float | None]
_ENDS = "vm_ledger_ends"


class BoundedRetryPolicy(RetryPolicy[Any, Any]):
    """Retries as ``RetryPolicy`` does, sleeping at most ``max_wait`` seconds in all for one request, and
    never past the request's ``timeout``."""

    def __init__(
        self,
        *,
        max_wait: float,
        fallback_retry_after: RetryAfter | None = None,
        read_only_posts: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.max_wait = max_wait
        self._fallback_retry_after = fallback_retry_after
        if read_only_posts:  # a query sent as POST (Resource Graph) changes nothing: safe to send again
            self._method_whitelist = self._method_whitelist | {"POST"}

    def get_retry_after(self, response: PipelineResponse[Any, Any]) -> float | None:
        """``Retry-After`` (or its ``-ms`` variants), else what the service's own header says (Resource
        Graph's ``x-ms-user-quota-resets-after``)."""
        delay = super().get_retry_after(response)
        if delay is None and self._fallback_retry_after is not None:
            delay = self._fallback_retry_after(response.http_response)
        return delay

    def configure_retries(self, options: dict[str, Any]) -> dict[str, Any]:
        settings = super().configure_retries(options)
        settings[_WAITED] = 0.0
        # A request's own ``timeout`` (what is left of a run's deadline) may shorten the policy's, never
        # lengthen it.
        settings["timeout"] = min(settings["timeout"], self.timeout)
        settings[_ENDS] = time.monotonic() + settings["timeout"]
        return settings

    def is_retry(self, settings: dict[str, Any], response: PipelineResponse[Any, Any]) -> bool:
        if not super().is_retry(settings, response):
            return False
        retry_after = self.get_retry_after(response)
        left = self._wait_left(settings)
        if retry_after is not None and retry_after > left:
            logger.warning(
                "%s %s answered %s with Retry-After %.0f s, more than the %.0f s of retry wait left: "
                "not waiting, the request fails",
                response.http_request.method,
                urlsplit(response.http_request.url).path,
                response.http_response.status_code,
                retry_after,
                left,
            )
            return False
        return True

    def sleep(self, settings: dict[str, Any], transport: Any, response: Any = None) -> None:
        delay = self.get_retry_after(response) if response is not None else None
        if delay is None:
            delay = self.get_backoff_time(settings)
        delay = min(delay, self._wait_left(settings))
        settings[_WAITED] += delay
        if delay > 0:
            transport.sleep(delay)

    def _wait_left(self, settings: dict[str, Any]) -> float:
        """Seconds this request may still sleep: what is left of ``max_wait`` and of its ``timeout``."""
        waited: float = settings[_WAITED]
        ends: float = settings[_ENDS]
        return max(0.0, min(self.max_wait - waited, ends - time.monotonic()))
