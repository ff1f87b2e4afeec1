"""An analyst holding the published warehouse open never blocks a run, and never sees half of one."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap

import duckdb
import pytest

from pipelines.lib.config import SAMPLE_EXPORTS
from pipelines.lib.duck import STORAGE_VERSION, first
from tests.helpers import run_pipeline

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


def test_an_open_reader_keeps_its_view_and_the_next_connection_sees_the_new_data(tmp_path):
    exports, data = tmp_path / "exports", tmp_path / "data"
    exports.mkdir()
    batches = sorted(d for d in SAMPLE_EXPORTS.iterdir() if (d / "manifest.json").exists())
    for d in batches[:2]:
        shutil.copytree(d, exports / d.name)
    built = run_pipeline(data, exports)
    assert built.returncode == 0, built.stderr[-3000:]

    analyst = subprocess.Popen([sys.executable, "-c", ANALYST, str(data / "warehouse" / "analytics.duckdb")],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        before = analyst.stdout.readline().split()
        assert before[0] == "before" and before[1] == "2"
        for d in batches[2:]:
            shutil.copytree(d, exports / d.name)
        second = run_pipeline(data, exports)  # the analyst's connection is open all along
        assert second.returncode == 0, second.stderr[-3000:]
        out, _ = analyst.communicate("go\n", timeout=60)
    finally:
        if analyst.poll() is None:
            analyst.kill()
    same, new = (line.split() for line in out.splitlines())
    assert same == ["same", *before[1:]]  # a consistent view: the old file, whole
    assert new[0] == "new" and new[1] == "4"  # batches 3 and 5 loaded; 4 is the corrupt one
    assert int(new[2]) > int(before[2])
    # the published file is in the storage format the pipeline creates files in (its faster
    # string compression), not DuckDB's default v0.10.2 one
    con = duckdb.connect(str(data / "warehouse" / "analytics.duckdb"), read_only=True)
    assert first(con.execute("select tags['storage_version'] from duckdb_databases() where database_name = 'analytics'"
                       ))[0] == f"{STORAGE_VERSION}+"
    con.close()
