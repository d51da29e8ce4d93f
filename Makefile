# The two commands: `make run` and `make test`. Both create .venv and install when needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
CHROMIUM := /usr/bin/chromium

.PHONY: run test lint bench clean

$(INSTALLED): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

# Debian's Chromium serves the browser test (Playwright's own download cannot work here).
$(CHROMIUM):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null

run: $(INSTALLED)
	$(BIN)/python -m bot

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint $(CHROMIUM)
	$(BIN)/python -m pytest

bench: $(INSTALLED)
	$(BIN)/python -m bench.updates
	$(BIN)/python -m bench.selfies
	$(BIN)/python -m bench.declarations
	$(BIN)/python -m bench.reminders --count 2000
	$(BIN)/python -m bench.crash --runs 3

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
