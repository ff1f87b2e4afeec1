"""Report packs are immutable (a later run with other content writes a revision beside the signed
one), and a text cell is never a formula to a spreadsheet (warehouse-v1, Integrity v1.1)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import duckdb
import openpyxl
import polars as pl
import pytest

from pipelines.lib.ingest import ensure_schema
from pipelines.lib.publish import remove_stale_temporaries
from pipelines.lib.reports import sha256_file, stream_csvs, write_csv, write_pack, write_workbook
from tests.helpers import INSERT_BATCH

B = "20261111T000500Z-000002"
AS_OF = datetime(2026, 11, 11, 0, 5, tzinfo=UTC)


@pytest.fixture
def ops(settings):
    con = duckdb.connect()
    ensure_schema(con)
    con.execute(f"{INSERT_BATCH} (?, ?, now(), 'loaded', null, 'm2', 1)", [B, AS_OF])
    yield con
    con.close()


def pack(con, settings, text: str):
    return write_pack(con, settings, "finance_reconciliation", "finance", B, AS_OF,
                      lambda d: [write_csv(pl.DataFrame({"figure": [text]}), d / "figures.csv")])


def tree(root):
    return {str(p.relative_to(root)): sha256_file(p) for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_pack_is_never_rewritten_other_content_is_a_new_revision(ops, settings):
    first = pack(ops, settings, "10.00")
    assert (first.revision, first.written) == (1, True)
    assert first.directory == settings.reports_dir / B / "finance"
    signed = tree(settings.reports_dir)
    again = pack(ops, settings, "10.00")  # the same bytes: nothing written, no revision
    assert (again.revision, again.written, again.directory) == (1, False, first.directory)
    assert tree(settings.reports_dir) == signed
    changed = pack(ops, settings, "12.00")  # e.g. a quarantine release changed a figure
    assert (changed.revision, changed.written) == (2, True)
    assert changed.directory == settings.reports_dir / B / "r2" / "finance"
    assert {k: v for k, v in tree(settings.reports_dir).items() if not k.startswith(f"{B}/r2/")} == signed
    # a late batch delivered out of order: the same figures, other input batches in the evidence
    ops.execute(f"{INSERT_BATCH} ('20261110T000500Z-000009', ?, now(), 'loaded', null, 'm9', 1)",
                [datetime(2026, 11, 10, 0, 5, tzinfo=UTC)])
    late = pack(ops, settings, "12.00")
    assert (late.revision, late.written) == (3, True)
    rows = ops.execute("select revision, kind, directory, evidence_sha256 from ops.report_manifests "
                       "where batch_id = ? order by revision", [B]).fetchall()
    assert [(r, k, d) for r, k, d, _ in rows] == [
        (1, "finance", f"reports/{B}/finance"), (2, "finance", f"reports/{B}/r2/finance"),
        (3, "finance", f"reports/{B}/r3/finance")]
    assert [h for *_, h in rows] == [sha256_file(p.manifest) for p in (first, changed, late)]
    assert len({h for *_, h in rows}) == 3


def test_a_pack_cut_short_leaves_nothing_and_the_next_run_writes_it_whole(ops, settings):
    def dies(directory):
        write_csv(pl.DataFrame({"figure": ["1"]}), directory / "figures.csv")
        raise RuntimeError("killed while writing")

    with pytest.raises(RuntimeError):
        write_pack(ops, settings, "finance_reconciliation", "finance", B, AS_OF, dies)
    assert not (settings.reports_dir / B / "finance").exists()
    assert [p.name for p in (settings.reports_dir / B).iterdir()] == []
    # a kill (no cleanup at all) leaves the temporary folder: the next run's start removes it
    stale = settings.reports_dir / B / ".finance.999.tmp"
    stale.mkdir()
    (stale / "figures.csv").write_text("half")
    assert stale in remove_stale_temporaries(settings) and not stale.exists()
    assert pack(ops, settings, "10.00").revision == 1


def test_a_report_pack_from_before_revisions_becomes_revision_one(ops, settings):
    ops.execute("""create table ops.report_manifests (report varchar, batch_id varchar, manifest_path varchar,
                   manifest_sha256 varchar, file_count integer, recorded_at timestamptz, primary key (report, batch_id))""")
    ops.execute("insert into ops.report_manifests values ('ops_status', ?, ?, 'abc', 1, now())",
                [B, f"reports/{B}/ops/ops_status.evidence.json"])
    pack(ops, settings, "10.00")
    assert ops.execute("select report, kind, revision, directory, evidence_sha256 from ops.report_manifests "
                       "order by report").fetchall()[1] == ("ops_status", "ops", 1, f"reports/{B}/ops", "abc")


FORMULAS = ["=1+1", "+41", "-2+3", "@SUM(A1)", "\t=cmd", "\r=x", "'quoted", "plain", "mid=dle", None]


def test_text_that_a_spreadsheet_would_evaluate_is_written_as_text(tmp_path):
    frame = pl.DataFrame({"project_id": FORMULAS, "amount": [Decimal("-1.50")] * len(FORMULAS)},
                         schema={"project_id": pl.String, "amount": pl.Decimal(18, 2)})
    write_csv(frame, tmp_path / "a.csv")
    con = duckdb.connect()
    con.register("f", frame)
    stream_csvs(con, "select * from f", {tmp_path / "b.csv": None, tmp_path / "c.csv": pl.col("amount") < 0},
                batch_rows=3)
    for name in ("a.csv", "b.csv", "c.csv"):
        text = (tmp_path / name).read_bytes().decode()
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
        assert [r["project_id"] for r in rows] == [
            "'=1+1", "'+41", "'-2+3", "'@SUM(A1)", "'\t=cmd", "'\r=x", "''quoted", "plain", "mid=dle", ""], name
        assert {r["amount"] for r in rows} == {"-1.50"}  # numbers are never escaped
        # the documented rule (docs/warehouse.md) reads every value back exactly: drop one leading apostrophe
        back = [v[1:] if v.startswith("'") else v for v in (r["project_id"] for r in rows)]
        assert back[:-1] == FORMULAS[:-1]
    write_workbook(tmp_path / "w.xlsx", {"Breaks": frame}, datetime(2026, 11, 11), "t")
    sheet = openpyxl.load_workbook(tmp_path / "w.xlsx")["Breaks"]
    cells = [sheet.cell(row=i, column=1) for i in range(2, len(FORMULAS) + 2)]
    assert all(c.data_type == "s" for c in cells[:-1])  # strings, never formulas ("f")
    # openpyxl leaves the carriage return as the XML escape xlsxwriter wrote for it
    assert [c.value.replace("_x000D_", "\r") for c in cells[:-1]] == FORMULAS[:-1]
