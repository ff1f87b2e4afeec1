"""Any directory name works, and a damaged lake never reaches the published warehouse (issue 17,
classes 4 and 5; warehouse-v1 Integrity v1.1): real runs of the main command."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys

import duckdb
import pytest

from pipelines.lib.config import PROJECT_ROOT, SAMPLE_EXPORTS
from tests.helpers import WALL_CLOCK, run_pipeline

pytestmark = pytest.mark.e2e


def marts(published) -> dict:
    """A hash of every table of a published warehouse's marts schema (wall-clock columns aside)."""
    con = duckdb.connect(str(published), read_only=True)
    out = {}
    for (table,) in con.execute("select table_name from duckdb_tables() where schema_name = 'marts' order by 1").fetchall():
        cols = [c for (c,) in con.execute("select column_name from duckdb_columns() where schema_name = 'marts' "
                                          "and table_name = ? order by column_index", [table]).fetchall()
                if c not in WALL_CLOCK]
        rows = con.execute(f'select {", ".join(cols)} from marts."{table}" order by all').fetchall()
        out[table] = (len(rows), hashlib.sha256(repr(rows).encode()).hexdigest())
    con.close()
    return out


def cli(data, exports, *args):
    env = {"ANALYTICS_DATA_DIR": str(data), "ANALYTICS_EXPORTS_DIR": str(exports),
           "XDG_STATE_HOME": str(data.parent.parent / "state")}
    return subprocess.run([sys.executable, "-m", "pipelines", *args], cwd=PROJECT_ROOT, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=300)


def test_glob_characters_in_both_paths_and_a_lost_lake_partition(built, tmp_path):
    root = tmp_path / "odd [x] {y} *?"
    exports, data = root / "exports [prod]", root / "data[x]"
    shutil.copytree(SAMPLE_EXPORTS, exports)
    # a `?` in the data directory's path: its DuckDB files and Dagster home live under
    # XDG_STATE_HOME, linked from it (pipelines/lib/config.py, url_safe)
    state = {"XDG_STATE_HOME": str(tmp_path / "state")}
    first = run_pipeline(data, exports, **state)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    published_db = data / "warehouse" / "analytics.duckdb"  # through the link
    want = marts(built.published_db)
    assert (data / "warehouse").is_symlink() and str(tmp_path / "state") in os.readlink(data / "warehouse")
    assert marts(published_db) == want
    assert want["fct_usage_events"][0] > 100  # not two empty warehouses

    # a partition of the lake goes missing: the next run fails before building, nothing published
    published = published_db.read_bytes()
    lost = sorted((data / "lake" / "usage_events").iterdir())[0]
    shutil.rmtree(lost)
    broken = run_pipeline(data, exports, **state)
    assert broken.returncode != 0
    assert "the lake does not match the ingestion record" in broken.stdout + broken.stderr
    assert f"{lost}/" in broken.stdout + broken.stderr  # the missing file, named
    assert published_db.read_bytes() == published

    verify = cli(data, exports, "verify")
    assert verify.returncode == 1 and "missing" in verify.stdout
    batches = verify.stdout.strip().splitlines()[-1].split("reingest ")[1].rstrip("`").split()
    assert batches and all(b.startswith("2026") for b in batches)
    assert cli(data, exports, "reingest", *batches).returncode == 0
    recovered = run_pipeline(data, exports, **state)
    assert recovered.returncode == 0, recovered.stdout[-3000:] + recovered.stderr[-3000:]
    assert marts(published_db) == want
    assert cli(data, exports, "verify").returncode == 0
