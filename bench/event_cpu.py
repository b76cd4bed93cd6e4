"""CPU per event of the real ``on_vm_event`` on a warm instance: this tree beside an older commit, one run.

The ingest throughput bench (``bench/throughput.py``) found on_vm_event at 0.63x its baseline with 8
workers on 2 shared cores, where Python and Azurite compete for the CPU: what limits it there is the
Python CPU each event costs. This measures that directly: the process CPU time (``time.process_time``,
every thread of the Python process; Azurite is another process) over a phase of warm events, one to each
VM, divided by the events. The same measurement runs on ``--tree`` and ``--against`` (commits, exported
with ``git archive``, so edits under way do not count), alternately, each in its own process with its own
Azurite; the best phase of each counts (noise only ever adds CPU).

    python -m bench.event_cpu                    # HEAD (committed) against 51ef880
    python -m bench.event_cpu --profile          # and the top functions by own time, this tree
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VMS = 300
PHASES = 4

# Runs inside the measured tree (its ``shared``, ``function_app`` and ``devtools``): only names that both
# trees have.
_MEASURE = r"""
import cProfile, json, os, pstats, sys, time, io
from concurrent.futures import ThreadPoolExecutor
import function_app
from devtools.azurite import Azurite
from devtools.events import at, vm_id, wire_event
from devtools.worker import event_grid_argument
from shared import context, settings

vms, phases, profile = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
with Azurite() as azurite:
    os.environ.pop(settings.STORAGE_SERVICE_URI, None)
    os.environ[settings.STORAGE_CONNECTION] = azurite.connection_string
    os.environ[settings.TABLE_NAME] = "eventcpu"
    context.reset()
    ids = [vm_id(f"vm-cpu-{index:04d}", "rg-event-cpu") for index in range(vms)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(function_app.on_vm_event,
                      [event_grid_argument(wire_event("write", at(0), resource_id=rid)) for rid in ids]))
    per_event = []
    profiler = cProfile.Profile() if profile else None
    for phase in range(1, phases + 1):
        verb = "deallocate" if phase % 2 else "start"
        events = [event_grid_argument(wire_event(verb, at(hours=phase), resource_id=rid)) for rid in ids]
        began = time.process_time()
        if profiler:
            profiler.enable()
        for event in events:
            function_app.on_vm_event(event)
        if profiler:
            profiler.disable()
        per_event.append((time.process_time() - began) / len(events))
    report = ""
    if profiler:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(40)
        stats.sort_stats("tottime").print_stats("shared|function_app", 30)
        report = out.getvalue()
print(json.dumps({"per_event": per_event, "profile": report}))
"""


def _measure(tree: Path, profile: bool = False) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(VMS), str(PHASES), "1" if profile else "0"],
        cwd=tree, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode:
        raise RuntimeError(f"measuring {tree} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _export(commit: str, into: Path) -> Path:
    archive = subprocess.run(["git", "archive", commit], cwd=ROOT, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    # The older tree's Azurite is this one's: the same package, already installed.
    tools = into / ".tools"
    if not tools.exists():
        tools.symlink_to(ROOT / ".tools")
    return into


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.event_cpu", description=__doc__.splitlines()[0])
    parser.add_argument("--against", default="51ef880", help="the commit to compare with")
    parser.add_argument("--tree", default="HEAD", help="the commit measured against it (committed, exported)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating measurements of each tree")
    parser.add_argument("--profile", action="store_true", help="print this tree's top functions too")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as before_folder, tempfile.TemporaryDirectory() as now_folder:
        before_tree = _export(args.against, Path(before_folder))
        now_tree = _export(args.tree, Path(now_folder))
        before: list[float] = []
        now: list[float] = []
        for _ in range(args.rounds):
            before += _measure(before_tree)["per_event"]
            now += _measure(now_tree)["per_event"]
        if args.profile:
            print(_measure(now_tree, profile=True)["profile"])
    was, is_now = min(before), min(now)
    print(
        f"CPU per warm on_vm_event (Python process time), {VMS} VMs x {PHASES} phases, "
        f"best phase of {args.rounds} rounds each:"
    )
    print(f"  {args.against}: {was * 1e3:.2f} ms    {args.tree}: {is_now * 1e3:.2f} ms    "
          f"({is_now / was:.2f}x)")  # fmt: skip
    print(f"  every phase, ms: {args.against} {[round(value * 1e3, 2) for value in before]}")
    print(f"  every phase, ms: {args.tree} {[round(value * 1e3, 2) for value in now]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
