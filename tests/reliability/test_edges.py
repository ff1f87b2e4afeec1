"""Nothing lost at the edges (issue 17): each class of hostile file, damaged data directory and fault
of the machine, through the real ingestion code. oltp-export-v1 "Clarifications (v1.1)" settles
what each must do."""

from __future__ import annotations

import errno
import gzip
import json
import os

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.lib.config import Settings
from pipelines.lib.duck import first
from pipelines.lib.ingest import MachineFault, control_total_breaks, ingest_all, lake_breaks
from tests.helpers import DIMENSIONS, edit_manifest, event, lake_table, rehash, write_batch

B1, B2, B3 = "20261102T000500Z-000001", "20261103T000500Z-000002", "20261104T000500Z-000003"


def reasons(con, table="usage_events"):
    return dict(con.execute("select row_number, reason from ops.quarantine where table_name = ? order by 1",
                            [table]).fetchall())


def recorded(con):
    return con.execute("select batch_id, status from ops.ingested_batches order by 1").fetchall()


def replace_text(batch_dir, name, fn):
    path = batch_dir / name
    path.write_text(fn(path.read_text()))
    rehash(batch_dir, name)


# 1. One bad batch never stops ingestion for good: input defects reject (or quarantine), with a reason


def test_a_jsonl_line_nested_thousands_deep_is_unparseable_and_the_rest_loads(settings, con):
    deep = '{"event_id": "deep", "attributes": ' + "[" * 5000 + "]" * 5000 + "}"
    write_batch(settings.exports_dir, B1, {**DIMENSIONS, "usage_events": [event(), event(event_id="e2")]},
                ("jsonl", "none"), raw_lines={"usage_events": [deep]})
    edit_manifest(settings.exports_dir / B1, lambda d: [f.update(row_count=3) for f in d["files"]
                                                       if f["table"] == "usage_events"])
    assert ingest_all(con, settings).loaded == [B1]
    assert reasons(con) == {3: "unparseable"}
    assert first(con.execute("select count(*) from raw.usage_events_keys")) == (2,)
    assert control_total_breaks(con) == []


def test_json_deeper_than_64_levels_or_repeating_a_key_is_refused(settings, con):
    nested = lambda n: '{"a": ' * n + "1" + "}" * n  # noqa: E731
    rows = [event(event_id="ok64", attributes=nested(64)), event(event_id="deep65", attributes=nested(65)),
            event(event_id="dupkey", attributes='{"a": 1, "a": 2}'),
            event(event_id="dupinner", attributes='{"x": {"k": "a:b", "k": 2}}')]
    write_batch(settings.exports_dir, B1, {**DIMENSIONS, "usage_events": rows})
    line_dup = '{"event_id": "e9", "event_id": "e10"}'
    write_batch(settings.exports_dir, B2, {"usage_events": [event(event_id="j1")]}, ("jsonl", "none"),
                raw_lines={"usage_events": [line_dup]})
    edit_manifest(settings.exports_dir / B2, lambda d: d["files"][0].update(row_count=2))
    assert ingest_all(con, settings).loaded == [B1, B2]
    got = con.execute("select batch_id, row_number, reason from ops.quarantine order by 1, 2").fetchall()
    assert got == [(B1, 2, "bad_json"), (B1, 3, "bad_json"), (B1, 4, "bad_json"), (B2, 2, "unparseable")]


@pytest.mark.parametrize("header_edit, why", [
    (lambda h: h + ",", "empty"),  # a trailing comma: an empty column name
    (lambda h: h.replace("quantity", "quan\x00tity"), "not made of"),
    (lambda h: h.replace("quantity", "quantity:parsed"), "not made of"),  # an internal working name
    (lambda h: h + ",event_id", "twice"),
], ids=["trailing-comma", "nul", "internal-name", "twice"])
def test_a_bad_csv_header_rejects_the_batch_and_the_next_batch_loads(settings, con, header_edit, why):
    d = write_batch(settings.exports_dir, B1, {**DIMENSIONS, "usage_events": [event()]})
    replace_text(d, "usage_events.csv", lambda t: "\n".join([header_edit(t.split("\n")[0]), *t.split("\n")[1:]]))
    write_batch(settings.exports_dir, B2, {**DIMENSIONS, "usage_events": [event(event_id="e2")]})
    summary = ingest_all(con, settings)
    assert summary.rejected[B1].startswith("bad_header: usage_events.csv") and why in summary.rejected[B1]
    assert summary.loaded == [B2]


def test_an_unexpected_error_reading_a_file_rejects_its_batch_as_unreadable_naming_it(settings, con, monkeypatch):
    from pipelines.lib.ingest import prepare

    real = prepare.read_file

    def explodes(path, f, table, compression=None):
        if f.table == "ledger_entries":
            raise ValueError("a reader bug")
        return real(path, f, table, compression)

    monkeypatch.setattr(prepare, "read_file", explodes)
    write_batch(settings.exports_dir, B1, {**DIMENSIONS, "ledger_entries": [], "usage_events": [event()]})
    write_batch(settings.exports_dir, B2, {**DIMENSIONS, "usage_events": [event(event_id="e2")]})
    summary = ingest_all(con, settings)
    assert summary.rejected[B1] == "unreadable_file: ledger_entries.csv: unexpected ValueError: a reader bug"
    assert summary.loaded == [B2]
    monkeypatch.setattr(prepare, "read_file", real)  # the bug fixed: the rejected batch loads on the next run
    assert ingest_all(con, settings).loaded == [B1]


# 2. Machine faults are not verdicts: the run fails naming batch and file, nothing is recorded


@pytest.mark.parametrize("fault", [
    PermissionError(errno.EACCES, "Permission denied"),
    duckdb.OutOfMemoryException("could not allocate block"),
    MemoryError(),
    OSError(errno.EIO, "Input/output error"),
], ids=["permission", "duckdb-oom", "memory", "io"])
def test_a_machine_fault_fails_the_run_records_nothing_and_the_next_run_loads(settings, con, monkeypatch, fault):
    from pipelines.lib.ingest import prepare

    real = prepare.read_file

    def faulty(path, f, table, compression=None):
        if f.table == "usage_events":
            raise fault
        return real(path, f, table, compression)

    write_batch(settings.exports_dir, B1, {**DIMENSIONS, "usage_events": [event()]})
    monkeypatch.setattr(prepare, "read_file", faulty)
    with pytest.raises(MachineFault, match=f"batch {B1}, file usage_events.csv: {type(fault).__name__}"):
        ingest_all(con, settings)
    assert recorded(con) == []
    monkeypatch.setattr(prepare, "read_file", real)
    assert ingest_all(con, settings).loaded == [B1]


def test_disk_full_while_inflating_is_a_fault_not_a_bad_gzip(settings, con, monkeypatch):
    from pipelines.lib.ingest import verify

    write_batch(settings.exports_dir, B1, {**DIMENSIONS, "usage_events": [event()]}, ("csv", "gzip"))

    class FullDisk:
        def __init__(self, path, mode):
            self.path = path
            open(path, mode).close()  # noqa: SIM115 -- the file exists, as a real partial write leaves it

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def write(self, block):
            raise OSError(errno.ENOSPC, "No space left on device", str(self.path))

    monkeypatch.setattr(verify, "open", FullDisk, raising=False)
    with pytest.raises(MachineFault, match=f"batch {B1}, file .*\\.csv\\.gz: OSError: .*No space left"):
        ingest_all(con, settings)
    assert recorded(con) == []
    assert not list(settings.data_dir.glob(".inflated.*"))
    monkeypatch.undo()
    assert ingest_all(con, settings).loaded == [B1]


def test_inflating_stops_before_the_disk_falls_below_the_free_space_kept(settings, con, monkeypatch):
    write_batch(settings.exports_dir, B1, {**DIMENSIONS, "usage_events": [event()]}, ("csv", "gzip"))
    monkeypatch.setenv("ANALYTICS_MIN_FREE_BYTES", str(10 ** 18))
    with pytest.raises(MachineFault, match="would leave less than"):
        ingest_all(con, Settings.from_env())
    assert recorded(con) == []
    monkeypatch.delenv("ANALYTICS_MIN_FREE_BYTES")
    assert ingest_all(con, Settings.from_env()).loaded == [B1]


def test_a_read_ahead_stopped_by_disk_space_is_read_again_alone(settings, con, monkeypatch):
    from pipelines.lib.ingest import run

    real, calls = run.prepare_batch, []

    def short_of_space_once(batch_dir, digest, s):
        calls.append(batch_dir.name)
        if batch_dir.name == B2 and calls.count(B2) == 1:
            raise MachineFault(B2, "usage_events.csv.gz", OSError(errno.ENOSPC, "would leave less"), disk_space=True)
        return real(batch_dir, digest, s)

    monkeypatch.setattr(run, "prepare_batch", short_of_space_once)
    write_batch(settings.exports_dir, B1, {**DIMENSIONS, "usage_events": [event()]}, ("csv", "gzip"))
    write_batch(settings.exports_dir, B2, {"usage_events": [event(event_id="e2")]}, ("csv", "gzip"))
    assert ingest_all(con, settings).loaded == [B1, B2]
    assert calls == [B1, B2, B2]


def test_an_unreadable_exports_folder_is_a_fault_naming_it(settings, con, monkeypatch):
    from pathlib import Path

    write_batch(settings.exports_dir, B1, {**DIMENSIONS, "usage_events": [event()]})
    real = Path.iterdir

    def denied(self):
        if self == settings.exports_dir:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "iterdir", denied)
    with pytest.raises(MachineFault, match=f"{settings.exports_dir}: PermissionError"):
        ingest_all(con, settings)


# 3. Decompression is bounded


def test_a_gzip_bomb_is_rejected_past_the_ratio_and_leaves_no_inflated_copy(settings, con, monkeypatch):
    d = write_batch(settings.exports_dir, B1, {**DIMENSIONS, "usage_events": [event()]}, ("csv", "gzip"))
    header = gzip.decompress((d / "usage_events.csv.gz").read_bytes()).split(b"\n")[0]
    (d / "usage_events.csv.gz").write_bytes(gzip.compress(header + b"\n" + b"a" * (8 << 20), compresslevel=9))
    rehash(d, "usage_events.csv.gz")
    monkeypatch.setenv("ANALYTICS_GZIP_RATIO_FLOOR_BYTES", "1MB")  # 8 MB from ~8 kB: ratio ~1000 > 100
    summary = ingest_all(con, Settings.from_env())
    assert summary.rejected[B1].startswith("decompression_limit: usage_events.csv.gz inflates past")
    assert not list(settings.data_dir.glob(".inflated.*"))


def test_the_absolute_inflation_cap(settings, con, monkeypatch):
    write_batch(settings.exports_dir, B1, {**DIMENSIONS, "usage_events": [event()]}, ("jsonl", "gzip"))
    monkeypatch.setenv("ANALYTICS_GZIP_MAX_BYTES", "100")
    assert ingest_all(con, Settings.from_env()).rejected[B1].startswith("decompression_limit: ")
    monkeypatch.delenv("ANALYTICS_GZIP_MAX_BYTES")
    assert ingest_all(con, Settings.from_env()).loaded == [B1]  # checked again, and within the default


# 4. The lake is checked against its record


def test_a_lake_file_missing_changed_or_swapped_is_a_break_naming_it(settings, con):
    write_batch(settings.exports_dir, B1, {**DIMENSIONS, "usage_events": [
        event(), event(event_id="e2", occurred_at="2026-11-01T23:00:00Z", recorded_at="2026-11-01T23:00:00Z")]})
    ingest_all(con, settings)
    assert lake_breaks(con, settings.lake_dir, content=True) == []
    day = settings.lake_dir / "usage_events" / "event_date=2026-11-01" / f"{B1}.parquet"
    snapshot = settings.lake_dir / "projects" / f"batch_id={B1}" / "snapshot.parquet"
    original = day.read_bytes()
    day.unlink()
    assert [(b["file"], b["problem"]) for b in lake_breaks(con, settings.lake_dir)] == [(str(day), "missing")]
    day.write_bytes(original[:40] + bytes([original[40] ^ 1]) + original[41:])  # same size, a data byte flipped
    assert lake_breaks(con, settings.lake_dir) == []
    assert [b["problem"] for b in lake_breaks(con, settings.lake_dir, content=True)] == ["sha256 differs from the record"]
    day.write_bytes(original)
    size = snapshot.stat().st_size
    pq.write_table(pq.read_table(snapshot).slice(0, 1), snapshot)  # one project of two left
    assert [(b["file"], b["problem"]) for b in lake_breaks(con, settings.lake_dir)] == [
        (str(snapshot), f"{snapshot.stat().st_size} bytes, recorded {size}")]
    con.execute("delete from ops.lake_files where path like 'usage_events/%'")  # the record loses a file
    assert [(b["table_name"], b["problem"]) for b in lake_breaks(con, settings.lake_dir)][1:] == [
        ("usage_events", "2 rows recorded as loaded, 0 in the recorded lake files")]


# 6. and 7. Only declared columns are kept, and no export header reaches internal state


@pytest.mark.parametrize("encoding", [("csv", "none"), ("jsonl", "none"), ("parquet", "none")],
                         ids=["csv", "jsonl", "parquet"])
def test_an_undeclared_column_is_recorded_by_name_and_its_values_kept_nowhere(settings, con, encoding):
    creds = [dict(credential_id="c1", purpose="tls", kind="certificate", owner_component="edge",
                  issued_at="2026-10-01T00:00:00Z", expires_at=None, rotated_at=None, rotation_period_days="x90",
                  revoked_at=None, updated_at="2026-10-01T00:00:00Z", secret_value="hunter2-s3cr3t")]
    write_batch(settings.exports_dir, B1, {**DIMENSIONS, "credentials": creds}, encoding)
    assert ingest_all(con, settings).loaded == [B1]
    assert reasons(con, "credentials") == {1: "bad_int"}
    assert first(con.execute("select schema_drift from ops.ingested_files where table_name = 'credentials'"
                       )) == (["secret_value"],)
    raw = json.loads(first(con.execute("select raw_record from ops.quarantine"))[0])
    assert "secret_value" not in raw and raw["credential_id"] == "c1"
    quarantine_file = settings.lake_dir / "quarantine" / "table=credentials" / f"batch_id={B1}" / "rows.parquet"
    assert b"hunter2" not in quarantine_file.read_bytes() and b"hunter2" not in pq.read_table(quarantine_file).to_string().encode()
    assert "hunter2" not in repr(con.execute("select * from ops.quarantine").fetchall())


def test_columns_named_like_internal_ones_are_ignored_as_drift(settings, con):
    """`_row_number`, `_batch_id` or a parsed twin's name delivered by the exporter change nothing."""
    rows = [dict(event(), **{"_row_number": "7", "_batch_id": "evil", "quantity:parsed": "999",
                             "attributes:parsed": '{"a": 1}', "_repeated": "true"}),
            dict(event(event_id="bad", attributes="{not json"), **{"attributes:parsed": '{"ok": 1}'}),
            dict(event(event_id="e3"), **{"occurred_at:parsed": "not a time"})]
    write_batch(settings.exports_dir, B1, {**DIMENSIONS, "usage_events": rows}, ("jsonl", "none"))
    assert ingest_all(con, settings).loaded == [B1]
    assert reasons(con) == {2: "bad_json"}
    got = con.execute(f"select event_id, quantity::varchar, _batch_id, _row_number from {lake_table(settings, 'usage_events')}"
                      " order by _row_number").fetchall()
    assert got == [("e1", "1.500000000", B1, 1), ("e3", "1.500000000", B1, 3)]
    assert set(first(con.execute("select schema_drift from ops.ingested_files where table_name = 'usage_events'"
                           ))[0]) == {"_row_number", "_batch_id", "quantity:parsed", "attributes:parsed",
                                                "_repeated", "occurred_at:parsed"}
    # in CSV such a header is refused outright (v1.1: [A-Za-z0-9_]), `_row_number` is just drift
    d = write_batch(settings.exports_dir, B2, {"usage_events": [dict(event(event_id="c1"), _row_number="5")]})
    assert ingest_all(con, settings).loaded == [B2]
    assert first(con.execute(f"select _row_number from {lake_table(settings, 'usage_events')} where event_id = 'c1'"
                       )) == (1,)
    assert d.exists()


# 9. The smaller ones


@pytest.mark.parametrize("encoding", [("csv", "none"), ("csv", "gzip"), ("jsonl", "none")], ids=["csv", "csv-gz", "jsonl"])
def test_a_byte_order_mark_is_ignored(settings, con, encoding):
    d = write_batch(settings.exports_dir, B1, {**DIMENSIONS, "usage_events": [event(), event(event_id="e2")]}, encoding)
    name = next(f["path"] for f in json.loads((d / "manifest.json").read_text())["files"] if f["table"] == "usage_events")
    data = (d / name).read_bytes()
    bom = b"\xef\xbb\xbf"
    (d / name).write_bytes(gzip.compress(bom + gzip.decompress(data)) if name.endswith(".gz") else bom + data)
    rehash(d, name)
    assert ingest_all(con, settings).loaded == [B1]
    assert reasons(con) == {} and first(con.execute("select count(*) from raw.usage_events_keys")) == (2,)


def test_a_leap_second_is_a_bad_timestamp_not_the_next_day(settings, con):
    write_batch(settings.exports_dir, B1, {**DIMENSIONS, "usage_events": [
        event(event_id="leap", occurred_at="2026-10-31T23:59:60Z", recorded_at="2026-11-01T00:00:01Z"),
        event(event_id="last", occurred_at="2026-10-31T23:59:59.999999Z", recorded_at="2026-11-01T00:00:01Z")]})
    ingest_all(con, settings)
    assert reasons(con) == {1: "bad_timestamp"}
    assert not (settings.lake_dir / "usage_events" / "event_date=2026-11-01").exists()


@pytest.mark.parametrize("version", [True, 1.0, "1", 2, None], ids=["true", "1.0", "string", "2", "null"])
def test_contract_version_must_be_the_json_integer_1(settings, con, version):
    edit_manifest(write_batch(settings.exports_dir, B1, DIMENSIONS), lambda d: d.update(contract_version=version))
    assert ingest_all(con, settings).rejected[B1].startswith("contract_version: ")


@pytest.mark.parametrize("row_count", [True, 1.0, "1", -1], ids=["true", "1.0", "string", "negative"])
def test_row_count_must_be_a_non_negative_json_integer(settings, con, row_count):
    edit_manifest(write_batch(settings.exports_dir, B1, {"usage_events": [event()]}),
                  lambda d: d["files"][0].update(row_count=row_count))
    assert ingest_all(con, settings).rejected[B1].startswith("manifest_invalid: row_count")


def test_a_batch_id_with_a_trailing_newline_does_not_match(settings, con):
    write_batch(settings.exports_dir, B1, DIMENSIONS)
    odd = settings.exports_dir / f"{B1}\n"
    (settings.exports_dir / B1).rename(odd)
    edit_manifest(odd, lambda d: d.update(batch_id=odd.name))
    assert ingest_all(con, settings).rejected[odd.name].startswith("manifest_invalid: batch id")


def test_exported_at_must_be_the_batch_id_time_and_not_in_the_future(settings, con):
    write_batch(settings.exports_dir, B1, DIMENSIONS, exported_at="2026-11-02T00:06:00Z")
    future = "20991231T000000Z-000009"
    write_batch(settings.exports_dir, future, {"usage_events": []})
    summary = ingest_all(con, settings)
    assert summary.rejected[B1].startswith("manifest_invalid: exported_at 2026-11-02T00:06:00")
    assert summary.rejected[future].startswith("exported_in_future: ")
    assert future in ingest_all(con, settings).rejected  # checked again on every run, never the "as of"
    assert first(con.execute("select count(*) from ops.ingested_batches where status = 'loaded'")) == (0,)


def test_symlinks_and_special_files_are_unsafe_and_a_symlinked_batch_is_not_a_batch(settings, con, tmp_path):
    d = write_batch(settings.exports_dir, B1, {**DIMENSIONS, "usage_events": [event()]})
    outside = tmp_path / "outside.csv"
    (d / "usage_events.csv").rename(outside)
    (d / "usage_events.csv").symlink_to(outside)  # same bytes, same sha256, but outside the folder
    d2 = write_batch(settings.exports_dir, B2, {**DIMENSIONS, "usage_events": [event(event_id="e2")]})
    (d2 / "usage_events.csv").unlink()
    os.mkfifo(d2 / "usage_events.csv")  # a reader would block on it for ever
    real = write_batch(tmp_path / "elsewhere", B3, {**DIMENSIONS, "usage_events": [event(event_id="e3")]})
    (settings.exports_dir / B3).symlink_to(real, target_is_directory=True)
    b4 = "20261105T000500Z-000004"
    d4 = write_batch(settings.exports_dir, b4, {**DIMENSIONS, "usage_events": [event(event_id="e4")]})
    (d4 / "manifest.json").rename(tmp_path / "manifest.json")
    (d4 / "manifest.json").symlink_to(tmp_path / "manifest.json")
    summary = ingest_all(con, settings)
    assert summary.rejected[B1] == "unsafe_path: listed file usage_events.csv is a symbolic link"
    assert summary.rejected[B2] == "unsafe_path: listed file usage_events.csv is not a regular file"
    assert summary.rejected.pop(b4) == "unsafe_path: manifest.json is a symbolic link"
    assert B3 not in summary.rejected and B3 not in summary.loaded
    assert recorded(con) == [(B1, "rejected"), (B2, "rejected"), (b4, "rejected")]


def test_the_same_files_under_a_reformatted_manifest_are_the_same_batch(settings, con):
    d = write_batch(settings.exports_dir, B1, {**DIMENSIONS, "usage_events": [event()]})
    assert ingest_all(con, settings).loaded == [B1]
    doc = json.loads((d / "manifest.json").read_text())
    doc["files"].reverse()
    (d / "manifest.json").write_text(json.dumps(doc, indent=4, sort_keys=True))
    summary = ingest_all(con, settings)
    assert summary.skipped == [B1] and summary.conflicts == []
    assert first(con.execute("select reason from ops.ingested_batches")) == (None,)
    replace_text(d, "usage_events.csv", lambda t: t.replace("1.500000", "2.500000"))  # other content: a conflict
    assert ingest_all(con, settings).conflicts == [B1]


def test_parquet_with_extra_and_internal_columns_reads_only_the_contract(settings, con):
    d = write_batch(settings.exports_dir, B1, {**DIMENSIONS, "usage_events": [event()]}, ("parquet", "none"))
    table = pq.read_table(d / "usage_events.parquet")
    table = table.append_column("_row_number", pa.array(["99"])).append_column("secret", pa.array(["s3cr3t"]))
    pq.write_table(table, d / "usage_events.parquet")
    rehash(d, "usage_events.parquet")
    assert ingest_all(con, settings).loaded == [B1]
    assert con.execute(f"select _row_number from {lake_table(settings, 'usage_events')}").fetchall() == [(1,)]
    assert b"s3cr3t" not in b"".join(p.read_bytes() for p in settings.lake_dir.rglob("*.parquet"))


def test_a_warehouse_from_before_the_lake_record_records_its_lake_once(settings, con):
    write_batch(settings.exports_dir, B1, {**DIMENSIONS, "usage_events": [event()]})
    write_batch(settings.exports_dir, B2, {"usage_events": [event(event_id="e2", occurred_at="2026-11-02T10:00:00Z",
                                                                  recorded_at="2026-11-02T10:00:00Z")]})
    ingest_all(con, settings)
    want = con.execute("select * exclude (written_at) from ops.lake_files order by path").fetchall()
    assert len(want) == 8  # six snapshots, two event days
    con.execute("delete from ops.lake_files")  # as a warehouse built before ops.lake_files
    ingest_all(con, settings)
    assert con.execute("select * exclude (written_at) from ops.lake_files order by path").fetchall() == want
    assert lake_breaks(con, settings.lake_dir, content=True) == []
