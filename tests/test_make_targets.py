"""The Makefile's promises: `make test` is complete and is what CI runs, `make test-fast` leaves out only
the slow suites (faults, browser, slow), and `make serve` / `make demo` run the scripts the README names."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def recipe(target: str) -> list[str]:
    """The commands `make -n` would run for ``target``, prerequisites assumed up to date."""
    result = subprocess.run(
        # --no-print-directory: under `make test` this make is nested and would print "make[1]: ..." lines.
        ["make", "-n", "--no-print-directory", "-o", ".venv/.installed",
         "-o", ".tools/node_modules/.bin/azurite-table", target],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return result.stdout.splitlines()


def test_make_test_runs_every_test_and_ci_runs_make_test():
    pytest_lines = [line for line in recipe("test") if "-m pytest" in line]
    assert pytest_lines == [".venv/bin/python -m pytest"]
    assert "make test" in (ROOT / ".ci" / "run").read_text().splitlines()


def test_make_test_fast_leaves_out_only_the_fault_browser_and_slow_tests():
    pytest_lines = [line for line in recipe("test-fast") if "-m pytest" in line]
    assert len(pytest_lines) == 1
    assert re.search(r'-m "not faults and not browser and not slow"$', pytest_lines[0])
    markers = (ROOT / "pyproject.toml").read_text()
    assert '"faults:' in markers and '"browser:' in markers and '"slow:' in markers


def test_make_serve_and_make_demo_run_the_scripts():
    assert recipe("serve")[-1] == ".venv/bin/python -m scripts.serve"
    assert recipe("demo")[-1] == ".venv/bin/python -m scripts.demo"
