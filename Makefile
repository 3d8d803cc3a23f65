# Two entry points for a fresh machine: `make run` and `make test`.
# Both create the virtual environment on first use and are quick the second time.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
TEST_WORKERS ?= auto
# The stamp names this checkout, so a venv shared between clones re-links the package.
STAMP := $(VENV)/.torchcanvas-$(shell printf '%s' "$(CURDIR)" | cksum | cut -d' ' -f1)

.PHONY: setup run test test-all lint format bench clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	@touch $@

setup: $(STAMP)

# With no file the app opens the digits CNN example as a new, unsaved project.
run: $(STAMP)
	$(BIN)/torchcanvas $(FILE)

# Tests run in parallel, one worker per core (pytest-xdist); PYTEST_ARGS="-n0" runs them in one
# process. `make test` leaves out the tests marked slow (they train real models for a while);
# `make test-all` runs every test, as CI does.
test: $(STAMP)
	$(BIN)/python -m ruff check .
	$(BIN)/python -m ruff format --check .
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -n $(TEST_WORKERS) -m "not slow" $(PYTEST_ARGS)

test-all: $(STAMP)
	$(BIN)/python -m ruff check .
	$(BIN)/python -m ruff format --check .
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/python -m ruff check .
	$(BIN)/python -m ruff format --check .

format: $(STAMP)
	$(BIN)/python -m ruff format .
	$(BIN)/python -m ruff check --fix .

bench: $(STAMP)
	for f in bench/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
