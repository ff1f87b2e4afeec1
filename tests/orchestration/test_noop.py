"""The run with nothing new, recognized before Dagster starts (pipelines/lib/noop.py): only when a run
would change nothing, and never while a writer works."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from pipelines.lib import build_state
from pipelines.lib.ingest import ingest_all
from pipelines.lib.noop import nothing_new
from pipelines.lib.publish import writer_lock
from tests.helpers import DIMENSIONS, event, write_batch

B1, B2, B3 = "20261102T000500Z-000001", "20261103T000500Z-000002", "20261104T000500Z-000003"


@pytest.fixture
def published(settings, con):
    """A loaded batch and a rejected one (a data file changed after its manifest was written), as a
    publish leaves them: the build state recorded, the published file in place."""
    write_batch(settings.exports_dir, B1, {**DIMENSIONS, "usage_events": [event()]})
    bad = write_batch(settings.exports_dir, B2, {**DIMENSIONS, "usage_events": [event(event_id="e2")]})
    with open(bad / "usage_events.csv", "a") as fh:
        fh.write("tampered\n")
    summary = ingest_all(con, settings)
    assert summary.loaded == [B1] and list(summary.rejected) == [B2]
    settings.published_db.write_bytes(b"published")
    build_state.record(con, settings)
    con.close()  # the check opens the build warehouse itself, read-only
    return settings


def test_loaded_and_unchanged_rejected_batches_are_nothing_new(published):
    verdict = nothing_new(published)
    assert verdict is not None and verdict.skipped == [B1]
    assert list(verdict.rejected) == [B2] and verdict.rejected[B2].startswith("sha256_mismatch")


def test_a_rejected_batch_touched_since_is_read_again(published):
    path = published.exports_dir / B2 / "usage_events.csv"
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))  # same bytes, touched
    assert nothing_new(published) is None


def test_a_new_batch_folder_is_something_new(published):
    write_batch(published.exports_dir, B3, {**DIMENSIONS, "usage_events": [event(event_id="e3")]})
    assert nothing_new(published) is None


def test_a_half_written_batch_folder_is_still_nothing_new(published):
    (published.exports_dir / B3).mkdir()  # no manifest yet: the exporter is still writing it
    (published.exports_dir / B3 / "usage_events.csv").write_text("event_id\n")
    assert nothing_new(published) is not None


def test_a_raised_decompression_limit_reads_rejected_batches_again(published):
    assert nothing_new(replace(published, gzip_max_ratio=1000)) is None


def test_a_quarantine_release_asked_a_writer_at_work_or_a_damaged_lake_go_the_full_way(published):
    assert nothing_new(replace(published, retry_quarantine=True)) is None
    with writer_lock(published):
        assert nothing_new(published) is None
    assert nothing_new(published) is not None
    lake_file = next(published.lake_dir.rglob("*.parquet"))
    lake_file.write_bytes(lake_file.read_bytes() + b"\0")
    assert nothing_new(published) is None


def test_a_verdict_of_the_clock_is_never_taken_as_unchanged(settings, con):
    ahead = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    batch_id = ahead.strftime("%Y%m%dT%H%M%SZ") + "-000001"
    write_batch(settings.exports_dir, batch_id, {**DIMENSIONS, "usage_events": [event()]})
    reason = ingest_all(con, settings).rejected[batch_id]
    assert con.execute("select delivery_stamp from ops.ingested_batches").fetchall() == [(None,)]
    time.sleep(1.1)
    assert ingest_all(con, settings).rejected[batch_id] == reason  # no new record, so no rebuild
    settings.published_db.write_bytes(b"published")
    build_state.record(con, settings)
    con.close()
    assert nothing_new(settings) is None  # in two hours it loads
