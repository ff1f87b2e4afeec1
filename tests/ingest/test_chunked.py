"""A file bigger than Settings.ingest_chunk_rows is read, checked and loaded a chunk at a time
(read.read_file_chunks, run.load_chunked): the record it leaves equals the record of the same file
read whole, row for row, whatever falls on a chunk boundary."""

from __future__ import annotations

import dataclasses
import shutil

import pytest

from pipelines.lib.config import Settings
from pipelines.lib.duck import connect
from pipelines.lib.ingest import control_total_breaks, ingest_all, lake_breaks
from tests.helpers import DIMENSIONS, event, lake_table, write_batch

B1, B2 = "20261102T000500Z-000001", "20261103T000500Z-000002"

# Chunks of 3 rows: copies of B1's e1 in chunks 1, 2 and 3 (one conflicting), of this file's e4 in
# chunks 2 and 4, failures on both sides of a boundary, an unparseable line at the end.
ROWS = [
    event(), event(event_id="e2"), event(event_id="bad", quantity="-1"),
    event(event_id="e1"), event(event_id="e3", project_id="nope"), event(event_id="e4", occurred_at="2026-11-02T01:00:00Z",
                                                                       recorded_at="2026-11-02T01:00:05Z"),
    event(event_id="e1", quantity="9"), event(event_id="e5"), event(event_id="e2"),
    event(event_id="e6", organization_id="o2", project_id="p2", api_key_id="k2"),
    event(event_id="e4", occurred_at="2026-11-02T01:00:00Z", recorded_at="2026-11-02T01:00:05Z"),
]
GARBAGE = {"csv": ['x,y'], "jsonl": ["{not json"], "parquet": []}


def record(settings: Settings) -> dict:
    con = connect(settings.build_db, settings)
    try:
        out = {sql: con.execute(sql).fetchall() for sql in (
            "select table_name, row_number, reason, raw_record from ops.quarantine order by all",
            "select table_name, row_number, duplicate_of_batch_id from ops.duplicate_rows order by all",
            "select table_name, path, rows_in_file, rows_loaded, rows_quarantined, rows_duplicate, schema_drift "
            "from ops.ingested_files order by all",
            "select event_id, _batch_id, _row_number, _content_hash from raw.usage_events_keys order by all",
            "select batch_id, status, reason from ops.ingested_batches order by all",
        )}
        out["lake rows"] = con.execute(f"select * from {lake_table(settings, 'usage_events')} order by all").fetchall()
        out["breaks"] = control_total_breaks(con) + lake_breaks(con, settings.lake_dir)
        out["lake files"] = con.execute("select path from ops.lake_files where table_name = 'usage_events' "
                                        "order by all").fetchall()
    finally:
        con.close()
    return out


@pytest.mark.parametrize("encoding", [("csv", "gzip"), ("jsonl", "none"), ("parquet", "none")],
                         ids=lambda e: "+".join(e))
def test_a_file_loaded_in_chunks_leaves_the_record_it_leaves_whole(settings, tmp_path, encoding):
    write_batch(settings.exports_dir, B1, {**DIMENSIONS, "usage_events": ROWS[:2]}, encoding)
    write_batch(settings.exports_dir, B2, {**DIMENSIONS, "usage_events": ROWS}, encoding,
                raw_lines={"usage_events": GARBAGE[encoding[0]]})
    if GARBAGE[encoding[0]]:
        from tests.helpers import edit_manifest, rehash

        name = f"usage_events.{encoding[0]}" + (".gz" if encoding[1] == "gzip" else "")
        rehash(settings.exports_dir / B2, name)
        edit_manifest(settings.exports_dir / B2, lambda d: [f.update(row_count=len(ROWS) + 1) for f in d["files"]
                                                             if f["table"] == "usage_events"])
    results = {}
    for chunk_rows in (1_000_000, 3):
        run = dataclasses.replace(settings, data_dir=tmp_path / f"data-{chunk_rows}", ingest_chunk_rows=chunk_rows)
        con = connect(run.build_db, run)
        summary = ingest_all(con, run)
        con.close()
        assert summary.loaded == [B1, B2], summary.rejected
        results[chunk_rows] = record(run)
    whole, chunked = results[1_000_000], results[3]
    lake_files = chunked.pop("lake files"), whole.pop("lake files")
    assert chunked == whole
    assert whole["breaks"] == []
    # the file's rows were decided across chunks: e1's copies are duplicates within the file (no
    # duplicate_of) or of B1, its changed copy a conflict; e2's second copy, two chunks later, too
    reasons = {(r[1], r[2]) for r in whole["select table_name, row_number, reason, raw_record from ops.quarantine "
                                            "order by all"] if r[0] == "usage_events"}
    assert {(3, "negative_quantity"), (5, "unknown_project_id"), (7, "duplicate_conflict"), (12, "unparseable")} \
        >= reasons >= {(3, "negative_quantity"), (5, "unknown_project_id"), (7, "duplicate_conflict")}
    duplicates = whole["select table_name, row_number, duplicate_of_batch_id from ops.duplicate_rows order by all"]
    assert [(n, of) for t, n, of in duplicates if t == "usage_events"] == [(1, B1), (2, B1), (4, B1), (9, B1), (11, None)]
    # one lake file per chunk and day, recorded; read whole: one file per day
    assert len(lake_files[0]) > len(lake_files[1])
    assert all(".part0000" in p for (p,) in lake_files[0] if B2 in p)


def test_a_chunked_file_with_a_wrong_row_count_is_rejected_before_anything_loads(settings):
    rows = [event(event_id=f"e{i}") for i in range(7)]
    write_batch(settings.exports_dir, B1, {**DIMENSIONS, "usage_events": rows})
    from tests.helpers import edit_manifest

    edit_manifest(settings.exports_dir / B1, lambda d: [f.update(row_count=8) for f in d["files"]
                                                        if f["table"] == "usage_events"])
    run = dataclasses.replace(settings, ingest_chunk_rows=3)
    con = connect(run.build_db, run)
    summary = ingest_all(con, run)
    assert summary.rejected[B1].startswith("row_count_mismatch")
    assert con.execute("select count(*) from ops.lake_files").fetchone() == (0,)
    con.close()
    assert not list(run.lake_dir.rglob("*.parquet")) if run.lake_dir.exists() else True
    assert not list(run.data_dir.glob(".inflated.*"))  # no inflated copy left behind
    shutil.rmtree(run.data_dir)
