# One venv, two entry points: `make demo` and `make test` (see README).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test check install install-dev bench clean console console-docs wheel

HOUSE_RULES := tests/unit/test_layout.py tests/unit/test_booking_states.py \
	tests/unit/test_db_channels.py tests/unit/test_architecture_doc.py \
	tests/unit/test_public_surfaces.py

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.embedded: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[embedded]'
	touch $@

$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.embedded

# The web console is TypeScript built by Vite (docs/console.md); its sources are the only input,
# so it is rebuilt when one of them changes and never committed built.
CONSOLE     := src/pilotshare/api/console
CONSOLE_SRC := $(shell find $(CONSOLE)/src -type f 2>/dev/null) $(addprefix $(CONSOLE)/,index.html \
	package.json package-lock.json vite.config.ts tsconfig.json build.sh)
$(CONSOLE)/dist/index.html: $(CONSOLE_SRC) | $(BIN)/python
	$(CONSOLE)/build.sh $(BIN)
	touch $@
console: $(CONSOLE)/dist/index.html

install: $(VENV)/.embedded console
install-dev: $(VENV)/.dev console

# The wheel carries the built console (package data under pilotshare/api/console/dist).
wheel: console | $(BIN)/python
	$(BIN)/python -m pip wheel --quiet --no-deps --no-build-isolation -w dist .

demo: install
	$(BIN)/pilotshare demo

# One worker per core (at most 4: each test database is a clone on one server): most tests
# wait on PostgreSQL, the broker or a staged outage, so two workers on CI's two cores halve
# the wall time. PYTEST_ARGS="-n 0" runs in one process. pytest exits 5 when it ran no test,
# which make treats as failure like any non-zero code (with workers too).
PYTEST_ARGS ?= -n auto --maxprocesses=4 --durations=25
test: install-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

check: install-dev
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports
	cd $(CONSOLE) && PATH="$(abspath $(BIN)):$$PATH" npm run --silent check
	@# the house rules a reading of the source can check (no database needed): SQL only in
	@# stores, registered reason codes, status words only in states.py, the architecture page
	$(BIN)/python -m pytest -q -p no:cacheprovider $(HOUSE_RULES)

# The console's pages as users see them, in both languages, into docs/console/ (docs/console.md).
console-docs: install-dev
	PILOTSHARE_SCREENSHOTS=docs/console $(BIN)/python -m pytest -q -p no:cacheprovider -n 0 tests/e2e/console

bench: install-dev
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache $(CONSOLE)/dist $(CONSOLE)/node_modules
