# The commands a newcomer needs: `make demo`, `make serve` and `make test`. They set everything up first:
# a virtualenv in .venv with requirements-dev.txt, and Azurite from npm under .tools/.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
AZURITE_VERSION := 3.35.0
AZURITE := .tools/node_modules/.bin/azurite-table

.PHONY: demo serve test test-fast lint bench start samples deploy clean

demo: $(VENV)/.installed $(AZURITE) local.settings.json
	$(PY) -m scripts.demo

# The HTTP API and Event Grid webhook on 127.0.0.1:7071 over the persistent Azurite of `make demo`
# (127.0.0.1:10002, data in .azurite/), without Core Tools. A development stand-in, not the host.
serve: $(VENV)/.installed $(AZURITE) local.settings.json
	$(PY) -m scripts.serve

# The type check and the import contracts run here too, so CI fails on a type error or on a wrong
# import between layers.
test: $(VENV)/.installed $(AZURITE)
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest

# Everything but the fault suite, the headless-browser tests and the tests marked slow (a second or more
# each), for the edit-test loop (see README for its measured time). `make test` stays the complete run,
# and it is what CI runs.
test-fast: $(VENV)/.installed $(AZURITE)
	$(PY) -m ruff check .
	$(PY) -m pytest -m "not faults and not browser and not slow"

lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(VENV)/bin/lint-imports --no-cache

bench: $(VENV)/.installed $(AZURITE)
	$(PY) -m bench.run

# Needs Azure Functions Core Tools (`func`) and a local.settings.json (copy local.settings.sample.json).
start: $(VENV)/.installed
	@command -v func >/dev/null || { echo "Azure Functions Core Tools (func) is not installed"; exit 1; }
	@$(MAKE) --no-print-directory local.settings.json
	. $(VENV)/bin/activate && func start

# Deploy to Azure step by step (scripts/deploy.py): make deploy ARGS="--location westeurope --resource-group
# rg-vm-ledger --subscription <id> [--subscription <id> ...] [--dry-run]"; scripts/deploy.sh is the same.
deploy: $(VENV)/.installed
	$(PY) -m scripts.deploy $(ARGS)

samples: $(VENV)/.installed
	$(PY) -m scripts.make_samples

# The repo itself too, editable and without dependencies, for the `vm-ledger` command (pyproject.toml).
$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

# The Functions convention for local settings: the host (`make start`) and `vm-ledger` read its Values.
# Made once from the sample (Azurite's development storage), never overwritten.
local.settings.json:
	cp local.settings.sample.json $@

$(AZURITE):
	npm install --prefix .tools --no-save --no-package-lock --no-audit --no-fund --loglevel=error \
		azurite@$(AZURITE_VERSION)

clean:
	rm -rf $(VENV) .tools .pytest_cache .ruff_cache .mypy_cache .import_linter_cache test-output demo-timeline.html
