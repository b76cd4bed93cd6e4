"""The files Core Tools puts in this folder's deployment package (``func azure functionapp publish``,
``func pack``): every file under the folder, less the folders and files it always leaves out and those
``.funcignore`` denies, matched as Core Tools matches them.

Core Tools does not read ``.funcignore`` as git reads ``.gitignore``. Its parser (``GitIgnoreParser.cs``
in Azure/azure-functions-core-tools, a port of the npm package gitignore-parser; issues #1745 and #2701
there) joins the patterns into one regular expression that must match from the start of the path and
end at a word boundary, with ``**`` for any text and ``*`` for any text without a slash. So ``tests``
leaves out ``tests/...``, but ``*.md`` only the top folder's Markdown and ``__pycache__`` only the top
folder's cache: a nested one needs ``**/__pycache__``. ``FileSystemHelpers.GetLocalFiles`` leaves out
``.git`` and ``.vscode`` folders and the files below by name, at any depth.

    python -m devtools.package    # the files, as ``func azure functionapp publish --list-included-files``
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ALWAYS_LEFT_OUT_FOLDERS = frozenset({".git", ".vscode"})
ALWAYS_LEFT_OUT_FILES = frozenset({".funcignore", ".gitignore", "local.settings.json", "project.lock.json"})
_SPECIAL = re.compile(r"[\-\[\]/{}()+?.\\^$|]")


class CoreToolsIgnore:
    """``.funcignore`` read as Core Tools reads it; paths are relative, with ``/`` between parts."""

    def __init__(self, text: str) -> None:
        denied: list[str] = []
        allowed: list[str] = []
        for line in (line.strip() for line in text.split("\n")):
            if not line or line.startswith("#"):
                continue
            negated = line.startswith("!")
            pattern = line.removeprefix("!").removeprefix("/")
            (allowed if negated else denied).append(pattern)
        self._denied = _one_expression(denied)
        self._allowed = _one_expression(allowed)

    def denies(self, path: str) -> bool:
        return bool(self._denied.match(path)) and not self._allowed.match(path)


def _one_expression(patterns: list[str]) -> re.Pattern[str]:
    if not patterns:
        return re.compile(r"$^")
    parts = [_SPECIAL.sub(r"\\\g<0>", p).replace("**", "(.+)").replace("*", "([^\\/]+)") for p in patterns]
    # ECMAScript's \b, as the C# Regex runs with RegexOptions.ECMAScript: ASCII word characters.
    return re.compile("^((" + ")|(".join(sorted(parts)) + "))\\b", re.ASCII)


def files_under(root: Path) -> list[str]:
    """Every file Core Tools enumerates under ``root``, relative: all but the ones it always leaves out."""
    found = []
    for folder, folders, files in os.walk(root):
        folders[:] = [name for name in folders if name.lower() not in ALWAYS_LEFT_OUT_FOLDERS]
        for name in files:
            if name.lower() not in ALWAYS_LEFT_OUT_FILES:
                found.append((Path(folder) / name).relative_to(root).as_posix())
    return sorted(found)


def package_files(root: Path = ROOT, candidates: Iterable[str] | None = None) -> list[str]:
    """The files of ``root``'s deployment package; of ``candidates`` only, when given (e.g. the files
    git tracks, which a fresh clone holds)."""
    funcignore = root / ".funcignore"
    ignore = CoreToolsIgnore(funcignore.read_text(encoding="utf-8") if funcignore.exists() else "")
    if candidates is None:
        candidates = files_under(root)
    else:
        candidates = [path for path in candidates if not _left_out_by_name(path)]
    return sorted(path for path in candidates if not ignore.denies(path))


def _left_out_by_name(path: str) -> bool:
    *folders, name = path.split("/")
    return name.lower() in ALWAYS_LEFT_OUT_FILES or any(
        folder.lower() in ALWAYS_LEFT_OUT_FOLDERS for folder in folders
    )


if __name__ == "__main__":
    print("\n".join(package_files(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT)))
