"""fct_audit_events is incremental by block of the chain (issue 33): a run re-verifies from the
block of the first link it loaded to the last, the verified prefix kept as it was, and the trail
then equals a full rebuild from the lake; a link that arrives late re-verifies from where it fits.
Blocks of 3 links here (the var audit_chain_block_seqs), so the chain spans several."""

from __future__ import annotations

import shutil

import duckdb
import pytest

from pipelines.lib.config import Settings
from tests.helpers import write_batch
from tests.ops.conftest import chain
from tests.warehouse.conftest import build, dbt, ingest, marts

BLOCKS = ("--vars", "{audit_chain_block_seqs: 3}")
LINKS = chain(10)  # seqs 1..10, each row's prev_hash the previous row's row_hash


def _trail(db) -> dict[int, tuple]:
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute("select seq, chain_block, chain_status, _watermark from marts.fct_audit_events").fetchall()
    con.close()
    return {r[0]: r[1:] for r in rows}


@pytest.fixture(scope="module")
def audit(tmp_path_factory):
    """A data directory, and a function that loads one more batch of links, builds, and says what
    the trail was and became, which blocks the build rebuilt, and what a full rebuild gives."""
    root = tmp_path_factory.mktemp("audit")
    settings = Settings(exports_dir=root / "exports", data_dir=root / "data")

    def load(batch_id: str, rows: list[dict]) -> dict:
        before = _trail(settings.build_db) if settings.build_db.exists() else {}
        write_batch(settings.exports_dir, batch_id, {"audit_events": rows})
        ingest(settings)
        build(settings.data_dir, *BLOCKS)
        con = duckdb.connect(str(settings.build_db), read_only=True)
        affected = {b for (b,) in con.execute("select chain_block from intermediate.int_audit_affected_blocks").fetchall()}
        chain_row = con.execute("select * from marts.rpt_audit_chain").fetchall()
        con.close()
        full = root / f"full-{batch_id}"
        shutil.copytree(settings.data_dir, full)
        build(full, "--full-refresh", *BLOCKS)
        rebuilt = marts(full / "warehouse" / "build" / "analytics.duckdb")
        shutil.rmtree(full)
        mine = marts(settings.build_db)
        return dict(before=before, after=_trail(settings.build_db), affected=affected, chain=chain_row,
                    equal={t: mine[t] == rebuilt[t] for t in ("fct_audit_events", "fct_privileged_actions_daily",
                                                              "rpt_audit_chain")})

    load.settings = settings
    return load


def test_new_links_rebuild_from_their_block_and_a_late_link_from_where_it_fits(audit):
    # seqs 1-7 without 5 (held back by the exporter): 6 breaks the chain (its prev_hash is 5's)
    got = audit("20261110T000500Z-000001", [r for r in LINKS[:7] if r["seq"] != "5"])
    assert got["affected"] == {0, 1, 2}  # a first build: every block
    assert {s: v[:2] for s, v in got["after"].items()} == {
        1: (0, "valid"), 2: (0, "valid"), 3: (1, "valid"), 4: (1, "valid"), 6: (2, "chain_break"), 7: (2, "valid")}
    assert got["chain"] == [(6, 1, 7, 1, 0, 1, False)]
    assert all(got["equal"].values()), got["equal"]

    # seqs 8-10: from 8's block (2) on; 8's previous link, 7, is read from the blocks kept
    got = audit("20261111T000500Z-000002", LINKS[7:])
    assert got["affected"] == {2, 3}
    assert {s: got["after"][s] for s in (1, 2, 3, 4)} == {s: got["before"][s] for s in (1, 2, 3, 4)}  # kept
    assert {s: got["after"][s][1] for s in (7, 8, 9, 10)} == dict.fromkeys((7, 8, 9, 10), "valid")
    assert got["after"][8][2] > got["before"][7][2]  # rows rebuilt carry the newer load
    assert all(got["equal"].values()), got["equal"]

    # the late seq 5: from its block (1) on; 6 now follows 5, and the chain verifies
    got = audit("20261112T000500Z-000003", [LINKS[4]])
    assert got["affected"] == {1, 2, 3}
    assert {s: got["after"][s] for s in (1, 2)} == {s: got["before"][s] for s in (1, 2)}
    assert {s: v[1] for s, v in got["after"].items()} == dict.fromkeys(range(1, 11), "valid")
    assert got["chain"] == [(10, 1, 10, 0, 0, 0, True)]
    assert all(got["equal"].values()), got["equal"]

    # a batch without audit links: nothing rebuilt, the trail as it was
    got = audit("20261113T000500Z-000004", [])
    assert got["affected"] == set()
    assert got["after"] == got["before"]

    # the same table built with blocks of another size would mix two blockings: refused
    result = dbt(audit.settings.data_dir, "build", "--select", "fct_audit_events", "--exclude-resource-type",
                 "unit_test", "--vars", "{audit_chain_block_seqs: 4}")
    assert result.returncode != 0
    assert "fct_audit_events was built with another audit_chain_block_seqs than 4" in result.stdout
    assert _trail(audit.settings.build_db) == got["after"]

    # the upgrade (CHANGELOG): a trail built as a table, before chain_block and _watermark, stops the
    # build with dbt's message rather than mixing the two; --full-refresh rebuilds it, the same rows
    before = marts(audit.settings.build_db)["fct_audit_events"]
    con = duckdb.connect(str(audit.settings.build_db))
    con.execute("create or replace table marts.fct_audit_events as "
                "select * exclude (chain_block, _watermark) from marts.fct_audit_events")
    con.close()
    result = dbt(audit.settings.data_dir, "build", "--select", "fct_audit_events", "--exclude-resource-type",
                 "unit_test", *BLOCKS)
    assert result.returncode != 0
    assert "The source and target schemas on this incremental model are out of sync" in result.stdout
    assert dbt(audit.settings.data_dir, "build", "--select", "fct_audit_events", "--exclude-resource-type",
               "unit_test", "--full-refresh", *BLOCKS).returncode == 0
    assert marts(audit.settings.build_db)["fct_audit_events"] == before
