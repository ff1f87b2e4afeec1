"""The load sequence (issue 31): every load takes the next number in its own transaction; a
warehouse from before it is numbered once, in the order of its recorded times."""

from __future__ import annotations

from pipelines.lib.ingest import ensure_schema, ingest_all
from tests.helpers import DIMENSIONS, event, write_batch

B1, B2, B3 = "20261102T000500Z-000001", "20261103T000500Z-000002", "20261104T000500Z-000003"


def test_each_load_takes_the_next_number_and_a_forgotten_one_is_never_handed_out_again(settings, con):
    from pipelines.lib.ingest.recover import forget_batches

    write_batch(settings.exports_dir, B1, {**DIMENSIONS, "usage_events": [event()]})
    write_batch(settings.exports_dir, B2, {"usage_events": [event(event_id="e2")]})
    ingest_all(con, settings)
    assert con.execute("select batch_id, load_seq from ops.ingested_batches order by 1").fetchall() == [(B1, 1), (B2, 2)]
    assert set(con.execute("select batch_id, load_seq from ops.touched_dates").fetchall()) == {(B1, 1), (B2, 2)}
    assert con.execute("select first_seq, last_seq from ops.ingest_runs").fetchall() == [(1, 2)]
    forget_batches(con, settings, [B2])
    ingest_all(con, settings)  # B2 again: a new number, above every number handed out
    assert con.execute("select load_seq from ops.ingested_batches where batch_id = ?", [B2]).fetchall() == [(3,)]
    assert con.execute("select last_seq from ops.load_sequence").fetchall() == [(3,)]


def test_a_warehouse_from_before_the_sequence_is_numbered_once_by_its_times(settings, con):
    ensure_schema(con)
    con.execute("delete from ops.load_sequence")  # as a warehouse from before it
    con.execute("""insert into ops.ingested_batches (batch_id, exported_at, loaded_at, status, manifest_sha256, file_count)
                   values (?, now(), timestamptz '2026-11-10 10:00:00+00', 'loaded', 'a', 1),
                          (?, now(), timestamptz '2026-11-10 09:00:00+00', 'loaded', 'b', 1),
                          (?, now(), timestamptz '2026-11-10 08:00:00+00', 'rejected', 'c', 0)""", [B1, B2, B3])
    con.execute("""insert into ops.touched_dates (batch_id, table_name, day, recorded_at) values
                   (?, 'usage_events', '2026-11-01', timestamptz '2026-11-10 10:00:00+00'),
                   (?, 'usage_events', '2026-11-02', timestamptz '2026-11-10 09:00:00+00'),
                   (?, 'usage_events', '2026-11-01', timestamptz '2026-11-10 11:00:00+00')""", [B1, B2, B1])
    con.execute("""insert into ops.ingest_runs (started_at, finished_at, batches_loaded, rows_released) values
                   (timestamptz '2026-11-10 08:59:00+00', timestamptz '2026-11-10 10:01:00+00', 2, 0),
                   (timestamptz '2026-11-10 10:59:00+00', timestamptz '2026-11-10 11:01:00+00', 0, 1)""")
    ensure_schema(con)
    # 09:00 -> 1, 10:00 -> 2, the release at 11:00 -> 3; a rejected batch takes none
    assert con.execute("select batch_id, load_seq from ops.ingested_batches order by 1").fetchall() == [
        (B1, 2), (B2, 1), (B3, None)]
    assert sorted(con.execute("select batch_id, day::varchar, load_seq from ops.touched_dates").fetchall()) == [
        (B1, "2026-11-01", 2), (B1, "2026-11-01", 3), (B2, "2026-11-02", 1)]
    assert con.execute("select first_seq, last_seq from ops.ingest_runs order by started_at").fetchall() == [
        (1, 2), (3, 3)]
    assert con.execute("select last_seq from ops.load_sequence").fetchall() == [(3,)]
    ensure_schema(con)  # once
    assert con.execute("select count(*) from ops.load_sequence").fetchall() == [(1,)]
