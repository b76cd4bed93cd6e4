#!/usr/bin/env bash
# Deploy the ledger to Azure: what-if, a question, phase 1, the code package, phase 2, then where the page
# is and when the first data shows. --dry-run prints the commands and runs nothing. See scripts/deploy.py
# (--help) and docs/deploy.md.
set -euo pipefail
cd "$(dirname "$0")/.."
make --no-print-directory --quiet .venv/.installed >&2
exec .venv/bin/python -m scripts.deploy "$@"
