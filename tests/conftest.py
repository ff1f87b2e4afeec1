from __future__ import annotations

import pytest

from pipelines.lib.config import SAMPLE_EXPORTS, Settings
from pipelines.lib.duck import connect
from tests.helpers import run_pipeline


@pytest.fixture
def settings(tmp_path, monkeypatch) -> Settings:
    exports, data = tmp_path / "exports", tmp_path / "data"
    exports.mkdir()
    monkeypatch.setenv("ANALYTICS_EXPORTS_DIR", str(exports))
    monkeypatch.setenv("ANALYTICS_DATA_DIR", str(data))
    monkeypatch.delenv("ANALYTICS_RETRY_QUARANTINE", raising=False)
    return Settings.from_env()


@pytest.fixture
def con(settings):
    c = connect(settings.build_db, settings)
    yield c
    c.close()


@pytest.fixture(scope="session")
def built_run(tmp_path_factory):
    """One warehouse built from the committed sample through the real entry point (`python -m
    pipelines run`, which launches the Dagster main job), shared by the end-to-end tests: its
    Settings and what the command printed."""
    data = tmp_path_factory.mktemp("warehouse") / "data"
    result = run_pipeline(data)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return Settings(exports_dir=SAMPLE_EXPORTS, data_dir=data), result


@pytest.fixture(scope="session")
def built(built_run) -> Settings:
    return built_run[0]


# `make test` runs the suite on two workers (pytest-xdist). Tests sharing an expensive fixture run on
# one worker, so it is built once: the session's warehouse (`built`), a package's scenario, else a
# module's own fixtures. By path: pytest-xdist's own grouping (--dist loadgroup, xdist_group marks)
# has no effect under pytest 9 (it renames test ids through an attribute pytest 9 no longer reads).
SHARED_WAREHOUSE = ("tests/e2e/", "tests/ui/", "tests/orchestration/test_alerts.py",
                    "tests/reliability/test_crash_recovery.py")
PACKAGE_SCENARIOS = ("tests/warehouse/", "tests/reports/", "tests/ops/")


def worker_group(nodeid: str) -> str:
    path = nodeid.split("::", 1)[0]
    if path.startswith(SHARED_WAREHOUSE):
        return "built"
    return next((p for p in PACKAGE_SCENARIOS if path.startswith(p)), path)


# The groups that take minutes, longest first: they start first, one per worker, and the many short
# groups fill in behind them (xdist's own order, by number of tests, put two of them on one worker).
LONGEST_GROUPS = ("built", "tests/engines/test_spark_parity.py", "tests/replay/test_replay.py",
                  "tests/test_bench_smoke.py", "tests/warehouse/", "tests/reports/", "tests/ops/")


def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class SharedFixtureScheduling(LoadScopeScheduling):
        """Whole groups of tests (worker_group) to a worker, in collection order (LONGEST_GROUPS first)."""

        def __init__(self, config, log=None):
            super().__init__(config, log)
            config.option.loadscopereorder = False  # the order is collection order, set below

        def _split_scope(self, nodeid: str) -> str:
            return worker_group(nodeid)

    return SharedFixtureScheduling(config, log)


def _group_rank(item) -> int:
    group = worker_group(item.nodeid)
    return LONGEST_GROUPS.index(group) if group in LONGEST_GROUPS else len(LONGEST_GROUPS)


def pytest_collection_modifyitems(config, items):
    items.sort(key=_group_rank)  # stable: within a group, the files' own order
    for item in items:
        if {"built", "built_run"} & set(item.fixturenames) and worker_group(item.nodeid) != "built":
            raise pytest.UsageError(f"{item.nodeid} uses the session's warehouse: add its file to SHARED_WAREHOUSE "
                                    "(tests/conftest.py), or a second worker builds it again")
