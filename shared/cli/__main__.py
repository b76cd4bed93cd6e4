"""``python -m shared.cli``: see ``shared.cli.commands``."""

from shared.cli.commands import main

raise SystemExit(main())
