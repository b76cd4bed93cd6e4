"""What a deployment package holds: the app and its package, nothing else.

``devtools.package`` lists what Core Tools zips from the repo (``func azure functionapp publish``), with
``.funcignore`` read as Core Tools reads it; azd reads the same file as a ``.gitignore`` (Learn,
"Configure service packaging file exclusions"), so both readings must agree.
"""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import pytest
from pathspec import GitIgnoreSpec

from devtools.package import CoreToolsIgnore, package_files

ROOT = Path(__file__).resolve().parent.parent
APP = {"function_app.py", "host.json", "requirements.txt"}
STATIC = "shared/web/static/"  # the timeline page, read by shared.web.page


def git(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=ROOT, input=stdin, capture_output=True, text=True, timeout=60)


def tracked() -> list[str]:
    result = git("ls-files", "-z")
    assert result.returncode == 0, result.stderr
    return [path for path in result.stdout.split("\0") if path]


def test_the_package_of_a_fresh_clone_is_the_app_its_python_package_and_the_page():
    files = tracked()
    expected = APP | {
        p for p in files if p.startswith("shared/") and (p.endswith(".py") or p.startswith(STATIC))
    }
    assert set(package_files(ROOT, files)) == expected


def test_nothing_the_tools_or_python_generate_in_the_repo_ships():
    """Whatever git ignores (caches, virtualenvs, Azurite's data, test output) exists here after a test
    run, and so does Python's bytecode next to every module unless PYTHONDONTWRITEBYTECODE is set."""
    bytecode = [
        Path(importlib.util.cache_from_source(str(ROOT / path))).relative_to(ROOT).as_posix()
        for path in tracked()
        if path.endswith(".py")
    ]
    candidates = sorted(set(package_files(ROOT)) | set(package_files(ROOT, bytecode)))
    # Core Tools writes .python_packages itself (a local build) and ships it on purpose.
    candidates = [path for path in candidates if not path.startswith(".python_packages/")]
    ignored = git("check-ignore", "--no-index", "--stdin", stdin="\n".join(candidates))
    assert ignored.returncode in (0, 1), ignored.stderr  # 1: none of them is ignored
    assert ignored.stdout.split() == []


def test_core_tools_and_gitignore_readings_of_funcignore_ship_the_same_files():
    text = (ROOT / ".funcignore").read_text(encoding="utf-8")
    files = tracked()
    as_gitignore = GitIgnoreSpec.from_lines(text.splitlines())
    left_out_by_name = {".gitignore", ".funcignore"}
    by_git_rules = {
        p for p in files if not as_gitignore.match_file(p) and Path(p).name not in left_out_by_name
    }
    assert set(package_files(ROOT, files)) == by_git_rules


@pytest.mark.parametrize(
    ("funcignore", "path", "denied"),
    [
        ("tests", "tests/test_x.py", True),
        ("tests", "testsuite.py", False),  # a match ends at a word boundary
        ("tests", "shared/tests/x.py", False),  # from the top only (core tools issue #1745)
        ("*.md", "README.md", True),
        ("*.md", "docs/a.md", False),  # '*' never crosses a '/' (issue #2701)
        ("__pycache__", "shared/__pycache__/a.pyc", False),
        ("**/__pycache__", "shared/web/__pycache__/a.pyc", True),
        ("/scripts", "scripts/demo/scenario.py", True),
        ("tests\n!tests/keep.py", "tests/keep.py", False),
        ("# tests", "tests/x.py", False),
    ],
)
def test_funcignore_is_read_as_core_tools_reads_it(funcignore, path, denied):
    assert CoreToolsIgnore(funcignore).denies(path) is denied
