# The few commands a person types. Everything generated goes under $(ANALYTICS_DATA_DIR).
SHELL := /bin/bash
# A path from the environment is passed on whole, never through a Make function that splits words
# ($(abspath) cut "/srv/wh data" in two): Python resolves it (pipelines/lib/config.py, relative to
# the project) and sets DAGSTER_HOME to <data>/dagster for every Dagster process it starts.
ANALYTICS_DATA_DIR ?= data
export ANALYTICS_DATA_DIR
export DO_NOT_TRACK := 1
# the engine dbt builds on: duckdb (default) or spark (pipelines/lib/config.py)
ANALYTICS_ENGINE ?= duckdb
export ANALYTICS_ENGINE
export UV_PYTHON_DOWNLOADS := never
export PYTHONPATH := $(CURDIR)
# dbt and dagster-dbt look for `dbt` on PATH: the venv's comes first.
export PATH := $(CURDIR)/.venv/bin:$(PATH)

VENV := .venv
PY := $(VENV)/bin/python
# The dbt manifest is built here, at build time, never by parsing at import: one per engine.
MANIFEST := dbt_project/target/$(ANALYTICS_ENGINE)/manifest.json
DBT_SOURCES := $(shell find dbt_project -path dbt_project/target -prune -o -type f \( -name '*.sql' -o -name '*.yml' \) -print)

.PHONY: run test lint browser java faketime dev bench bench-year sample clean help
help:
	@echo "make run     ingest the exports (default: data/sample/exports), build, publish data/warehouse/analytics.duckdb"
	@echo "make dev     the Dagster UI and daemon on http://127.0.0.1:3000 (Ctrl-C stops them)"
	@echo "make test    the test suite"
	@echo "make lint    ruff (Python), SQLFluff (the dbt SQL), the dbt property files' keys"
	@echo "make bench   speed and memory against a plain-DuckDB baseline (BENCH_EVENTS=1000000; ENGINE=spark adds Spark)"
	@echo "make bench-year  a year of daily batches: one day and one hour at month 1 against month 12"
	@echo "make sample  regenerate the committed sample exports"
	@echo "make clean   remove what runs created in the data directory (ANALYTICS_DATA_DIR, default data/; keeps the sample)"

$(VENV)/.synced: requirements.lock
	@command -v uv >/dev/null || python3 -m pip install --quiet uv
	uv venv --quiet --allow-existing --python python3.11 $(VENV)
	uv pip sync --quiet --compile-bytecode --python $(PY) requirements.lock
	@touch $@

# the FinOps Foundation's focus-validator, in its own environment (its pins clash with ours): tests only
FOCUS_VENV := .venv-focus-validator
$(FOCUS_VENV)/.synced: tests/e2e/focus_validator.lock
	@command -v uv >/dev/null || python3 -m pip install --quiet uv
	uv venv --quiet --allow-existing --python python3.11 $(FOCUS_VENV)
	uv pip sync --quiet --python $(FOCUS_VENV)/bin/python $<
	@touch $@

dbt_project/target/%/manifest.json: $(VENV)/.synced $(DBT_SOURCES)
	ANALYTICS_ENGINE=$* dagster-dbt project prepare-and-package --file pipelines/defs/warehouse/project.py

run: $(MANIFEST) $(if $(filter spark,$(ANALYTICS_ENGINE)),java)
	$(PY) -m pipelines run

dev: $(MANIFEST) $(if $(filter spark,$(ANALYTICS_ENGINE)),java)
	$(PY) -m pipelines dev

# the tests build on both engines; two workers (pytest-xdist), the tests sharing a built warehouse
# on one (tests/conftest.py). TEST_WORKERS=0 runs them in this process, one after the other.
TEST_WORKERS ?= 2
test: dbt_project/target/duckdb/manifest.json dbt_project/target/spark/manifest.json browser java faketime $(FOCUS_VENV)/.synced
	$(PY) -m pytest -q -n $(TEST_WORKERS) --durations=15

# ruff for Python (pyproject.toml), SQLFluff for the dbt SQL (dbt_project/.sqlfluff: DuckDB dialect, the
# dbt templater compiling against an empty scratch warehouse), and the dbt YAML's keys (an unknown
# key, such as a description cut at a comma, fails).
lint: $(VENV)/.synced
	$(VENV)/bin/ruff check pipelines tests tools
	@scratch=$$(mktemp -d) && mkdir -p $$scratch/warehouse/build && \
	  (cd dbt_project && env -u ANALYTICS_BUILD_DB ANALYTICS_DATA_DIR=$$scratch ANALYTICS_ENGINE=duckdb \
	     ../$(VENV)/bin/sqlfluff lint models tests); rc=$$?; rm -rf $$scratch; exit $$rc
	$(PY) -m pytest -q -p no:cacheprovider tests/warehouse/test_dbt_yaml.py

# Browser tests drive Debian's chromium (Playwright's own browser download fails here): installed
# when missing and this user may install packages, else a one-line message naming the command.
browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; elif sudo -n true 2>/dev/null; then SUDO="sudo"; \
	  else echo "make test needs Debian's chromium for its browser tests: sudo apt-get install chromium"; exit 1; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

# The Spark engine runs on Java 17 (Debian's headless runtime): installed the same way, for the tests
# (which build on both engines) and for ANALYTICS_ENGINE=spark.
java:
	@command -v java >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; elif sudo -n true 2>/dev/null; then SUDO="sudo"; \
	  else echo "Spark needs Java 17: sudo apt-get install openjdk-17-jre-headless"; exit 1; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq openjdk-17-jre-headless >/dev/null; }

# The clock tests (tests/reliability/test_clock.py) step a run's clock back with libfaketime (Debian's faketime).
faketime:
	@ls /usr/lib/*/faketime/libfaketime.so.1 >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; elif sudo -n true 2>/dev/null; then SUDO="sudo"; \
	  else echo "make test needs libfaketime for its clock tests: sudo apt-get install faketime"; exit 1; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq faketime >/dev/null; }

# BENCH_EVENTS=10000000 make bench for the 10M-event run; results go to data/bench/results.json.
# ENGINE=spark adds the full and one-day runs on Spark, next to DuckDB's.
BENCH_EVENTS ?= 1000000
ENGINE ?= duckdb
bench: dbt_project/target/duckdb/manifest.json $(if $(filter spark,$(ENGINE)),dbt_project/target/spark/manifest.json java)
	$(PY) -m tools.bench --events $(BENCH_EVENTS) --engine $(ENGINE)

# The steady-state bench: a year of daily batches (BENCH_EVENTS_PER_DAY a day), one day and one
# hour added at month 1 and at month 12; results go to data/bench/year/results.json.
BENCH_EVENTS_PER_DAY ?= 5555
bench-year: dbt_project/target/duckdb/manifest.json
	$(PY) -m tools.bench --year --events-per-day $(BENCH_EVENTS_PER_DAY)

sample: $(VENV)/.synced
	rm -rf data/sample/exports
	$(PY) -m tools.generator data/sample/exports

# only what runs created inside the data directory (pipelines/__main__.py: GENERATED), never a path split by Make
clean: $(VENV)/.synced
	$(PY) -m pipelines clean
