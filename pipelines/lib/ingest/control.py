"""Control totals, three ways (warehouse-v1, Integrity v1.1): for every table and loaded batch, rows
recorded as loaded in ops = rows present in the lake's recorded files = rows the build read
(dbt_project/tests/assert_lake_rows_read_match_the_record.sql). Every lake file the record lists
must exist with its recorded size and row count (read from its Parquet footer: cheap, every run);
`python -m pipelines verify` also checks each file's sha256. A break fails the run before
publishing and names the files; docs/reliability.md says how to recover.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow.parquet as pq

from models import TABLES
from pipelines.lib import lake
from pipelines.lib.duck import first
from pipelines.lib.ingest.record import _loaded_table


def control_total_breaks(con) -> list[dict]:
    """Files of loaded batches where rows in file != loaded + quarantined + duplicate, each term
    recounted here from its own record (loaded rows or keys, quarantine rows, duplicate rows)."""
    parts = " union all ".join(
        f"select _batch_id as batch_id, '{t}' as table_name, count(*) as n from {_loaded_table(table)} group by 1"
        for t, table in TABLES.items())
    return con.sql(f"""
        with loaded as ({parts}),
        quarantined as (select batch_id, table_name, count(*) as n from ops.quarantine
                        where released_at is null group by all),
        duplicates as (select batch_id, table_name, count(*) as n from ops.duplicate_rows group by all)
        select f.batch_id, f.table_name, f.path, f.rows_in_file,
               coalesce(l.n, 0) as rows_loaded, coalesce(q.n, 0) as rows_quarantined,
               coalesce(d.n, 0) as rows_duplicate
        from ops.ingested_files f
        semi join (select batch_id from ops.ingested_batches where status = 'loaded') b on b.batch_id = f.batch_id
        left join loaded l on l.batch_id = f.batch_id and l.table_name = f.table_name
        left join quarantined q on q.batch_id = f.batch_id and q.table_name = f.table_name
        left join duplicates d on d.batch_id = f.batch_id and d.table_name = f.table_name
        where f.rows_in_file <> coalesce(l.n, 0) + coalesce(q.n, 0) + coalesce(d.n, 0)
           or f.rows_loaded <> coalesce(l.n, 0) or f.rows_quarantined <> coalesce(q.n, 0)
           or f.rows_duplicate <> coalesce(d.n, 0)
        order by all""").pl().to_dicts()


def lake_breaks(con, lake_dir: Path, content: bool = False) -> list[dict]:
    """Recorded lake files that are missing, of another size or row count (or, with `content`, of
    another sha256), and (table, batch) pairs whose recorded files do not hold the rows recorded
    as loaded. Each break names the file or the batch."""
    breaks = []
    for path, table, batch_id, rows, size, sha in con.execute(
            "select path, table_name, batch_id, row_count, size_bytes, sha256 from ops.lake_files order by path"
    ).fetchall():
        where = lake_dir / path
        try:
            actual = os.stat(where).st_size
        except FileNotFoundError:
            breaks.append({"file": str(where), "table_name": table, "batch_id": batch_id, "problem": "missing"})
            continue
        problem = None
        if actual != size:
            problem = f"{actual} bytes, recorded {size}"
        else:
            try:
                found = pq.read_metadata(where).num_rows
            except Exception as exc:  # noqa: BLE001 -- any unreadable footer is the break to report
                found, problem = None, f"unreadable Parquet: {exc}"
            if found is not None and found != rows:
                problem = f"{found} rows, recorded {rows}"
            elif found is not None and content and lake.sha256_file(where) != sha:
                problem = "sha256 differs from the record"
        if problem:
            breaks.append({"file": str(where), "table_name": table, "batch_id": batch_id, "problem": problem})
    # rows recorded as loaded per (table, batch) = rows in the batch's recorded files
    for table, batch_id, loaded, in_files in con.execute("""
            with files as (select table_name, batch_id, sum(row_count) as n from ops.lake_files group by all)
            select f.table_name, f.batch_id, f.rows_loaded, coalesce(l.n, 0)
            from ops.ingested_files f
            semi join ops.ingested_batches b on b.batch_id = f.batch_id and b.status = 'loaded'
            left join files l on l.table_name = f.table_name and l.batch_id = f.batch_id
            where f.rows_loaded <> coalesce(l.n, 0)
            order by all""").fetchall():
        breaks.append({"file": None, "table_name": table, "batch_id": batch_id,
                       "problem": f"{loaded} rows recorded as loaded, {in_files} in the recorded lake files"})
    return breaks


def rebuilt_input_breaks(con, lake_dir: Path) -> list[dict]:
    """The sha256 of every lake file the build just read for what it rebuilt (v1.2, "a run checks
    what it reads"): the usage files of the days the incremental usage marts rebuilt
    (intermediate.int_usage_affected_dates, every day when it is missing), and every file of the
    other tables, which the build reads whole. A file of the same size and row count with other
    bytes (a tampered day) is a break. The cost is one more read of the bytes the build read;
    `python -m pipelines verify` checks the whole lake."""
    known = {t for (t,) in con.execute("select table_name from duckdb_tables() where schema_name = 'intermediate'"
                                        ).fetchall()}
    days = ("f.day in (select usage_date from intermediate.int_usage_affected_dates)"
            if "int_usage_affected_dates" in known else "true")
    breaks = []
    for path, table, batch_id, sha in con.execute(f"""
            select path, table_name, batch_id, sha256 from ops.lake_files f
            where f.table_name <> 'usage_events' or {days}
            order by path""").fetchall():
        where = lake_dir / path
        try:
            same = lake.sha256_file(where) == sha
        except FileNotFoundError:
            breaks.append({"file": str(where), "table_name": table, "batch_id": batch_id, "problem": "missing"})
            continue
        if not same:
            breaks.append({"file": str(where), "table_name": table, "batch_id": batch_id,
                           "problem": "sha256 differs from the record"})
    return breaks


def backfill_lake_files(con, lake_dir: Path) -> int:
    """A warehouse from before ops.lake_files: record the lake files of its loaded batches as they
    are on disk (listed, never globbed), once. Returns the files recorded."""
    if first(con.execute("select count(*) from ops.lake_files"))[0] or not first(con.execute(
            "select count(*) from ops.ingested_files"))[0]:
        return 0
    loaded = {r[0] for r in con.execute("select batch_id from ops.ingested_batches where status = 'loaded'").fetchall()}
    rows = []
    for name, table in TABLES.items():
        base = lake_dir / name
        if not base.is_dir():
            continue
        for part in sorted(os.listdir(base)):
            for file in sorted(os.listdir(base / part)) if (base / part).is_dir() else []:
                if file.startswith(".") or not file.endswith(".parquet"):
                    continue
                if table.kind == "event":
                    batch_id, day = file.split(".")[0], part.removeprefix("event_date=")
                else:
                    batch_id, day = part.removeprefix("batch_id="), None
                if batch_id not in loaded:
                    continue
                where = base / part / file
                rows.append([f"{name}/{part}/{file}", name, batch_id, day, pq.read_metadata(where).num_rows,
                             where.stat().st_size, lake.sha256_file(where), None])
    if rows:
        con.executemany("insert or replace into ops.lake_files values (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    return len(rows)
