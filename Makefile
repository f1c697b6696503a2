# publisher — common tasks. `make run` and `make test` work on a fresh machine (Python >= 3.11 with venv).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck unit crash-test bench messages clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Run the daemon on the embedded defaults: SQLite in ./var, inbox ./var/inbox, dry run (no credentials,
# nothing is sent). An example post is dropped into the inbox so a delivery shows up in `publisher log`.
run: $(STAMP)
	mkdir -p var/inbox
	cp examples/welcome.md var/inbox/welcome.md
	PUBLISHER_DIRECTORY_FILE=$${PUBLISHER_DIRECTORY_FILE:-directory.example.yaml} $(BIN)/publisher run --dry-run

lint: $(STAMP)
	$(BIN)/ruff check publisher tests benchmarks
	$(BIN)/ruff format --check publisher tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q

test: lint typecheck unit

# The long crash-safety variants: >= 500 kill points of one daemon, 100 kills of one of three daemons on
# PostgreSQL (skipped with a message unless PUBLISHER_TEST_POSTGRES_URL is set). Both print recovery times.
crash-test: $(STAMP)
	PUBLISHER_CRASH_POINTS=500 PUBLISHER_CRASH_ROUNDS=100 $(BIN)/pytest -q -s \
		tests/acceptance/test_crash.py tests/acceptance/test_multi_daemon_crash.py

bench: $(STAMP)
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

# Re-extract the editor-facing texts and merge them into every catalog (then translate the new entries:
# they come without a translation, and tests/unit/test_i18n.py fails until each has one). The catalog's
# header stays (it holds the Russian plural forms ngettext needs); lines are not re-wrapped.
messages: $(STAMP)
	$(BIN)/pybabel extract --no-location --no-wrap --sort-output -k _ -k N_ -k ngettext:1,2 \
		-o publisher/locale/publisher.pot publisher
	$(BIN)/pybabel update --no-wrap --no-fuzzy-matching --ignore-obsolete -D publisher \
		-i publisher/locale/publisher.pot -d publisher/locale

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
