"""Pages of answers: at most ``top`` items and the cursor to resume after them; and walking every page."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_after: str | None  # the cursor of the last item returned, when more may follow


def page_of(items: Iterator[T], top: int, cursor_of: Callable[[T], str]) -> Page[T]:
    """The first ``top`` of ``items``; reads one more to know whether another page follows."""
    taken = list(islice(items, top + 1))
    if len(taken) > top:
        return Page(taken[:top], cursor_of(taken[top - 1]))
    return Page(taken, None)


def iter_all(fetch: Callable[[str | None], Page[T]], *, limit: int | None = None) -> Iterator[T]:
    """Every item of every page ``fetch(after)`` returns, in order, up to ``limit`` items."""
    after: str | None = None
    count = 0
    while True:
        page = fetch(after)
        for item in page.items:
            if limit is not None and count >= limit:
                return
            count += 1
            yield item
        if page.next_after is None:
            return
        after = page.next_after
