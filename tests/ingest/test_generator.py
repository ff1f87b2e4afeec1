"""The generator's promises: deterministic, contract-conformant, and its truth is the truth."""

from __future__ import annotations

import hashlib

from pipelines.lib.duck import first
from pipelines.lib.ingest import control_total_breaks, ingest_all
from tests.helpers import effective_totals_from_lake, expected_totals
from tools.generator import Scenario, generate

BULK = Scenario(organizations=4, projects_per_org=3, days=3, events_per_day=3000, faults=False, chunk_rows=1000)


def digest(root):
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_same_scenario_writes_the_same_bytes(tmp_path):
    generate(tmp_path / "a", BULK)
    generate(tmp_path / "b", BULK)
    assert digest(tmp_path / "a") == digest(tmp_path / "b")


def test_bulk_exports_load_cleanly_and_hold_exactly_the_expected_usage(settings, con):
    generate(settings.exports_dir, BULK)  # streamed in chunks of 1,000 rows
    summary = ingest_all(con, settings)
    assert len(summary.loaded) == 3 and not summary.rejected
    assert first(con.execute("select count(*) from ops.quarantine")) == (0,)
    # duplicates (3%) of each previous day's events were re-sent and counted once
    assert first(con.execute("select count(*) from ops.duplicate_rows")) == (2 * 90,)
    assert control_total_breaks(con) == []
    assert effective_totals_from_lake(settings.lake_dir) == expected_totals(settings.exports_dir)
