"""A run checks what it reads (issue 31): a lake file changed behind the record, with the same size
and row count (quantities x10), fails the next run whose build reads it, before any report or
publish, and every run after it until the lake is mended."""

from __future__ import annotations

import shutil

import duckdb
import polars as pl

from pipelines.lib.config import SAMPLE_EXPORTS, Settings
from tests.helpers import run_pipeline


def tree(root):
    return {p.relative_to(root).as_posix(): (p.stat().st_ino, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}

FIRST = ("20261102T000500Z-000001", "20261103T000500Z-000002", "20261104T000500Z-000003")
NEXT = "20261105T000500Z-000005"  # touches 2026-11-03 and 2026-11-04


def test_a_tampered_lake_file_of_the_same_size_fails_the_run_before_publishing(tmp_path):
    exports, data = tmp_path / "exports", tmp_path / "data"
    exports.mkdir()
    for b in FIRST:
        shutil.copytree(SAMPLE_EXPORTS / b, exports / b)
    first = run_pipeline(data, exports)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    settings = Settings(exports_dir=exports, data_dir=data)
    published = settings.published_db.read_bytes()
    reports = tree(settings.reports_dir)
    assert "finance/2026-11/draft/reconciliation.xlsx" in reports

    # quantities x10 in an earlier batch's usage file of a day the next batch touches; the record's
    # size made to agree, as padding the file to its recorded size would (its sha256 is the record's own)
    con = duckdb.connect(str(settings.build_db))
    path, tampered_batch = con.execute(
        "select path, batch_id from ops.lake_files where table_name = 'usage_events' "
        "and day in ('2026-11-03', '2026-11-04') order by day desc, batch_id desc limit 1").fetchone()
    target = settings.lake_dir / path
    frame = pl.read_parquet(target)
    frame.with_columns(pl.col("quantity") * 10).write_parquet(target, compression="zstd", statistics=True)
    con.execute("update ops.lake_files set size_bytes = ? where path = ?", [target.stat().st_size, path])
    con.close()

    shutil.copytree(SAMPLE_EXPORTS / NEXT, exports / NEXT)
    second = run_pipeline(data, exports)
    assert second.returncode != 0
    assert "do not match the ingestion record" in second.stdout + second.stderr
    assert f"reingest {tampered_batch}" in second.stdout + second.stderr
    assert settings.published_db.read_bytes() == published  # nothing published
    assert reports == tree(settings.reports_dir)  # no report pack either

    # a careless rerun: the build checks every day again, and fails again
    third = run_pipeline(data, exports)
    assert third.returncode != 0
    assert "do not match the ingestion record" in third.stdout + third.stderr
    assert settings.published_db.read_bytes() == published
