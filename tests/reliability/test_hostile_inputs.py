"""Hostile and broken exports: a clear rejection or a quarantine row with a reason, never a crash
and never a silent drop. These call the ingestion code directly: fast."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.lib.duck import first
from pipelines.lib.ingest import control_total_breaks, ingest_all
from tests.helpers import DIMENSIONS, KEY, edit_manifest, event, lake_table, rehash, write_batch

B1, B2 = "20261102T000500Z-000001", "20261103T000500Z-000002"


def outcomes(con, table="usage_events"):
    return con.execute("select rows_in_file, rows_loaded, rows_quarantined, rows_duplicate from ops.ingested_files "
                       "where table_name = ?", [table]).fetchall()


def reasons(con):
    return dict(con.execute("select row_number, reason from ops.quarantine order by 1").fetchall())


def test_an_embedded_newline_in_a_quoted_field_keeps_row_numbers_right(settings, con):
    keys = [dict(KEY, label="line one\nline two, \"quoted\""), dict(KEY, api_key_id="k bad")]
    write_batch(settings.exports_dir, B1, {**DIMENSIONS, "api_keys": keys})
    ingest_all(con, settings)
    assert first(con.execute("select label from raw.api_keys")) == ('line one\nline two, "quoted"',)
    assert reasons(con) == {2: "bad_id"}  # the second data row, though the file's third line


@pytest.mark.parametrize("encoding", [("csv", "gzip"), ("jsonl", "none")], ids=["csv", "jsonl"])
def test_a_10_mb_field_loads_whole(settings, con, encoding):
    big = json.dumps({"blob": "x" * (10 * 1024 * 1024)})
    write_batch(settings.exports_dir, B1, {**DIMENSIONS, "usage_events": [event(attributes=big)]}, encoding)
    assert ingest_all(con, settings).loaded == [B1]
    assert first(con.execute(f"select length(attributes) from {lake_table(settings, 'usage_events')}")) == (len(big),)


def test_parquet_columns_of_the_wrong_type_are_quarantined_by_type(settings, con):
    d = write_batch(settings.exports_dir, B1, DIMENSIONS)
    n = 3
    table = pa.table({
        "event_id": pa.array([1, 2, 3], pa.int64()),  # ids are strings
        "outbox_seq": ["1", "x", "3"],  # an int column delivered as text, one value not an int
        "occurred_at": ["2026-11-01T10:00:00Z"] * n, "recorded_at": ["2026-11-01T10:00:00Z"] * n,
        "organization_id": ["o1"] * n, "project_id": ["p1"] * n, "api_key_id": pa.array([None] * n, pa.string()),
        "model_id": pa.array([None] * n, pa.string()), "resource_id": pa.array([None] * n, pa.string()),
        "usage_unit": ["gpu_hour.h100"] * n, "quantity": ["1", "1", "1"],
        "correction_of": pa.array([None] * n, pa.string()), "attributes": pa.array([None] * n, pa.string()),
    })
    pq.write_table(table, d / "usage_events.parquet")
    edit_manifest(d, lambda doc: doc["files"].append(dict(table="usage_events", path="usage_events.parquet",
                                                         format="parquet", compression="none", row_count=n,
                                                         sha256="0" * 64)))
    rehash(d, "usage_events.parquet")
    ingest_all(con, settings)
    assert reasons(con) == {1: "bad_id", 2: "bad_id", 3: "bad_id"}
    assert outcomes(con) == [(3, 0, 3, 0)]


def test_ids_and_column_names_that_look_like_sql_are_data_not_code(settings, con):
    d = write_batch(settings.exports_dir, B1, {**DIMENSIONS, "usage_events": [
        event(event_id="e1'; drop table raw.usage_events; --"), event(event_id="e2", project_id="p1' or '1'='1"),
        event(event_id="e3")]})
    ingest_all(con, settings)
    assert reasons(con) == {1: "bad_id", 2: "bad_id"}
    assert first(con.execute("select count(*) from raw.organizations")) == (2,)
    assert con.execute("select event_id from raw.usage_events_keys").fetchall() == [("e3",)]
    # a header naming a column in SQL fails its file (v1.1: names are [A-Za-z0-9_]); nothing runs
    lines = (d / "usage_events.csv").read_text().splitlines()
    evil = "\"x'); drop table raw.organizations; --\""
    again = write_batch(settings.exports_dir, B2, {"usage_events": [event(event_id="e9")]})
    (again / "usage_events.csv").write_text("\n".join([lines[0] + "," + evil, lines[3] + ",1"]) + "\n")
    rehash(again, "usage_events.csv")
    assert ingest_all(con, settings).rejected[B2].startswith("bad_header: ")
    assert first(con.execute("select count(*) from raw.organizations")) == (2,)


def test_empty_and_header_only_files(settings, con):
    d = write_batch(settings.exports_dir, B1, {**DIMENSIONS, "usage_events": []})  # header only
    write_batch(settings.exports_dir, B2, {"usage_events": []}, ("jsonl", "gzip"))  # an empty JSONL file
    ingest_all(con, settings)
    assert outcomes(con) == [(0, 0, 0, 0), (0, 0, 0, 0)]
    bad = write_batch(settings.exports_dir, "20261104T000500Z-000003", {"usage_events": [event()]})
    (bad / "usage_events.csv").write_bytes(b"")  # zero bytes: not even a header
    rehash(bad, "usage_events.csv")
    edit_manifest(bad, lambda doc: doc["files"][0].update(row_count=0))
    summary = ingest_all(con, settings)
    assert "no CSV header row" in summary.rejected["20261104T000500Z-000003"]
    assert d.exists()


def test_timestamps_far_in_the_future_or_before_2000(settings, con):
    rows = [event(event_id="f", occurred_at="9999-12-31T23:59:59Z", recorded_at="9999-12-31T23:59:59Z"),
            event(event_id="p", occurred_at="0001-01-01T00:00:00Z", recorded_at="0001-01-01T00:00:00Z"),
            event(event_id="ok")]
    write_batch(settings.exports_dir, B1, {**DIMENSIONS, "usage_events": rows})
    ingest_all(con, settings)
    assert reasons(con) == {1: "implausible_timestamp", 2: "implausible_timestamp"}


def test_decimals_at_and_past_the_caps(settings, con):
    rows = [event(event_id="q_cap", quantity="999999999999.999999999"),
            event(event_id="q_over", quantity="1000000000000"),
            event(event_id="q_digits", quantity="1.1234567891"),
            event(event_id="q_int_digits", quantity="1234567890123456789")]
    write_batch(settings.exports_dir, B1, {**DIMENSIONS, "usage_events": rows})
    ingest_all(con, settings)
    assert reasons(con) == {2: "out_of_range", 3: "bad_decimal", 4: "bad_decimal"}
    assert str(first(con.execute(f"select quantity from {lake_table(settings, 'usage_events')}"))[0]) == "999999999999.999999999"


def test_a_manifest_listing_a_file_still_being_written_loads_once_complete(settings, con):
    d = write_batch(settings.exports_dir, B1, {**DIMENSIONS, "usage_events": [event(), event(event_id="e2")]})
    whole = (d / "usage_events.csv").read_bytes()
    (d / "usage_events.csv").write_bytes(whole[: len(whole) // 2])  # the exporter is still writing it
    assert "sha256 of usage_events.csv" in ingest_all(con, settings).rejected[B1]
    (d / "usage_events.csv").write_bytes(whole)
    assert ingest_all(con, settings).loaded == [B1]
    assert outcomes(con) == [(2, 2, 0, 0)] and control_total_breaks(con) == []


def test_two_writers_at_once_one_waits_for_the_other(settings):
    hold = textwrap.dedent("""
        import sys, time
        from pipelines.lib.config import Settings
        from pipelines.lib.publish import writer_lock
        with writer_lock(Settings.from_env()):
            print("holding", flush=True)
            time.sleep(3)
    """)
    holder = subprocess.Popen([sys.executable, "-c", hold], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "holding"
    from pipelines.lib.publish import WarehouseBusy, writer_lock

    with pytest.raises(WarehouseBusy, match=r"another run is writing .* \(pid \d+\)"):
        with writer_lock(settings, wait_seconds=0):
            pass
    with writer_lock(settings, wait_seconds=30):  # waits for the holder to let go, then proceeds
        pass
    assert holder.wait(timeout=10) == 0
