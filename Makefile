# Set-up and the two entry points of the README: `make demo` and `make test`.
# Both create .venv on a fresh machine (python3 >= 3.11 and, for the JavaScript
# tests, node and npm; .ci/run installs those with apt-get).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Test processes: most tests wait on loopback servers and subprocesses, not on the CPU,
# so four share two cores well; tests of one file stay in one process (loadfile).
PYTEST_WORKERS ?= 4

.PHONY: demo team-demo test lint typecheck pytest bench team-bench env clean

$(STAMP): pyproject.toml package-lock.json
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@if command -v npm >/dev/null; then npm ci --no-audit --no-fund --loglevel=error; \
	else echo "npm not found: the JavaScript tests will be skipped (install nodejs and npm)"; fi
	touch $(STAMP)

env: $(STAMP)

# The main job on the bundled emulator (no API key, so nothing is billed): the
# sample's 3,000 rows in mixed formats, with duplicates and bad rows. A second
# `make demo` is answered from the cache with 0 requests. `make demo DIALECT=v1`
# speaks the vendor's v1 API to the emulator (its own data folder and results).
DIALECT ?= legacy
DEMO_DATA := $(if $(filter legacy,$(DIALECT)),out/demo-data,out/demo-data-$(DIALECT))
DEMO_OUT := $(if $(filter legacy,$(DIALECT)),out/demo-results.csv,out/demo-results-$(DIALECT).csv)
demo: $(STAMP)
	FBCHECK_API_KEY= FBCHECK_API_DIALECT=$(DIALECT) FBCHECK_DATA_DIR=$(DEMO_DATA) \
		$(BIN)/fbcheck check addin/data/sample_numbers.csv -o $(DEMO_OUT) \
		--region US --yes --preview 12

# Team mode on this computer (PostgreSQL from Debian's postgresql package, as .ci/run
# installs it): a throwaway cluster, the emulator, two team servers and two workers on
# 127.0.0.1; alice and bob check overlapping files at once, and it prints what each paid.
team-demo: $(STAMP)
	$(BIN)/python -m addin.team_demo

# The team load of issue 13 (a few minutes per run, two runs); quick: ARGS="--users 4 --jobs 2".
team-bench: $(STAMP)
	$(BIN)/python bench/team_load.py $(ARGS)

bench: $(STAMP)
	$(BIN)/python bench/polling_cost.py
	$(BIN)/python bench/pipeline.py
	$(BIN)/python bench/pipeline.py --mix global
	$(BIN)/python bench/hostile_inputs.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile

test: lint typecheck pytest

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
