"""``python -m shared.cli``: see ``shared.cli.commands``. Like the ``vm-ledger`` command, it takes the
settings the environment does not set from ``local.settings.json`` in the current folder."""

from pathlib import Path

from shared.cli.commands import main
from shared.context import use_local_settings

use_local_settings(Path("local.settings.json"))
raise SystemExit(main())
