"""An analyst holding the published warehouse open never blocks a run, and never sees half of one."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from decimal import Decimal

import duckdb
import pytest

from pipelines.lib.config import SAMPLE_EXPORTS
from pipelines.lib.duck import STORAGE_VERSION, first
from tests.helpers import run_pipeline, write_batch

pytestmark = pytest.mark.e2e

ANALYST = textwrap.dedent("""
    import sys, duckdb
    path = sys.argv[1]
    sql = "select (select count(*) from ops.ingested_batches where status = 'loaded'), " \\
          "(select count(*) from marts.fct_usage_events), (select sum(quantity) from marts.fct_usage_events)"
    con = duckdb.connect(path, read_only=True)
    print("before", *con.execute(sql).fetchone(), flush=True)
    sys.stdin.readline()  # hold the file open for the whole run
    print("same", *con.execute(sql).fetchone(), flush=True)
    con.close()  # DuckDB shares one instance per file within a process: reconnecting opens the new file
    print("new", *duckdb.connect(path, read_only=True).execute(sql).fetchone(), flush=True)
""")


NEW_BATCH = "20261107T000500Z-000007"  # after the sample's last


def three_more_events(published, exports) -> None:
    """A batch of three new events of a project the sample already has."""
    con = duckdb.connect(str(published), read_only=True)
    org, project, key, model, unit = con.execute(
        "select organization_id, project_id, api_key_id, model_id, usage_unit from marts.fct_usage_events "
        "order by event_id limit 1").fetchone()
    con.close()
    events = [dict(event_id=f"analyst_{i}", outbox_seq=str(5 * 10**9 + i), occurred_at=f"2026-11-06T12:00:0{i}Z",
                   recorded_at="2026-11-06T12:01:00Z", organization_id=org, project_id=project, api_key_id=key,
                   model_id=model, resource_id=None, usage_unit=unit, quantity="1", correction_of=None,
                   attributes=None) for i in range(3)]
    write_batch(exports, NEW_BATCH, {"usage_events": events})


def test_an_open_reader_keeps_its_view_and_the_next_connection_sees_the_new_data(built, tmp_path):
    # the session's warehouse, copied: the sample loaded; then a run loads one more batch while an
    # analyst holds the published file open
    exports, data = tmp_path / "exports", tmp_path / "data"
    shutil.copytree(SAMPLE_EXPORTS, exports)
    shutil.copytree(built.data_dir, data, symlinks=True)
    published = data / "warehouse" / "analytics.duckdb"
    analyst = subprocess.Popen([sys.executable, "-c", ANALYST, str(published)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        before = analyst.stdout.readline().split()
        assert before[0] == "before"
        three_more_events(published, exports)
        second = run_pipeline(data, exports)  # the analyst's connection is open all along
        assert second.returncode == 0, second.stderr[-3000:]
        out, _ = analyst.communicate("go\n", timeout=60)
    finally:
        if analyst.poll() is None:
            analyst.kill()
    same, new = (line.split() for line in out.splitlines())
    assert same == ["same", *before[1:]]  # a consistent view: the old file, whole
    assert new[0] == "new" and int(new[1]) == int(before[1]) + 1  # the new batch
    assert int(new[2]) == int(before[2]) + 3 and Decimal(new[3]) == Decimal(before[3]) + 3
    # the published file is in the storage format the pipeline creates files in (its faster
    # string compression), not DuckDB's default v0.10.2 one
    con = duckdb.connect(str(data / "warehouse" / "analytics.duckdb"), read_only=True)
    assert first(con.execute("select tags['storage_version'] from duckdb_databases() where database_name = 'analytics'"
                       ))[0] == f"{STORAGE_VERSION}+"
    con.close()
