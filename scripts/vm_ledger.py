"""The ``vm-ledger`` command (a console script of pyproject.toml, installed into ``.venv`` by the make
targets): ``python -m shared.cli`` with the settings the environment does not set taken from
``local.settings.json`` in the current folder, as Core Tools takes them.

When those settings name the development storage (``UseDevelopmentStorage=true``, as after ``make demo``)
and no Azurite runs on its ports, it starts the one ``make serve`` uses, over the same ``.azurite/`` data,
for the command's duration, and stops it by pid after; an Azurite already running is used and left as it
is. Against a storage account in Azure nothing is started.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from devtools.azurite import Azurite, PortBusyError
from shared import cli, context
from shared.errors import ConfigurationError

LOCAL_SETTINGS = Path("local.settings.json")


def _uses_development_storage() -> bool:
    try:
        return context.root().uses_development_storage()
    except ConfigurationError:
        return False  # the command reports it, as one line


def main(argv: Sequence[str] | None = None) -> int:
    context.use_local_settings(LOCAL_SETTINGS)
    arguments = sys.argv[1:] if argv is None else list(argv)
    if not _uses_development_storage() or {"-h", "--help"} & set(arguments):
        return cli.main(arguments)
    try:
        azurite = Azurite.persistent()
    except (PortBusyError, OSError, RuntimeError) as err:
        print(f"error: cannot start Azurite for UseDevelopmentStorage=true: {err}", file=sys.stderr)
        return 1
    with azurite:
        if azurite.owned():
            print(f"{azurite.describe()}, for this command", file=sys.stderr)
        return cli.main(arguments)


if __name__ == "__main__":
    raise SystemExit(main())
