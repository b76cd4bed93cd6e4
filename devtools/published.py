"""Where the published response shapes the fakes answer with are kept: ``tests/data/published/``, test
data with its sources named (a ``SOURCES.md`` in each folder), which the tests read too."""

from __future__ import annotations

from pathlib import Path

PUBLISHED = Path(__file__).resolve().parent.parent / "tests" / "data" / "published"
