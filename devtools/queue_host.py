"""The Functions host's queue trigger, stood in for: how ``make serve``, ``make demo``, the tests and the
benchmarks run the queue-triggered function, since Core Tools (the real host) cannot be installed here.

It does what the host's Storage queues extension (5.x) does with host.json ``extensions.queues``: take up
to ``batchSize`` messages, decode their Base64, hand each to the user function as the Python worker
builds the argument (``devtools.worker.queue_argument``: trigger metadata ``Id``, ``DequeueCount``, the
times and ``PopReceipt``), and delete it when the function returns. When the function raises, the
message becomes visible again after ``visibilityTimeout``; once its ``DequeueCount`` has reached
``maxDequeueCount`` it is copied to ``<queue>-poison`` (created if missing) and deleted instead.

Not the host: messages of a batch run one after another (the host runs them in parallel), a message is
leased for the function timeout once instead of renewed, and there is no scaling. Loopback Azurite only.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.queue import QueueClient, QueueMessage, TextBase64DecodePolicy, TextBase64EncodePolicy

from devtools.worker import queue_argument

HOST_JSON = Path(__file__).resolve().parent.parent / "host.json"
POISON_SUFFIX = "-poison"
LEASE_SECONDS = 600  # host.json functionTimeout: how long a message stays invisible while it runs
_BINDING_EXPRESSION = re.compile(r"^%([A-Za-z][A-Za-z0-9_]*)%$")

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class QueueSettings:
    """host.json ``extensions.queues`` as the stand-in uses them (the host's defaults where absent)."""

    batch_size: int = 16
    max_dequeue_count: int = 5
    visibility_timeout: float = 0.0  # seconds before a failed message is visible again
    max_polling_interval: float = 60.0  # seconds between polls of an empty queue, at most

    @classmethod
    def from_host_json(cls, path: Path = HOST_JSON) -> QueueSettings:
        queues = json.loads(path.read_text(encoding="utf-8")).get("extensions", {}).get("queues", {})
        if queues.get("messageEncoding", "base64").lower() != "base64":
            raise ValueError("the stand-in decodes Base64 messages, as the host does by default")
        defaults = cls()
        return cls(
            batch_size=int(queues.get("batchSize", defaults.batch_size)),
            max_dequeue_count=int(queues.get("maxDequeueCount", defaults.max_dequeue_count)),
            visibility_timeout=_seconds(queues.get("visibilityTimeout"), defaults.visibility_timeout),
            max_polling_interval=_seconds(queues.get("maxPollingInterval"), defaults.max_polling_interval),
        )


@dataclass(frozen=True)
class Delivery:
    """What became of one message: processed, released for a retry, or moved to the poison queue."""

    message_id: str
    dequeue_count: int
    outcome: str  # "done", "retry" or "poison"
    error: str | None = None


def queue_client(connection_string: str, queue_name: str) -> QueueClient:
    """A client that reads messages as the trigger does (Base64) and writes them the same way."""
    return QueueClient.from_connection_string(
        connection_string,
        queue_name,
        message_encode_policy=TextBase64EncodePolicy(),
        message_decode_policy=TextBase64DecodePolicy(),
    )


def resolve_binding(queue_name: str, connection: str, environ: Mapping[str, str]) -> tuple[str, str]:
    """The queue name (a ``%SETTING%`` expression is read from ``environ``) and the connection string."""
    expression = _BINDING_EXPRESSION.match(queue_name)
    name = environ.get(expression.group(1), "") if expression else queue_name
    if not name:
        raise ValueError(f"the queue name {queue_name!r} resolves to nothing: set {queue_name.strip('%')}")
    connection_string = environ.get(connection, "")
    if not connection_string:
        raise ValueError(f"{connection} holds no connection string: the stand-in reads Azurite with one")
    return name, connection_string


class QueueTrigger:
    """One queue-triggered user function and its queue."""

    def __init__(
        self,
        function: Callable[[Any], None],
        connection_string: str,
        queue_name: str,
        settings: QueueSettings | None = None,
        *,
        log: Callable[[str], None] = logger.info,
    ) -> None:
        self.function = function
        self.connection_string = connection_string
        self.queue = queue_client(connection_string, queue_name)
        self.settings = settings or QueueSettings.from_host_json()
        self.log = log

    @property
    def poison_queue_name(self) -> str:
        return self.queue.queue_name + POISON_SUFFIX

    def poll_once(self) -> list[Delivery]:
        """Take one batch and run the function on each message; what became of each. A queue that does
        not exist yet is an empty one (the app creates it with its first message)."""
        try:
            batch = list(
                self.queue.receive_messages(
                    messages_per_page=self.settings.batch_size,
                    max_messages=self.settings.batch_size,
                    visibility_timeout=LEASE_SECONDS,
                )
            )
        except ResourceNotFoundError:
            return []
        return [self._deliver(message) for message in batch]

    def drain(self, timeout: float = 120.0, *, idle: float = 0.05) -> list[Delivery]:
        """Run until the queue holds no message, visible or waiting for a retry; ``TimeoutError`` after
        ``timeout`` seconds with messages left."""
        deliveries: list[Delivery] = []
        deadline = time.monotonic() + timeout
        while True:
            done = self.poll_once()
            deliveries += done
            if not done:
                if self.pending() == 0:
                    return deliveries
                if time.monotonic() > deadline:
                    raise TimeoutError(f"queue {self.queue.queue_name} still holds messages after {timeout}s")
                time.sleep(idle)

    def pending(self) -> int:
        """Messages in the queue, including invisible ones (being processed or waiting for a retry)."""
        try:
            return self.queue.get_queue_properties().approximate_message_count or 0
        except ResourceNotFoundError:
            return 0

    def run(self, stop: threading.Event) -> None:
        """Poll until ``stop`` is set, backing off from 100 ms to ``maxPollingInterval`` while empty."""
        wait = 0.1
        while not stop.is_set():
            try:
                found = self.poll_once()
            except Exception as err:  # a stand-in keeps polling when storage blinks, as the host does
                self.log(f"queue {self.queue.queue_name}: polling failed ({err!r}); trying again")
                found = []
            wait = 0.1 if found else min(wait * 2, self.settings.max_polling_interval)
            stop.wait(wait)

    def _deliver(self, message: QueueMessage) -> Delivery:
        count = int(message.dequeue_count or 1)
        try:
            self.function(queue_argument(message))
        except Exception as err:
            return self._failed(message, count, err)
        self.queue.delete_message(message)
        return Delivery(message.id, count, "done")

    def _failed(self, message: QueueMessage, count: int, err: Exception) -> Delivery:
        if count >= self.settings.max_dequeue_count:
            poison = queue_client(self.connection_string, self.poison_queue_name)
            with contextlib.suppress(ResourceExistsError):
                poison.create_queue()
            poison.send_message(message.content)
            self.queue.delete_message(message)
            self.log(
                f"queue {self.queue.queue_name}: message {message.id} failed {count} times ({err!r}); "
                f"moved to {self.poison_queue_name}"
            )
            return Delivery(message.id, count, "poison", repr(err))
        self.queue.update_message(message, visibility_timeout=int(self.settings.visibility_timeout))
        self.log(f"queue {self.queue.queue_name}: message {message.id} failed (attempt {count}): {err!r}")
        return Delivery(message.id, count, "retry", repr(err))


def _seconds(timespan: Any, default: float) -> float:
    """``hh:mm:ss`` (a .NET TimeSpan, as host.json writes them) in seconds."""
    if timespan is None:
        return default
    hours, minutes, seconds = str(timespan).split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
