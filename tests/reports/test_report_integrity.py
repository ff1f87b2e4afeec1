"""Report packs are immutable (a later run with other content writes a revision beside the signed
one), and a text cell is never a formula to a spreadsheet (warehouse-v1, Integrity v1.1)."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import duckdb
import openpyxl
import polars as pl
import pytest

from pipelines.lib.ingest import ensure_schema
from pipelines.lib.periods import Kind, put_in_place, write_periods
from pipelines.lib.publish import remove_stale_temporaries
from pipelines.lib.reports import sha256_file, stream_csvs, write_csv, write_workbook
from tests.helpers import INSERT_BATCH

B = "20261111T000500Z-000002"
AS_OF = datetime(2026, 11, 11, 0, 5, tzinfo=UTC)


@pytest.fixture
def ops(settings):
    con = duckdb.connect()
    ensure_schema(con)
    con.execute(f"{INSERT_BATCH} (?, ?, now(), 'loaded', null, 'm2', 1)", [B, AS_OF])
    con.execute("create schema marts; create table marts.figures (day date, amount decimal(18, 2))")
    yield con
    con.close()


def figures(con, period: str, directory):
    return [write_csv(con.sql(f"select * from marts.figures where strftime(day, '%Y-%m') = '{period}' "
                              "order by all").pl(), directory / "figures.csv")]


# A kind of period pack over one table: the machinery of periods.py without the warehouse's marts
FIGURES = Kind("finance", "finance_reconciliation",
               "select strftime(day, '%Y-%m') as period, count(*) as row_count, sum(hash(f)::hugeint) as content_hash "
               "from marts.figures f where day >= $first and day < $end group by 1", figures,
               "select 'o1' as organization_id, day as charge_date, 'u' as usage_unit, 'USD' as currency, "
               "sum(amount) as quantity, sum(amount) as rated_amount, null as ledger_amount from marts.figures "
               "where day >= $start and day < $end group by all")


def tree(root):
    return {str(p.relative_to(root)): sha256_file(p) for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_pack_cut_short_leaves_nothing_and_the_next_run_writes_it_whole(ops, settings):
    ops.execute("insert into marts.figures values ('2026-11-02', 10.00)")

    def dies(con, period, directory):
        figures(con, period, directory)
        raise RuntimeError("killed while writing")

    with pytest.raises(RuntimeError):
        write_periods(ops, settings, replace(FIGURES, write=dies))
    folder = settings.reports_dir / "finance" / "2026-11"
    assert [p.name for p in folder.iterdir()] == []
    # a kill (no cleanup at all) leaves the staging folder: the next run's start removes it
    stale = folder / ".staging.999.tmp"
    stale.mkdir()
    (stale / "figures.csv").write_text("half")
    assert stale in remove_stale_temporaries(settings) and not stale.exists()
    stale.mkdir()
    run = write_periods(ops, settings, FIGURES)
    assert [(p.period, p.pack) for p in run.written] == [("2026-11", "draft")]
    assert sorted(p.name for p in folder.iterdir()) == ["draft"]  # the stale folder went too


def test_a_draft_is_replaced_whole_and_a_revision_is_never_rewritten(ops, settings):
    ops.execute("insert into marts.figures values ('2026-11-02', 10.00)")
    write_periods(ops, settings, FIGURES)
    draft = settings.reports_dir / "finance" / "2026-11" / "draft"
    ops.execute("update marts.figures set amount = 12.00")
    run = write_periods(ops, settings, FIGURES)
    assert [(p.pack, p.action) for p in run.written] == [("draft", "draft")]
    assert (draft / "figures.csv").read_text() == "day,amount\n2026-11-02,12.00\n"
    assert sorted(p.name for p in draft.parent.iterdir()) == ["draft"]
    # a revision in the way (a run that died after its rename, before its record): never overwritten
    (draft.parent / "r1").mkdir()
    (draft.parent / "r1" / "figures.csv").write_text("signed")
    with pytest.raises(FileExistsError):
        put_in_place(draft, draft.parent / "r1")
    assert (draft.parent / "r1" / "figures.csv").read_text() == "signed"


def test_the_same_content_writes_nothing_whatever_the_newest_batch(ops, settings):
    ops.execute("insert into marts.figures values ('2026-11-02', 10.00)")
    write_periods(ops, settings, FIGURES)
    signed = tree(settings.reports_dir)
    # a later batch that does not change the period's rows
    ops.execute(f"{INSERT_BATCH} ('20261112T000500Z-000003', ?, now(), 'loaded', null, 'm3', 1)",
                [datetime(2026, 11, 12, 0, 5, tzinfo=UTC)])
    run = write_periods(ops, settings, FIGURES)
    assert (run.written, run.unchanged) == ([], ["2026-11"])
    assert tree(settings.reports_dir) == signed
    # its fingerprint forgotten (or the code changed): written again in staging, compared, dropped
    ops.execute("delete from ops.report_periods")
    run = write_periods(ops, settings, FIGURES)
    assert (run.written, run.unchanged) == ([], ["2026-11"])
    assert tree(settings.reports_dir) == signed


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
