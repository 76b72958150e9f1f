# beamtwin: `make demo` runs the default scenario end to end; `make test` runs every check.
# Installs with plain pip into .venv (other installers ignore the CPU torch wheel on disk).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check --quiet

.PHONY: demo test install install-dev lint typecheck contracts pytest bench clean browser

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) install -e . 2>&1 | grep -v "^WARNING: Location" || true
	$(BIN)/python -c "import caproto, torch, xarray, netCDF4"
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(PIP) install -e '.[dev,peer]' 2>&1 | grep -v "^WARNING: Location" || true
	$(BIN)/python -c "import pytest, event_model, importlinter, mypy, bluesky, ophyd, ophyd_async, epics, xopt"
	touch $@

# The dashboard's tests drive Debian's chromium (Playwright never downloads a browser here).
CHROMIUM ?= /usr/bin/chromium
$(CHROMIUM):
	@echo "installing Debian's chromium for the dashboard's browser tests (tests/web)"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

browser: $(CHROMIUM)

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

demo: install
	$(BIN)/beamtwin run

lint: install-dev
	$(BIN)/ruff check .

typecheck: install-dev
	$(BIN)/mypy

contracts: install-dev
	$(BIN)/lint-imports

pytest: install-dev browser
	$(BIN)/python -m pytest --durations=25 $(PYTEST_ARGS)

test: lint typecheck contracts pytest

$(VENV)/.installed-peer: pyproject.toml $(VENV)/.installed-dev
	$(PIP) install -e '.[dev,peer,bench]' 2>&1 | grep -v "^WARNING: Location" || true
	command -v redis-server >/dev/null || (apt-get update -qq && apt-get install -y -qq redis-server) || true
	touch $@

# every benchmarks/*.py, peers installed; each prints one JSON object on its last line.
# -P: a script's own folder is not put first on sys.path (benchmarks/queue.py would shadow the stdlib queue)
bench: $(VENV)/.installed-peer
	@failed=""; for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python -P $$b || failed="$$failed $$b"; done; \
	if [ -n "$$failed" ]; then echo "failed:$$failed"; exit 1; fi

clean:
	rm -rf $(VENV) beamtwin-data .mypy_cache .pytest_cache .ruff_cache
