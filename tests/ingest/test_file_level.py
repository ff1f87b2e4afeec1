"""Each file-level failure of oltp-export-v1 rejects the whole batch, with its reason, loading nothing."""

from __future__ import annotations

import gzip
import json
import shutil
from decimal import Decimal

import pytest

from pipelines.lib.duck import first
from pipelines.lib.ingest import REJECTION_REASONS, ingest_all
from tests.helpers import DIMENSIONS, edit_manifest, event, lake_table, rehash, write_batch

BID = "20261102T000500Z-000001"


def batch(settings, encoding=("csv", "none"), bid=BID):
    return write_batch(settings.exports_dir, bid, {**DIMENSIONS, "usage_events": [event()]}, encoding)


def assert_rejected(con, settings, word: str, fragment: str, bid=BID):
    """Rejected with the closed-list `word` first (oltp-export-v1 v1.1), then a detail holding `fragment`."""
    assert word in REJECTION_REASONS
    summary = ingest_all(con, settings)
    assert list(summary.rejected) == [bid]
    assert summary.rejected[bid].startswith(f"{word}: ") and fragment in summary.rejected[bid]
    status, reason = first(con.execute("select status, reason from ops.ingested_batches where batch_id = ?", [bid]))
    assert status == "rejected" and reason == summary.rejected[bid]
    # nothing of it loaded: no rows, no files recorded, no lake files
    assert first(con.execute("select count(*) from raw.usage_events_keys"))[0] == 0
    assert first(con.execute("select count(*) from raw.organizations"))[0] == 0
    assert first(con.execute("select count(*) from ops.ingested_files"))[0] == 0
    assert not (settings.lake_dir / "usage_events").exists()
    assert not list(settings.data_dir.glob(".inflated.*"))  # no inflated copy of a gzipped file left


def test_unknown_contract_version(settings, con):
    edit_manifest(batch(settings), lambda d: d.update(contract_version=2))
    assert_rejected(con, settings, "contract_version", "unknown contract_version 2")


def test_listed_file_missing(settings, con):
    d = batch(settings)
    (d / "usage_events.csv").unlink()
    assert_rejected(con, settings, "missing_file", "listed file usage_events.csv is missing")


def test_sha256_mismatch(settings, con):
    d = batch(settings)
    with open(d / "usage_events.csv", "a") as fh:
        fh.write("\n")
    assert_rejected(con, settings, "sha256_mismatch", "sha256 of usage_events.csv does not match")


def test_row_count_mismatch(settings, con):
    d = batch(settings)
    edit_manifest(d, lambda doc: [f.update(row_count=2) for f in doc["files"] if f["table"] == "usage_events"])
    assert_rejected(con, settings, "row_count_mismatch", "holds 1 data rows, the manifest says 2")


def test_unknown_table(settings, con):
    d = batch(settings)
    edit_manifest(d, lambda doc: doc["files"][0].update(table="invoices"))
    assert_rejected(con, settings, "unknown_table", "unknown table 'invoices'")


@pytest.mark.parametrize("path", ["../usage_events.csv", "/etc/passwd", "sub/usage_events.csv", "a\\b.csv", ".."])
def test_unsafe_path(settings, con, path):
    d = batch(settings)
    edit_manifest(d, lambda doc: [f.update(path=path) for f in doc["files"] if f["table"] == "usage_events"])
    assert_rejected(con, settings, "unsafe_path", "unsafe path")


def test_not_gzip(settings, con):
    d = batch(settings)
    shutil.copy(d / "usage_events.csv", d / "usage_events.csv.gz")
    edit_manifest(d, lambda doc: [f.update(path="usage_events.csv.gz", compression="gzip")
                                  for f in doc["files"] if f["table"] == "usage_events"])
    rehash(d, "usage_events.csv.gz")
    assert_rejected(con, settings, "unreadable_file", "not a readable gzip file")


def test_truncated_gzip(settings, con):
    d = batch(settings, ("jsonl", "gzip"))
    data = (d / "usage_events.jsonl.gz").read_bytes()
    (d / "usage_events.jsonl.gz").write_bytes(data[: len(data) - 12])
    rehash(d, "usage_events.jsonl.gz")
    assert_rejected(con, settings, "unreadable_file", "not a readable gzip file")


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:]


def _deflate_start(data: bytes) -> int:
    """Where a gzip member's compressed blocks begin, after its header (RFC 1952)."""
    flags, at = data[3], 10
    if flags & 4:  # FEXTRA
        at += 2 + int.from_bytes(data[at:at + 2], "little")
    for bit in (8, 16):  # FNAME, FCOMMENT: zero-terminated
        if flags & bit:
            at = data.index(0, at) + 1
    return at + 2 if flags & 2 else at  # FHCRC


@pytest.mark.parametrize("damage", [
    lambda data: _flip(data, _deflate_start(data) + 10),  # early in the deflate stream: an invalid block
    lambda data: _flip(data, len(data) - 8),  # the stream's CRC
    lambda data: data + b"trailing bytes",  # after the stream's end
], ids=["corrupt-stream", "bad-crc", "trailing-garbage"])
def test_damaged_gzip(settings, con, damage):
    """Whatever the inflater raises (ISA-L's own error, the gzip module's), the batch is rejected."""
    d = batch(settings, ("csv", "gzip"))
    (d / "usage_events.csv.gz").write_bytes(damage((d / "usage_events.csv.gz").read_bytes()))
    rehash(d, "usage_events.csv.gz")
    assert_rejected(con, settings, "unreadable_file", "not a readable gzip file")
    assert not list(settings.data_dir.glob(".inflated.*"))


def test_not_utf8(settings, con):
    d = batch(settings)
    with open(d / "usage_events.csv", "ab") as fh:
        fh.write(b"e9,1,2026-11-01T10:00:00Z,\xff\xfe\n")
    rehash(d, "usage_events.csv")
    assert_rejected(con, settings, "unreadable_file", "is not UTF-8")


def test_not_utf8_inside_gzip(settings, con):
    """Checked while the stream is inflated (the copy the reader then reads is removed)."""
    d = batch(settings, ("csv", "gzip"))
    raw = gzip.decompress((d / "usage_events.csv.gz").read_bytes()) + b"e9,1,2026-11-01T10:00:00Z,\xff\xfe\n"
    (d / "usage_events.csv.gz").write_bytes(gzip.compress(raw))
    rehash(d, "usage_events.csv.gz")
    assert_rejected(con, settings, "unreadable_file", "is not UTF-8")


def test_not_parquet(settings, con):
    d = batch(settings, ("parquet", "none"))
    (d / "usage_events.parquet").write_bytes(b"PAR1 this is not parquet")
    rehash(d, "usage_events.parquet")
    assert_rejected(con, settings, "unreadable_file", "not a readable Parquet file")


def test_gzip_declared_on_parquet(settings, con):
    d = batch(settings, ("parquet", "none"))
    edit_manifest(d, lambda doc: doc["files"][0].update(compression="gzip"))
    assert_rejected(con, settings, "manifest_invalid", "unsupported compression")


def test_a_contract_column_missing_fails_the_file(settings, con):
    d = batch(settings)
    text = (d / "usage_events.csv").read_text().replace("quantity", "qty")
    (d / "usage_events.csv").write_text(text)
    rehash(d, "usage_events.csv")
    assert_rejected(con, settings, "bad_header", "lacks contract column(s) quantity")


def test_batch_id_off_the_pattern(settings, con):
    batch(settings, bid="2026-11-02-batch")
    edit_manifest(settings.exports_dir / "2026-11-02-batch", lambda doc: doc.update(batch_id="2026-11-02-batch"))
    assert_rejected(con, settings, "manifest_invalid", "does not match the pattern", bid="2026-11-02-batch")


def test_manifest_not_json(settings, con):
    d = batch(settings)
    (d / "manifest.json").write_text("{not json")
    assert_rejected(con, settings, "manifest_invalid", "not valid UTF-8 JSON")


def test_manifest_batch_id_differs_from_folder(settings, con):
    edit_manifest(batch(settings), lambda d: d.update(batch_id="20261102T000500Z-000009"))
    assert_rejected(con, settings, "manifest_invalid", "differs from its folder")


def test_a_rejected_batch_never_hides_the_next_one(settings, con):
    d = batch(settings)
    edit_manifest(d, lambda doc: doc.update(contract_version=9))
    write_batch(settings.exports_dir, "20261103T000500Z-000002", {**DIMENSIONS, "usage_events": [event(event_id="e2")]})
    summary = ingest_all(con, settings)
    assert summary.loaded == ["20261103T000500Z-000002"] and list(summary.rejected) == [BID]


def test_gzip_stream_is_read_whole(settings, con):
    """A gzip file written as two members (concatenated) is still one valid file."""
    d = batch(settings, ("csv", "gzip"))
    raw = gzip.decompress((d / "usage_events.csv.gz").read_bytes()).decode()
    header, row = raw.splitlines()[0], raw.splitlines()[1]
    (d / "usage_events.csv.gz").write_bytes(gzip.compress((header + "\n").encode()) + gzip.compress((row + "\n").encode()))
    rehash(d, "usage_events.csv.gz")
    assert ingest_all(con, settings).loaded == [BID]
    assert first(con.execute("select count(*) from raw.usage_events_keys")) == (1,)
    assert not list(settings.data_dir.glob(".inflated.*"))  # read from an inflated copy, removed after


def _rename_listed(batch_dir, table: str, new_name: str) -> None:
    """Rename a listed file (its bytes and sha256 unchanged) and list it under the new name."""
    doc_file = next(f for f in json.loads((batch_dir / "manifest.json").read_text())["files"] if f["table"] == table)
    (batch_dir / doc_file["path"]).rename(batch_dir / new_name)
    edit_manifest(batch_dir, lambda d: [f.update(path=new_name) for f in d["files"] if f["table"] == table])


def test_a_long_legal_gzip_name_loads(settings, con):
    """v1.2: a listed name of up to 255 bytes is legal; the inflated scratch copy is named by a hash,
    so ingestion's own affixes never push it past what the file system holds."""
    d = batch(settings, ("csv", "gzip"))
    name = "u" * 220 + ".csv.gz"
    _rename_listed(d, "usage_events", name)
    summary = ingest_all(con, settings)
    assert summary.loaded == [BID] and not summary.rejected
    assert first(con.execute("select path, rows_loaded from ops.ingested_files where table_name = 'usage_events'")) \
        == (name, 1)
    assert not list(settings.data_dir.rglob(".inflated.*"))


@pytest.mark.parametrize("name", ["u" * 252 + ".csv", "é" * 128 + ".csv"])
def test_a_name_over_255_bytes_is_a_missing_file_not_a_fault(settings, con, name):
    d = batch(settings)
    edit_manifest(d, lambda doc: [f.update(path=name) for f in doc["files"] if f["table"] == "usage_events"])
    assert_rejected(con, settings, "missing_file", "cannot exist")
    # and the next run is not stopped by it: a corrected re-delivery loads
    shutil.rmtree(d)
    batch(settings)
    assert ingest_all(con, settings).loaded == [BID]


def test_a_name_with_a_lone_surrogate_is_a_missing_file(settings, con):
    d = batch(settings)
    text = (d / "manifest.json").read_text()
    (d / "manifest.json").write_text(text.replace('"usage_events.csv"', '"usage_events\\ud800.csv"'))
    assert_rejected(con, settings, "missing_file", "cannot exist")


@pytest.mark.parametrize("name, decoy", [("usage_events[1].csv", "usage_events1.csv"),
                                         ("usage_events?.csv", "usage_eventsX.csv"),
                                         ("usage_events*.csv", "usage_events_all.csv"),
                                         ("usage_events{a,b}.csv", "usage_eventsa.csv")])
def test_a_listed_name_is_read_by_that_exact_name_never_as_a_pattern(settings, con, name, decoy):
    """v1.2: `[`, `*`, `?`, `{` are ordinary characters. An unlisted file the pattern would match,
    with other quantities, lies beside it: never read."""
    d = batch(settings)
    listed = (d / "usage_events.csv").read_text()
    (d / decoy).write_text(listed.replace("1.500000", "1500.000000"))
    _rename_listed(d, "usage_events", name)
    summary = ingest_all(con, settings)
    assert summary.loaded == [BID], summary.rejected
    assert con.execute(f"select event_id, quantity from {lake_table(settings, 'usage_events')}").fetchall() \
        == [("e1", Decimal("1.500000000"))]
