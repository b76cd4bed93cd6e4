"""Measure 5: the cost of ``import function_app`` on a cold start, as a ratio to ``import azure.functions``.

Each import runs in a fresh interpreter (nothing cached in ``sys.modules``), timed inside the child
around the import statement only, alternating the two so that drift on the machine hits both alike.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

from bench.harness import FAIL, PASS, Result, progress

ROOT = Path(__file__).resolve().parent.parent
REPETITIONS = 9
TARGET_RATIO = 1.5
HEAVY_MODULES = ("azure.data.tables", "azure.identity", "azure.eventgrid", "requests", "shared.store.ledger")

_PROBE = """
import json, sys, time
began = time.perf_counter()
import {module}
elapsed = time.perf_counter() - began
print(json.dumps({{"seconds": elapsed, "loaded": [m for m in {heavy!r} if m in sys.modules]}}))
"""


def _import_once(module: str) -> dict:
    code = _PROBE.format(module=module, heavy=HEAVY_MODULES)
    completed = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, timeout=120
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def cold_start() -> tuple[list[Result], list[str]]:
    progress(f"cold start: {REPETITIONS} fresh interpreters per import")
    times: dict[str, list[float]] = {"azure.functions": [], "function_app": []}
    loaded: set[str] = set()
    for _ in range(REPETITIONS):
        for module in times:
            probe = _import_once(module)
            times[module].append(probe["seconds"])
            if module == "function_app":
                loaded.update(probe["loaded"])
    base = statistics.median(times["azure.functions"])
    app = statistics.median(times["function_app"])
    ratio = app / base
    results = [
        Result(
            "cold start: import function_app / import azure.functions (median)",
            f"{ratio:.2f}x ({app * 1000:.0f} vs {base * 1000:.0f} ms)",
            f"<= {TARGET_RATIO}",
            PASS if ratio <= TARGET_RATIO else FAIL,
        ),
        Result(
            "cold start: storage/identity SDKs loaded by import function_app",
            ", ".join(sorted(loaded)) or "none",
            "none",
            FAIL if loaded else PASS,
        ),
    ]
    return results, []
