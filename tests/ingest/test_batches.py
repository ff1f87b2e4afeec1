"""Batch behaviour: formats, duplicates, references, re-delivery, conflicts, quarantine release."""

from __future__ import annotations

import hashlib
import json
import tempfile
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.lib import lake
from pipelines.lib.duck import first
from pipelines.lib.ingest import control_total_breaks, ingest_all
from pipelines.lib.publish import WarehouseBusy, writer_lock
from tests.helpers import DIMENSIONS, PROJECT, edit_manifest, event, lake_table, rehash, write_batch
from tools.generator import ENCODINGS

B1, B2, B3 = "20261102T000500Z-000001", "20261103T000500Z-000002", "20261104T000500Z-000003"


def quarantine(con):
    return dict(con.execute("select raw_record::json->>'event_id', reason from ops.quarantine "
                            "where table_name = 'usage_events'").fetchall())


def outcome_counts(con, batch_id, table="usage_events"):
    return first(con.execute("select rows_in_file, rows_loaded, rows_quarantined, rows_duplicate from ops.ingested_files "
                       "where batch_id = ? and table_name = ?", [batch_id, table]))


@pytest.mark.parametrize("encoding", ENCODINGS, ids=lambda e: "+".join(e))
def test_every_format_and_compression_loads_the_same_values(settings, con, encoding):
    rows = [event(), event(event_id="e2", occurred_at="2026-11-02T00:30:00+02:00", recorded_at="2026-11-01T22:31:00Z",
                           quantity="0.000000001", api_key_id=None, attributes='{"note": "line\\nbreak, \\"q\\""}', resource_id=None)]
    write_batch(settings.exports_dir, B1, {**DIMENSIONS, "usage_events": rows}, encoding)
    assert ingest_all(con, settings).loaded == [B1]
    got = con.execute("select event_id, occurred_at::varchar, quantity, api_key_id, resource_id, attributes "
                      f"from {lake_table(settings, 'usage_events')} order by event_id").fetchall()
    assert got == [
        ("e1", "2026-11-01 10:00:00+00", Decimal("1.5"), "k1", "r1", '{"a": 1}'),
        ("e2", "2026-11-01 22:30:00+00", Decimal("0.000000001"), None, None, '{"note": "line\\nbreak, \\"q\\""}'),
    ]
    # Hive-partitioned by the UTC date of occurred_at: e2 is Nov 2 locally but Nov 1 in UTC
    assert (settings.lake_dir / lake.event_file("usage_events", "2026-11-01", B1)).exists()
    assert not (settings.lake_dir / "usage_events" / "event_date=2026-11-02").exists()
    assert (settings.lake_dir / lake.snapshot_file("projects", B1)).exists()


def test_csv_quoted_empty_is_an_empty_string_and_empty_is_null(settings, con):
    d = write_batch(settings.exports_dir, B1, DIMENSIONS)
    header = "api_key_id,project_id,service_account_id,label,created_at,revoked_at,updated_at\n"
    (d / "api_keys.csv").write_text(header + 'k1,p1,,"",2026-01-01T00:00:00Z,,2026-01-01T00:00:00Z\n')
    rehash(d, "api_keys.csv")
    edit_manifest(d, lambda doc: [f.update(row_count=1) for f in doc["files"] if f["table"] == "api_keys"])
    ingest_all(con, settings)
    assert con.execute("select service_account_id, label from raw.api_keys").fetchall() == [(None, "")]


def test_unparseable_rows_are_quarantined_and_the_rest_loads(settings, con):
    write_batch(settings.exports_dir, B1, {**DIMENSIONS, "usage_events": [event(), event(event_id="e2")]},
                ("csv", "gzip"), raw_lines={"usage_events": ["e3,4,2026-11-01T10:00:00Z"]})
    write_batch(settings.exports_dir, B2, {**DIMENSIONS, "usage_events": [event(event_id="e4")]}, ("jsonl", "none"),
                raw_lines={"usage_events": ["[1, 2]", json.dumps(dict(event(event_id="e5"), quantity=1.5)), "not json"]})
    ingest_all(con, settings)
    q = con.execute("select batch_id, row_number, reason, raw_record from ops.quarantine order by all").fetchall()
    assert [(b, n, r) for b, n, r, _ in q] == [
        (B1, 3, "unparseable"), (B2, 2, "unparseable"), (B2, 3, "bad_decimal"), (B2, 4, "unparseable")]
    # v1.2: no text of a row that does not parse, only its byte length and the sha256 of its bytes
    assert json.loads(q[0][3]) == {"raw_length_bytes": 25, "raw_sha256": hashlib.sha256(
        b"e3,4,2026-11-01T10:00:00Z").hexdigest()}
    assert json.loads(q[2][3])["event_id"] == "e5"  # a JSON number where a decimal is expected
    assert outcome_counts(con, B1) == (3, 2, 1, 0)
    assert outcome_counts(con, B2) == (4, 1, 3, 0)


def test_parquet_native_types(settings, con):
    d = write_batch(settings.exports_dir, B1, DIMENSIONS)
    ts = pa.array([1_761_991_200_000_000] * 4, pa.timestamp("us", tz="+02:00"))
    table = pa.table({
        "event_id": ["n1", "n2", "n3", "n4"], "outbox_seq": pa.array([1, 2, 3, 4], pa.int64()),
        "occurred_at": ts, "recorded_at": ts,
        "organization_id": ["o1"] * 4, "project_id": ["p1"] * 4, "api_key_id": pa.array([None] * 4, pa.string()),
        "model_id": pa.array([None] * 4, pa.string()), "resource_id": pa.array([None] * 4, pa.string()),
        "usage_unit": ["gpu_hour.h100"] * 4,
        "quantity": pa.array([Decimal("1.25"), Decimal("2"), Decimal("3"), Decimal("4")], pa.decimal128(20, 9)),
        "correction_of": pa.array([None] * 4, pa.string()), "attributes": pa.array([None] * 4, pa.string()),
    })
    naive = table.set_column(2, "occurred_at", pa.array([1_761_991_200_000_000] * 4, pa.timestamp("us")))
    floats = table.set_column(10, "quantity", pa.array([1.25, 2.0, 3.0, 4.0], pa.float64()))
    pq.write_table(table.slice(0, 2), d / "good.parquet")
    pq.write_table(naive.slice(2, 1), d / "naive.parquet")
    pq.write_table(floats.slice(3, 1), d / "floats.parquet")
    # three batches: native good values, a zone-less timestamp, a float quantity
    for bid, name, n in [(B1, "good.parquet", 2), (B2, "naive.parquet", 1), (B3, "floats.parquet", 1)]:
        bd = d if bid == B1 else write_batch(settings.exports_dir, bid, {})
        (bd / "usage_events.parquet").write_bytes((d / name).read_bytes())

        def add(doc, n=n, bd=bd):
            doc["files"] = [f for f in doc["files"] if f["table"] != "usage_events"] + [dict(
                table="usage_events", path="usage_events.parquet", format="parquet", compression="none",
                row_count=n, sha256="0" * 64)]
        edit_manifest(bd, add)
        rehash(bd, "usage_events.parquet")
    summary = ingest_all(con, settings)
    assert summary.loaded == [B1, B2, B3], summary.rejected
    assert con.execute(f"select event_id, occurred_at::varchar, quantity from {lake_table(settings, 'usage_events')} order by 1").fetchall() == [
        ("n1", "2025-11-01 10:00:00+00", Decimal("1.25")), ("n2", "2025-11-01 10:00:00+00", Decimal("2"))]
    assert quarantine(con) == {"n3": "bad_timestamp", "n4": "bad_decimal"}


def test_duplicates_are_compared_as_values_whatever_the_format(settings, con):
    write_batch(settings.exports_dir, B1, {**DIMENSIONS, "usage_events": [event()]}, ("csv", "none"))
    same = event(occurred_at="2026-11-01T12:00:00+02:00", quantity="1.5", attributes='{ "a" : 1 }')
    changed = event(event_id="e1", quantity="1.6")
    write_batch(settings.exports_dir, B2, {"usage_events": [same, changed, event(event_id="e2"), event(event_id="e2")]},
                ("jsonl", "gzip"))
    ingest_all(con, settings)
    assert outcome_counts(con, B2) == (4, 1, 1, 2)
    assert first(con.execute(f"select quantity from {lake_table(settings, 'usage_events')} where event_id = 'e1'"))[0] == Decimal("1.5")
    assert con.execute("select batch_id, row_number, reason from ops.quarantine").fetchall() == [
        (B2, 2, "duplicate_conflict")]
    assert con.execute("select row_number, duplicate_of_batch_id from ops.duplicate_rows order by 1").fetchall() == [
        (1, B1), (4, None)]  # row 4 repeats row 3 of the same file


def test_references_use_the_snapshots_loaded_so_far_this_batch_included(settings, con):
    rows = [
        event(event_id="ok"),
        event(event_id="u_org", organization_id="o9"),
        event(event_id="u_prj", project_id="p9"),
        event(event_id="u_key", api_key_id="k9"),
        event(event_id="u_model", usage_unit="input_token", model_id="m9"),
        event(event_id="u_unit", usage_unit="gpu_hour.z1"),
        event(event_id="mm_prj", project_id="p2", api_key_id=None),  # p2 belongs to o2
        event(event_id="mm_key", api_key_id="k2"),  # k2 belongs to p2
        event(event_id="no_model", usage_unit="input_token", model_id=None),
        event(event_id="model_ok", usage_unit="input_token", model_id="m1"),
    ]
    write_batch(settings.exports_dir, B1, {**DIMENSIONS, "usage_events": rows})
    ingest_all(con, settings)
    assert quarantine(con) == {
        "u_org": "unknown_organization_id", "u_prj": "unknown_project_id", "u_key": "unknown_api_key_id",
        "u_model": "unknown_model_id", "u_unit": "unknown_usage_unit", "mm_prj": "reference_mismatch",
        "mm_key": "reference_mismatch", "no_model": "model_required"}
    assert sorted(r[0] for r in con.execute("select event_id from raw.usage_events_keys").fetchall()) == ["model_ok", "ok"]


def test_redelivery_is_skipped_without_reading_its_files(settings, con):
    d = write_batch(settings.exports_dir, B1, {**DIMENSIONS, "usage_events": [event()]})
    assert ingest_all(con, settings).loaded == [B1]
    (d / "usage_events.csv").unlink()  # a skipped batch never opens its data files
    summary = ingest_all(con, settings)
    assert summary.skipped == [B1] and not summary.loaded and not summary.rejected
    assert first(con.execute("select count(*) from raw.usage_events_keys"))[0] == 1


def test_conflicting_redelivery_is_recorded_and_loads_nothing(settings, con):
    write_batch(settings.exports_dir, B1, {**DIMENSIONS, "usage_events": [event()]})
    ingest_all(con, settings)
    write_batch(settings.exports_dir, B1, {**DIMENSIONS, "usage_events": [event(), event(event_id="e2")]})
    summary = ingest_all(con, settings)
    assert summary.conflicts == [B1]
    assert first(con.execute("select count(*) from raw.usage_events_keys"))[0] == 1
    status, reason = first(con.execute("select status, reason from ops.ingested_batches"))
    assert status == "loaded" and reason.startswith("conflicting_redelivery: ")
    ingest_all(con, settings)  # seen again: recorded once
    assert first(con.execute("select count(*) from ops.batch_conflicts"))[0] == 1


def test_a_rejected_batch_loads_once_corrected_under_the_same_id(settings, con):
    d = write_batch(settings.exports_dir, B1, {**DIMENSIONS, "usage_events": [event()]})
    edit_manifest(d, lambda doc: doc.update(contract_version=3))
    assert list(ingest_all(con, settings).rejected) == [B1]
    write_batch(settings.exports_dir, B1, {**DIMENSIONS, "usage_events": [event()]})
    assert ingest_all(con, settings).loaded == [B1]
    assert first(con.execute("select status, reason from ops.ingested_batches")) == ("loaded", None)


def test_an_incomplete_folder_is_left_alone_until_its_manifest_arrives(settings, con):
    d = write_batch(settings.exports_dir, B1, {**DIMENSIONS, "usage_events": [event()]})
    write_batch(settings.exports_dir, B2, {"usage_events": [event(event_id="e2")]})
    manifest = (d / "manifest.json").read_bytes()
    (d / "manifest.json").unlink()
    summary = ingest_all(con, settings)
    # B2 is not held back, but its references need B1's dimensions, which are not loaded yet
    assert summary.loaded == [B2] and B1 not in summary.rejected
    assert first(con.execute("select count(*) from ops.ingested_batches where batch_id = ?", [B1]))[0] == 0
    (d / "manifest.json").write_bytes(manifest)
    assert ingest_all(con, settings).loaded == [B1]


def test_retry_quarantine_releases_rows_whose_reference_arrived(settings, con, monkeypatch):
    late = [event(event_id="late", project_id="p3", api_key_id=None), event(event_id="wrong_key", project_id="p3")]
    write_batch(settings.exports_dir, B1, {**DIMENSIONS, "usage_events": [event(), *late]})
    ingest_all(con, settings)
    assert quarantine(con) == {"late": "unknown_project_id", "wrong_key": "unknown_project_id"}
    write_batch(settings.exports_dir, B2, {**DIMENSIONS, "projects": [PROJECT, dict(PROJECT, project_id="p3")]})
    ingest_all(con, settings)  # without the flag, nothing is retried
    assert first(con.execute("select count(*) from raw.usage_events_keys"))[0] == 1
    monkeypatch.setenv("ANALYTICS_RETRY_QUARANTINE", "1")
    from pipelines.lib.config import Settings

    summary = ingest_all(con, Settings.from_env())
    assert summary.released == 1
    assert first(con.execute("select _batch_id, _row_number from raw.usage_events_keys where event_id = 'late'")) == (B1, 2)
    # k1 belongs to p1: now that p3 is known, the row is still quarantined, for its real reason
    assert con.execute("select raw_record::json->>'event_id', reason, released_at is not null from ops.quarantine "
                       "order by 1").fetchall() == [("late", "unknown_project_id", True),
                                                    ("wrong_key", "reference_mismatch", False)]
    assert outcome_counts(con, B1) == (3, 2, 1, 0)
    assert control_total_breaks(con) == []
    assert con.execute(f"select event_id, _batch_id, _row_number from {lake_table(settings, 'usage_events')} "
                       "order by _row_number").fetchall() == [("e1", B1, 1), ("late", B1, 2)]


def test_a_release_that_dies_before_its_commit_is_redone_once(settings, con, monkeypatch):
    write_batch(settings.exports_dir, B1, {**DIMENSIONS, "usage_events": [event(), event(event_id="late", project_id="p3",
                                                                                        api_key_id=None)]})
    ingest_all(con, settings)
    write_batch(settings.exports_dir, B2, {**DIMENSIONS, "projects": [PROJECT, dict(PROJECT, project_id="p3")]})
    assert ingest_all(con, settings).loaded == [B2]
    monkeypatch.setenv("ANALYTICS_RETRY_QUARANTINE", "1")
    from pipelines.lib.config import Settings
    from pipelines.lib.ingest import quarantine as ingest

    real = ingest._write_quarantine_file

    def dies_after_the_lake(con, settings, batch_id, table):  # the lake files are rewritten by now
        raise RuntimeError("killed")

    monkeypatch.setattr(ingest, "_write_quarantine_file", dies_after_the_lake)
    with pytest.raises(RuntimeError):
        ingest_all(con, Settings.from_env())
    assert first(con.execute("select count(*) from raw.usage_events_keys")) == (1,)  # rolled back
    monkeypatch.setattr(ingest, "_write_quarantine_file", real)
    assert ingest_all(con, Settings.from_env()).released == 1
    assert con.execute(f"select event_id, _row_number from {lake_table(settings, 'usage_events')} "
                       "order by _row_number").fetchall() == [("e1", 1), ("late", 2)]
    assert control_total_breaks(con) == []


def test_a_warehouse_holding_whole_event_rows_moves_to_keys_and_still_finds_duplicates(settings, con):
    write_batch(settings.exports_dir, B1, {**DIMENSIONS, "usage_events": [event()]})
    ingest_all(con, settings)
    # The layout before raw.usage_events_keys: whole rows in raw.usage_events, no keys table.
    cols = "event_id, outbox_seq, occurred_at, recorded_at, organization_id, project_id, api_key_id, model_id, " \
           "resource_id, usage_unit, quantity, correction_of, attributes"
    con.execute(f"""insert into raw.usage_events select {cols}, k._batch_id, k._path, k._row_number, k._content_hash
                    from {lake_table(settings, 'usage_events')} l join raw.usage_events_keys k using (event_id)""")
    con.execute("drop table raw.usage_events_keys")
    write_batch(settings.exports_dir, B2, {"usage_events": [event(), event(event_id="e2")]})
    assert ingest_all(con, settings).loaded == [B2]
    assert first(con.execute("select count(*) from raw.usage_events")) == (0,)
    assert con.execute("select event_id, _batch_id from raw.usage_events_keys order by 1").fetchall() == [
        ("e1", B1), ("e2", B2)]
    assert outcome_counts(con, B2) == (2, 1, 0, 1)
    assert control_total_breaks(con) == []


def test_control_totals_hold_for_every_file_and_a_break_is_caught(settings, con):
    rows = [event(), event(), event(event_id="x", quantity="-1"), event(event_id="e1", quantity="9")]
    write_batch(settings.exports_dir, B1, {**DIMENSIONS, "usage_events": rows})
    ingest_all(con, settings)
    assert outcome_counts(con, B1) == (4, 1, 2, 1)
    assert control_total_breaks(con) == []
    con.execute("delete from ops.duplicate_rows")  # a lost duplicate record must not go unnoticed
    breaks = control_total_breaks(con)
    assert [(b["table_name"], b["rows_in_file"], b["rows_duplicate"]) for b in breaks] == [("usage_events", 4, 0)]


def test_schema_drift_is_recorded_not_an_error(settings, con):
    d = write_batch(settings.exports_dir, B1, {**DIMENSIONS, "usage_events": [event()]})
    text = (d / "usage_events.csv").read_text().splitlines()
    (d / "usage_events.csv").write_text("\n".join([text[0] + ",region", text[1] + ",eu"]) + "\n")
    rehash(d, "usage_events.csv")
    ingest_all(con, settings)
    assert outcome_counts(con, B1) == (1, 1, 0, 0)
    assert first(con.execute("select schema_drift from ops.ingested_files where table_name = 'usage_events'")) == (
        ["region"],)


def test_a_second_writer_is_refused_with_a_clear_message(settings):
    with writer_lock(settings):
        with pytest.raises(WarehouseBusy, match="another run is writing"):
            with writer_lock(settings):
                pass
    with writer_lock(settings):  # released after the block
        pass


def test_content_hashes_do_not_depend_on_how_many_rows_are_hashed_at_once(monkeypatch):
    """A large file's rows are hashed a slice at a time (ingest.HASH_ROWS): same hashes, same order."""
    import duckdb
    import polars as pl

    from models import TABLES
    from pipelines.lib.ingest import prepare as ingest
    from pipelines.lib.ingest.read import ROW

    table = TABLES["usage_events"]
    rows = [event(event_id=f"e{i}", quantity=f"{i}.5") for i in range(7)]
    text = pl.DataFrame(rows, schema={c: pl.String for c in rows[0]}).with_columns(
        pl.Series(ROW, range(1, 8), dtype=pl.Int64))
    text = table.with_parsed(text)
    hasher = duckdb.connect()
    whole = ingest._typed(table, text, hasher)
    monkeypatch.setattr(ingest, "HASH_ROWS", 3)  # slices of 3, 3 and 1 rows
    sliced = ingest._typed(table, text, hasher)
    assert sliced.equals(whole)
    assert whole["_content_hash"].n_unique() == 7 and whole[ROW].to_list() == list(range(1, 8))


SECRET = "sk_live_DO_NOT_KEEP"


def test_unparseable_rows_keep_no_text_of_undeclared_values(settings, con):
    """A ragged CSV row, a JSONL line repeating a key and an unterminated quote, each carrying an
    undeclared secret: quarantined as unparseable, and the secret is nowhere in the warehouse or
    the lake's quarantine files (v1.2)."""
    write_batch(settings.exports_dir, B1, {**DIMENSIONS, "usage_events": [event()]}, ("csv", "none"),
                raw_lines={"usage_events": [f"e2,2,2026-11-01T10:00:00Z,2026-11-01T10:00:01Z,o1,p1,k1,,r1,gpu_hour.h100,1,,{{}},{SECRET}",
                                            f'e3,3,"{SECRET}']})
    write_batch(settings.exports_dir, B2, {**DIMENSIONS, "usage_events": [event(event_id="e4")]}, ("jsonl", "none"),
                raw_lines={"usage_events": [json.dumps(event(event_id="e5"))[:-1] + f', "event_id": "{SECRET}"}}']})
    ingest_all(con, settings)
    q = con.execute("select batch_id, reason, raw_record from ops.quarantine order by all").fetchall()
    assert [(b, r) for b, r, _ in q] == [(B1, "unparseable"), (B1, "unparseable"), (B2, "unparseable")]
    assert all(set(json.loads(raw)) == {"raw_length_bytes", "raw_sha256"} for _, _, raw in q)
    everything = con.execute("select string_agg(raw_record, '') from ops.quarantine").fetchall()[0][0]
    assert SECRET not in everything
    for f in (settings.lake_dir / "quarantine").rglob("*.parquet"):
        assert SECRET.encode() not in f.read_bytes()
        assert all(SECRET not in str(r) for r in con.execute(f"select * from read_parquet('{f}')").fetchall())


def test_quarantined_raw_text_from_before_v1_2_is_scrubbed_once(settings, con):
    from pipelines.lib.ingest.quarantine import scrub_unparseable_text, unparseable_record

    write_batch(settings.exports_dir, B1, {**DIMENSIONS, "usage_events": [event()]}, ("csv", "none"),
                raw_lines={"usage_events": ["e3,4,2026-11-01T10:00:00Z"]})
    ingest_all(con, settings)
    raw = "e3,4,2026-11-01T10:00:00Z,é," + SECRET
    con.execute("update ops.quarantine set raw_record = ? where reason = 'unparseable'",
                [json.dumps({"raw_text": raw}, ensure_ascii=False)])
    assert scrub_unparseable_text(con, settings) == 1
    (record,) = con.execute("select raw_record from ops.quarantine where reason = 'unparseable'").fetchone()
    assert json.loads(record) == json.loads(unparseable_record(raw)) == {
        "raw_length_bytes": len(raw.encode()), "raw_sha256": hashlib.sha256(raw.encode()).hexdigest()}
    lake_file = next((settings.lake_dir / "quarantine").rglob("*.parquet"))
    assert SECRET.encode() not in lake_file.read_bytes()
    assert scrub_unparseable_text(con, settings) == 0  # once


def test_parquet_as_any_writer_writes_it(settings, con):
    """v1.2: dictionary-encoded strings (pandas `category`), view strings, a DECIMAL wider than the
    contract's whose values fit, timestamps in any zone (+05:30, a named zone): the same rows as
    their text forms; a value with more than 9 significant fractional digits is still bad_decimal."""
    d = write_batch(settings.exports_dir, B1, DIMENSIONS)
    n = 4
    # 2025-11-01T10:00:00Z, written as 15:30 at +05:30
    ts = pa.array([1_761_991_200_000_000] * n, pa.timestamp("us", tz="+05:30"))
    table = pa.table({
        "event_id": pa.array(["n1", "n2", "n3", "n4"]).dictionary_encode(),
        "outbox_seq": pa.array([1, 2, 3, 4], pa.uint32()),
        "occurred_at": ts, "recorded_at": ts.cast(pa.timestamp("ms", tz="Asia/Kolkata")),
        "organization_id": pa.array(["o1"] * n, pa.string_view()),
        "project_id": pa.array(["p1"] * n).dictionary_encode(),
        "api_key_id": pa.array([None] * n, pa.string_view()),
        "model_id": pa.array([None] * n, pa.string()), "resource_id": pa.array([None] * n, pa.string()),
        "usage_unit": pa.array(["gpu_hour.h100"] * n, pa.large_string()),
        "quantity": pa.array([Decimal("1.25"), Decimal("999999999999.999999999"), Decimal("0"),
                              Decimal("1.0000000001")], pa.decimal128(38, 18)),
        "correction_of": pa.array([None] * n, pa.string()), "attributes": pa.array([None] * n, pa.string()),
    })
    pq.write_table(table, d / "usage_events.parquet")
    wide = table.slice(0, 1).set_column(10, "quantity", pa.array([Decimal("2.5")], pa.decimal128(30, 12))) \
        .set_column(0, "event_id", pa.array(["n5"]).dictionary_encode())
    pq.write_table(wide, d / "wide.parquet")
    assert pq.read_schema(d / "usage_events.parquet").field("organization_id").type == pa.string_view()

    def add(doc):
        doc["files"] = [f for f in doc["files"] if f["table"] != "usage_events"] + [dict(
            table="usage_events", path="usage_events.parquet", format="parquet", compression="none",
            row_count=n, sha256="0" * 64)]
    edit_manifest(d, add)
    rehash(d, "usage_events.parquet")
    b2 = write_batch(settings.exports_dir, B2, {})
    (b2 / "usage_events.parquet").write_bytes((d / "wide.parquet").read_bytes())
    edit_manifest(b2, lambda doc: doc["files"].append(dict(
        table="usage_events", path="usage_events.parquet", format="parquet", compression="none", row_count=1,
        sha256="0" * 64)))
    rehash(b2, "usage_events.parquet")
    summary = ingest_all(con, settings)
    assert summary.loaded == [B1, B2], summary.rejected
    got = con.execute(f"select event_id, outbox_seq, occurred_at::varchar, recorded_at::varchar, organization_id, "
                      f"project_id, quantity from {lake_table(settings, 'usage_events')} order by 1").fetchall()
    at = "2025-11-01 10:00:00+00"
    assert got == [("n1", 1, at, at, "o1", "p1", Decimal("1.25")),
                   ("n2", 2, at, at, "o1", "p1", Decimal("999999999999.999999999")),
                   ("n3", 3, at, at, "o1", "p1", Decimal("0")),
                   ("n5", 1, at, at, "o1", "p1", Decimal("2.5"))]
    assert quarantine(con) == {"n4": "bad_decimal"}


@pytest.mark.parametrize("first_scope, second_scope, outcome", [
    (None, "\u2400", "duplicate_conflict"),  # NULL is not the text of the NULL mark (v1.2)
    ("a\u241fb", "a\u241fb", "duplicate"),  # the separator inside a text is escaped: the same row
    ("\u241b0", "\u2400", "duplicate_conflict"),  # the escape itself is escaped
    (None, None, "duplicate"),
])
def test_null_and_any_text_are_different_contents(settings, con, first_scope, second_scope, outcome):
    audit = dict(audit_id="a1", seq="1", occurred_at="2026-11-01T10:00:00Z", actor_type="user", actor_id="u1",
                 action="iam.role.grant", resource_type="role", resource_id="r1", organization_id=None,
                 outcome="success", privileged="true", scope=first_scope, correlation_id="c1", source_ip=None,
                 prev_hash="0" * 64, row_hash="a" * 64)
    write_batch(settings.exports_dir, B1, {"audit_events": [audit]}, ("jsonl", "none"))
    write_batch(settings.exports_dir, B2, {"audit_events": [dict(audit, scope=second_scope)]}, ("jsonl", "none"))
    assert ingest_all(con, settings).loaded == [B1, B2]
    got = con.execute("select batch_id, reason from ops.quarantine").fetchall()
    dups = con.execute("select batch_id from ops.duplicate_rows").fetchall()
    assert (got, dups) == (([(B2, outcome)], []) if outcome == "duplicate_conflict" else ([], [(B2,)]))


@pytest.mark.parametrize("chunk_rows", [None, 2])
@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_a_lone_cr_in_an_unquoted_field_quarantines_that_row_only(settings, con, chunk_rows, compression):
    """RFC 4180: a CR not followed by LF outside quotes makes its record malformed: that row is
    `unparseable` (its bytes' length and sha256), the others load, a CR inside quotes is data, and
    the batch is not rejected (DuckDB's strict parser stops on the whole file)."""
    import dataclasses
    import gzip as gz

    d = write_batch(settings.exports_dir, B1, {**DIMENSIONS, "usage_events": [
        event(), event(event_id="e2", resource_id="r2"), event(event_id="e3", resource_id="r\r3"),
        event(event_id="e4")]})
    text = (d / "usage_events.csv").read_bytes().decode()
    assert '"r\r3"' in text  # a CR inside quotes: data (here a bad id), not a broken record
    assert text.count(",r2,") == 1
    text = text.replace(",r2,", ",r\r2,")
    name = "usage_events.csv" + (".gz" if compression == "gzip" else "")
    (d / "usage_events.csv").unlink()
    data = text.encode()
    (d / name).write_bytes(gz.compress(data) if compression == "gzip" else data)
    edit_manifest(d, lambda doc: [f.update(path=name, compression=compression) for f in doc["files"]
                                  if f["table"] == "usage_events"])
    rehash(d, name)
    run = dataclasses.replace(settings, ingest_chunk_rows=chunk_rows) if chunk_rows else settings
    summary = ingest_all(con, run)
    assert summary.loaded == [B1], summary.rejected
    (line,) = [ln for ln in text.split("\n") if ",r\r2," in ln]
    assert con.execute("select row_number, reason, raw_record from ops.quarantine order by 1").fetchall()[0] == (
        2, "unparseable", json.dumps({"raw_length_bytes": len(line.encode()),
                                      "raw_sha256": hashlib.sha256(line.encode()).hexdigest()}, separators=(",", ":")))
    assert con.execute("select row_number, reason, raw_record ->> 'resource_id' from ops.quarantine "
                       "order by 1").fetchall()[1] == (3, "bad_id", "r\r3")
    assert con.execute(f"select event_id from {lake_table(settings, 'usage_events')} order by 1").fetchall() \
        == [("e1",), ("e4",)]
    assert outcome_counts(con, B1) == (4, 2, 2, 0)
    assert not list(Path(tempfile.gettempdir()).glob(".lone-cr.*"))  # its scratch copy removed
