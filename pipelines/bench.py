"""`make bench`: speed and memory of the pipeline against two plain-DuckDB baselines on the same
files: `baseline` (read, type, deduplicate into a Parquet lake, one daily rollup) and
`marts_baseline` (the contract's usage marts in plain SQL: marts_baseline_sql), the latter checked
against the generator's truth like every pipeline run.

Each measured step runs in its own child process, with the same DuckDB threads and memory limit;
the parent samples the resident memory of the child's whole process tree (dbt included) from
/proc. After every pipeline run a correctness guard checks the control totals and that the marts'
daily totals per organization and unit equal the generator's true totals: a fast wrong run fails.

    python -m pipelines.bench --events 1000000 [--days 30] [--out DIR] [--engine spark]

With --engine spark (`make bench ENGINE=spark`), the full and the one-day run on Spark too.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from decimal import Decimal
from pathlib import Path

from pipelines.lib import generator
from pipelines.lib.config import PROJECT_ROOT, Settings

# ---------------------------------------------------------------- measuring a child process tree

def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(ppid, []).append(int(entry))
    return tree


def tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants."""
    tree, total, todo = _children(), 0, [pid]
    while todo:
        p = todo.pop()
        todo += tree.get(p, [])
        try:
            with open(f"/proc/{p}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            pass
    return total


def measure(cmd: list[str], env: dict) -> dict:
    start = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    peak, out = 0, []
    import threading

    reader = threading.Thread(target=lambda: out.extend(proc.stdout), daemon=True)
    reader.start()
    while proc.poll() is None:
        peak = max(peak, tree_rss(proc.pid))
        time.sleep(0.2)
    reader.join()
    return {"seconds": time.monotonic() - start, "peak_bytes": peak, "returncode": proc.returncode,
            "output": "".join(out)}


def step_seconds(data: Path) -> dict[str, float]:
    """Per-stage wall time of the newest run recorded under the data directory's Dagster home, from
    its step statistics (the event log): the run's printed lines interleave dbt's and Dagster's
    output, so parsing them lost a step now and then."""
    import dagster as dg

    from pipelines.__main__ import prepare_dagster_home
    from pipelines.lib.screen import stage_seconds

    home = prepare_dagster_home(Settings(exports_dir=data, data_dir=data))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return stage_seconds(instance.get_run_step_stats(instance.get_runs(limit=1)[0].run_id))


# ---------------------------------------------------------------- the runs

def pipeline_env(exports: Path, data: Path, settings: Settings, engine: str = "duckdb") -> dict:
    env = dict(os.environ, ANALYTICS_EXPORTS_DIR=str(exports), ANALYTICS_DATA_DIR=str(data), ANALYTICS_ENGINE=engine,
               ANALYTICS_DUCKDB_MEMORY_LIMIT=settings.duckdb_memory_limit,
               ANALYTICS_DUCKDB_THREADS=str(settings.duckdb_threads),
               ANALYTICS_INGEST_CHUNK_ROWS=str(settings.ingest_chunk_rows))
    env.pop("DAGSTER_HOME", None)
    return env


def run_pipeline(exports: Path, data: Path, settings: Settings, engine: str = "duckdb") -> dict:
    result = measure([sys.executable, "-m", "pipelines", "run"], pipeline_env(exports, data, settings, engine))
    if result["returncode"] != 0:
        raise SystemExit(f"the pipeline failed:\n{result['output'][-4000:]}")
    # a run with nothing new starts no Dagster run at all (pipelines/lib/noop.py): no stages
    result["stages"] = {} if "no run started" in result["output"] else step_seconds(data)
    return result


BASELINE = r"""
import sys, time, duckdb
exports, out, memory, threads = sys.argv[1:5]
con = duckdb.connect()
con.execute(f"set TimeZone = 'UTC'; set memory_limit = '{memory}'; set threads = {threads}")
con.execute(f'''
create table typed as
select event_id, try_cast(outbox_seq as bigint) as outbox_seq, try_cast(occurred_at as timestamptz) as occurred_at,
       organization_id, project_id, api_key_id, model_id, usage_unit, try_cast(quantity as decimal(38, 9)) as quantity
from read_csv('{exports}/*/usage_events.csv.gz', all_varchar = true, header = true)
where regexp_full_match(event_id, '[A-Za-z0-9_.:-]{{1,64}}')
  and regexp_full_match(quantity, '[0-9]{{1,18}}(\.[0-9]{{1,9}})?')
''')
con.execute(f'''
copy (select *, occurred_at::date as event_date from typed
      qualify row_number() over (partition by event_id order by outbox_seq) = 1)
to '{out}/lake' (format parquet, partition_by (event_date), overwrite_or_ignore)
''')
rows = con.execute(f'''
create table daily as
select occurred_at::date as usage_date, organization_id, project_id, api_key_id, model_id, usage_unit,
       sum(quantity) as quantity, count(*) as events
from read_parquet('{out}/lake/*/*.parquet') group by all
''').fetchall()
print(con.execute("select count(*) from daily").fetchone()[0])
"""


# The contract's usage marts in plain DuckDB SQL, from the same export files: the same work as the
# pipeline's usage path (duplicates, corrections and voids, department and plan as of the usage,
# rating from the price book by plan, model and effective window, hourly and daily marts, the four
# rollups), without a framework, validation, quarantine, lake or record. The honest floor.
MART_COLUMNS = {
    "usage_events": {"event_id": "varchar", "outbox_seq": "bigint", "occurred_at": "timestamptz",
                     "organization_id": "varchar", "project_id": "varchar", "api_key_id": "varchar",
                     "model_id": "varchar", "usage_unit": "varchar", "quantity": "decimal(38, 9)",
                     "correction_of": "varchar"},
    "projects": {"project_id": "varchar", "organization_id": "varchar", "department_id": "varchar",
                 "updated_at": "timestamptz"},
    "organizations": {"organization_id": "varchar", "plan_id": "varchar", "updated_at": "timestamptz"},
    "usage_units": {"usage_unit": "varchar", "product": "varchar", "updated_at": "timestamptz"},
    "prices": {"price_id": "varchar", "plan_id": "varchar", "usage_unit": "varchar", "model_id": "varchar",
               "unit_price": "decimal(38, 9)", "currency": "varchar", "effective_from": "timestamptz",
               "effective_to": "timestamptz", "updated_at": "timestamptz"},
}


def _read_sql(path: Path, fmt: str, compression: str, columns: dict[str, str]) -> str:
    where = str(path).replace("'", "''")
    if fmt == "parquet":
        source = f"read_parquet('{where}')"
    elif fmt == "csv":
        source = (f"read_csv('{where}', header = true, all_varchar = true, allow_quoted_nulls = false, "
                  f"compression = '{'gzip' if compression == 'gzip' else 'none'}')")
    else:
        spec = ", ".join(f"'{c}': 'VARCHAR'" for c in columns)
        source = (f"read_json('{where}', format = 'newline_delimited', columns = {{{spec}}}, "
                  f"compression = '{'gzip' if compression == 'gzip' else 'none'}')")
    return ", ".join(f"cast({c} as {t}) as {c}" for c, t in columns.items()) + f" from {source}"


def marts_baseline_sql(exports: Path) -> str:
    """One SQL script building fct_usage_events, fct_usage_hourly, fct_usage_daily and the four
    usage_by_*_daily rollups from the batches under `exports` (their manifests say each file's
    format)."""
    reads: dict[str, list[str]] = {t: [] for t in MART_COLUMNS}
    for batch in sorted(p for p in exports.iterdir() if (p / "manifest.json").exists()):
        manifest = json.loads((batch / "manifest.json").read_text())
        for f in manifest["files"]:
            if f["table"] in reads:
                reads[f["table"]].append(f"select '{batch.name}' as batch_id, "
                                         f"'{manifest['exported_at']}'::timestamptz as exported_at, "
                                         + _read_sql(batch / f["path"], f["format"], f["compression"],
                                                     MART_COLUMNS[f["table"]]))
    sql = [f"create table {t} as {' union all '.join(parts)};" for t, parts in reads.items()]

    def history(table: str, key: str, columns: str) -> str:
        """A dimension's versions with the window each is attributed over (the first from -infinity)."""
        return f"""create table {table}_history as
            select {key}, {columns}, updated_at,
                   if(row_number() over w = 1, '-infinity'::timestamptz, updated_at) as attributed_from,
                   coalesce(lead(updated_at) over w, 'infinity'::timestamptz) as attributed_to,
                   lead(updated_at) over w is null as is_latest
            from (select distinct on ({key}, updated_at) {key}, {columns}, updated_at from {table}
                  order by {key}, updated_at, batch_id)
            window w as (partition by {key} order by updated_at);"""

    sql += [history("projects", "project_id", "organization_id, department_id"),
            history("organizations", "organization_id", "plan_id"),
            history("usage_units", "usage_unit", "product"),
            history("prices", "price_id", "plan_id, usage_unit, model_id, unit_price, currency, effective_from, "
                    "effective_to")]
    sql.append("""
        -- a price absent from the newest snapshot of the price book was deleted: it rates nothing
        create table prices_current as
        select * from prices_history h
        where is_latest and price_id in (select price_id from prices where batch_id = (select max(batch_id) from prices));
        create table price_segments as
        with boundaries as (
            select plan_id, usage_unit, model_id, effective_from as segment_from from prices_current
            union select plan_id, usage_unit, model_id, effective_to from prices_current where effective_to is not null),
        segments as (
            select *, coalesce(lead(segment_from) over (partition by plan_id, usage_unit, model_id order by segment_from),
                               'infinity'::timestamptz) as segment_to
            from boundaries where segment_from is not null)
        select s.*, p.price_id, p.unit_price, p.currency
        from segments s join prices_current p
          on p.plan_id = s.plan_id and p.usage_unit = s.usage_unit and p.model_id is not distinct from s.model_id
         and p.effective_from <= s.segment_from and (p.effective_to is null or p.effective_to > s.segment_from)
        qualify row_number() over (partition by s.plan_id, s.usage_unit, s.model_id, s.segment_from
                                   order by p.effective_from desc, p.price_id) = 1;

        create table events as  -- the first copy of each event_id (later copies are duplicates)
        select * from usage_events qualify row_number() over (partition by event_id order by batch_id) = 1;
        create table fct_usage_events as
        with corrections as (
            select * from events where correction_of is not null
            qualify row_number() over (partition by correction_of order by outbox_seq desc, event_id desc) = 1),
        effective as (
            select o.event_id, o.occurred_at,
                   if(c.event_id is null, o.organization_id, c.organization_id) as organization_id,
                   if(c.event_id is null, o.project_id, c.project_id) as project_id,
                   if(c.event_id is null, o.api_key_id, c.api_key_id) as api_key_id,
                   if(c.event_id is null, o.model_id, c.model_id) as model_id,
                   if(c.event_id is null, o.usage_unit, c.usage_unit) as usage_unit,
                   if(c.event_id is null, o.quantity, c.quantity) as quantity
            from events o left join corrections c on c.correction_of = o.event_id
            where o.correction_of is null and coalesce(c.quantity <> 0, true)),
        attributed as (
            select e.*, p.department_id, o.plan_id, u.product
            from effective e
            left join projects_history p on p.project_id = e.project_id
                 and e.occurred_at >= p.attributed_from and e.occurred_at < p.attributed_to
            left join organizations_history o on o.organization_id = e.organization_id
                 and e.occurred_at >= o.attributed_from and e.occurred_at < o.attributed_to
            left join usage_units_history u on u.usage_unit = e.usage_unit
                 and e.occurred_at >= u.attributed_from and e.occurred_at < u.attributed_to)
        select a.*, coalesce(mp.price_id, pp.price_id) as price_id,
               if(mp.price_id is null, pp.unit_price, mp.unit_price) as unit_price,
               if(mp.price_id is null, pp.currency, mp.currency) as currency,
               a.quantity * if(mp.price_id is null, pp.unit_price, mp.unit_price) as rated_amount,
               coalesce(mp.price_id, pp.price_id) is not null as is_rated,
               a.occurred_at::date as usage_date, date_trunc('hour', a.occurred_at) as usage_hour
        from attributed a
        left join price_segments mp on mp.model_id is not null and mp.plan_id = a.plan_id
             and mp.usage_unit = a.usage_unit and mp.model_id = a.model_id
             and a.occurred_at >= mp.segment_from and a.occurred_at < mp.segment_to
        left join price_segments pp on pp.model_id is null and pp.plan_id = a.plan_id
             and pp.usage_unit = a.usage_unit and a.occurred_at >= pp.segment_from and a.occurred_at < pp.segment_to;

        create table fct_usage_hourly as
        select usage_hour, usage_date, organization_id, department_id, project_id, api_key_id, model_id, product,
               usage_unit, currency, sum(quantity) as quantity, sum(rated_amount) as rated_amount,
               count(*) as event_count, count(*) filter (where not is_rated) as unrated_event_count
        from fct_usage_events group by all;
        create table fct_usage_daily as
        select usage_date, organization_id, department_id, project_id, api_key_id, model_id, product, usage_unit,
               currency, sum(quantity) as quantity, sum(rated_amount) as rated_amount,
               sum(event_count)::bigint as event_count, sum(unrated_event_count)::bigint as unrated_event_count
        from fct_usage_hourly group by all;""")
    for name, dims in (("department", "organization_id, department_id, product"),
                       ("project", "organization_id, department_id, project_id, product"),
                       ("api_key", "organization_id, project_id, api_key_id, product"),
                       ("model", "organization_id, model_id, product")):
        sql.append(f"""create table usage_by_{name}_daily as
            select usage_date, {dims}, usage_unit, currency, sum(quantity) as quantity,
                   sum(rated_amount) as rated_amount, sum(event_count)::bigint as event_count,
                   sum(unrated_event_count)::bigint as unrated_event_count
            from fct_usage_daily group by all;""")
    return "\n".join(sql)


MARTS_BASELINE = r"""
import sys, duckdb
script, database, memory, threads = sys.argv[1:5]
con = duckdb.connect(database)
con.execute(f"set TimeZone = 'UTC'; set memory_limit = '{memory}'; set threads = {threads}")
con.execute(open(script).read())
print(con.execute("select count(*) from fct_usage_events").fetchone()[0])
"""


def run_marts_baseline(exports: Path, out: Path, settings: Settings) -> dict:
    """The usage marts in plain DuckDB SQL (marts_baseline_sql) into out/marts.duckdb."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    script = out / "marts.sql"
    script.write_text(marts_baseline_sql(exports))
    result = measure([sys.executable, "-c", MARTS_BASELINE, str(script), str(out / "marts.duckdb"),
                      settings.duckdb_memory_limit, str(settings.duckdb_threads)], dict(os.environ))
    if result["returncode"] != 0:
        raise SystemExit(f"the marts baseline failed:\n{result['output'][-4000:]}")
    return result


def run_baseline(exports: Path, out: Path, settings: Settings) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    result = measure([sys.executable, "-c", BASELINE, str(exports), str(out), settings.duckdb_memory_limit,
                      str(settings.duckdb_threads)], dict(os.environ))
    if result["returncode"] != 0:
        raise SystemExit(f"the baseline failed:\n{result['output'][-4000:]}")
    return result


# ---------------------------------------------------------------- one hourly batch

HOURLY_SEQ = 900_000  # batch ids from here on are the bench's hourly batches, removed after the run


def hourly_batch(exports: Path, events: int) -> tuple[Path, dict]:
    """A batch an hour after the newest one, as an hourly export would be: its dimension snapshots
    byte for byte, and `events` new usage events (its first originals under new ids). Returns the
    folder and what it adds per (usage_date, organization, unit): (quantity, events)."""
    import csv
    import gzip
    import io
    from datetime import timedelta

    from pipelines.lib.ingest.manifest import batch_time

    source = sorted(p for p in exports.iterdir() if (p / "manifest.json").exists())[-1]
    doc = json.loads((source / "manifest.json").read_text())
    when = batch_time(source.name) + timedelta(hours=1)
    batch_id = f"{when:%Y%m%dT%H%M%SZ}-{HOURLY_SEQ:06d}"
    target = exports / batch_id
    target.mkdir()
    files, added = [], {}
    for f in doc["files"]:
        if f["table"] in ("usage_events", "ledger_entries", "audit_events", "status_events"):
            continue  # event tables: only the new usage below
        shutil.copy(source / f["path"], target / f["path"])
        files.append(f)
    with gzip.open(source / "usage_events.csv.gz", "rt", newline="") as fh:
        reader = csv.DictReader(fh)
        rows = []
        for row in reader:
            if row["correction_of"]:
                continue
            row["event_id"] = "h" + row["event_id"]
            rows.append(row)
            key = (row["occurred_at"][:10], row["organization_id"], row["usage_unit"])
            q, n = added.get(key, (Decimal(0), 0))
            added[key] = (q + Decimal(row["quantity"]), n + 1)
            if len(rows) == events:
                break
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=reader.fieldnames, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    data = gzip.compress(text.getvalue().encode(), mtime=0)
    (target / "usage_events.csv.gz").write_bytes(data)
    files.append({"table": "usage_events", "path": "usage_events.csv.gz", "format": "csv", "compression": "gzip",
                  "row_count": len(rows), "sha256": hashlib.sha256(data).hexdigest()})
    manifest = {**doc, "batch_id": batch_id, "exported_at": f"{when:%Y-%m-%dT%H:%M:%S.000000Z}", "files": files}
    (target / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return target, added


def usage_totals(data: Path) -> dict:
    import duckdb

    con = duckdb.connect(str(data / "warehouse" / "build" / "analytics.duckdb"), read_only=True)
    con.execute("set TimeZone = 'UTC'")
    totals = {(str(d), o, u): (q, n) for d, o, u, q, n in con.execute(
        "select usage_date, organization_id, usage_unit, sum(quantity), sum(event_count) "
        "from marts.usage_by_department_daily group by all").fetchall()}
    con.close()
    return totals


def check_added(before: dict, after: dict, added: dict) -> None:
    """After the hourly batch: each (day, organization, unit) grew by exactly what it added."""
    want = dict(before)
    for key, (q, n) in added.items():
        q0, n0 = want.get(key, (Decimal(0), 0))
        want[key] = (q0 + q, n0 + n)
    if after != want:
        diff = [k for k in set(after) | set(want) if after.get(k) != want.get(k)][:5]
        raise SystemExit(f"the hourly batch did not add what it holds, e.g. {[(k, after.get(k), want.get(k)) for k in diff]}")


# ---------------------------------------------------------------- the correctness guard

def check_correctness(data: Path, truth_file: Path) -> None:
    """A pipeline run: the control totals hold and the marts equal the generator's truth."""
    check_control_totals(data)
    check_marts(data / "warehouse" / "build" / "analytics.duckdb", "marts.usage_by_department_daily", truth_file)


def check_control_totals(data: Path) -> None:
    import duckdb

    from pipelines.lib.ingest import control_total_breaks

    con = duckdb.connect(str(data / "warehouse" / "build" / "analytics.duckdb"), read_only=True)
    con.execute("set TimeZone = 'UTC'")
    breaks = control_total_breaks(con)
    con.close()
    if breaks:
        raise SystemExit(f"control totals broken: {breaks[:5]}")


def check_marts(database: Path, table: str, truth_file: Path) -> None:
    """The daily totals per organization and unit of `table` (a usage_by_department_daily) equal
    the generator's true totals: quantity, events and rated amount."""
    import duckdb

    con = duckdb.connect(str(database), read_only=True)
    con.execute("set TimeZone = 'UTC'")
    got = {(str(d), o, u): (q, n, a) for d, o, u, q, n, a in con.execute(
        "select usage_date, organization_id, usage_unit, sum(quantity), sum(event_count), "
        f"coalesce(sum(rated_amount), 0) from {table} group by all").fetchall()}
    con.close()
    truth = json.loads(truth_file.read_text())["totals"]
    want = {(t["usage_date"], t["organization_id"], t["usage_unit"]):
            (Decimal(t["quantity"]), t["event_count"], Decimal(t["rated_amount"])) for t in truth}
    if got != want:
        diff = [k for k in set(got) | set(want) if got.get(k) != want.get(k)][:5]
        raise SystemExit(f"{database.name}: {table} disagrees with the generator's truth, e.g. "
                         f"{[(k, got.get(k), want.get(k)) for k in diff]}")


# ---------------------------------------------------------------- the bench

def scenario(per_day: int, days: int, seed: int) -> generator.Scenario:
    return generator.Scenario(organizations=50, projects_per_org=50, keys_per_project=2, models=20, days=days,
                    events_per_day=per_day, duplicate_rate=0.03, late_rate=0.03, correction_rate=0.01,
                    seed=seed, faults=False, usage_encoding=("csv", "gzip"))


def bench(events: int, days: int, out: Path, settings: Settings, seed: int = 20261101, noop: bool = True) -> dict:
    exports, stash, data = out / "exports", out / "stash", out / "data"
    params = {"events": events, "days": days, "seed": seed,
              "generator": hashlib.sha256(Path(generator.__file__).read_bytes()).hexdigest()}
    stamp = out / "exports.json"  # what the exports there were generated from
    reuse = stamp.exists() and json.loads(stamp.read_text()) == params and (out / "truth_full.json").exists()
    if reuse:  # the same generator, scenario and seed write the same bytes: keep them
        for held in stash.glob("*") if stash.exists() else []:  # a batch held back by a run cut short
            shutil.move(str(held), exports / held.name)
        for leftover in (stash, data, out / "baseline", out / "marts_baseline",
                         *exports.glob(f"*-{HOURLY_SEQ:06d}")):  # a bench cut short
            shutil.rmtree(leftover, ignore_errors=True)
    else:
        shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(out).free
    need = events * (400 if reuse else 600)  # exports, lake, two warehouse copies: ~600 bytes an event, measured at 1M
    if free < need:
        raise SystemExit(f"not enough disk: {free / 1e9:.1f} GB free, about {need / 1e9:.1f} GB needed")
    t = time.monotonic()
    if not reuse:
        per_day = max(1, events // days)
        # the first days-1 batches of a scenario do not depend on its length: their truth is the
        # truth of the same scenario one day shorter
        # two independent generator runs, one per core; spawned, not forked: a fork of a process
        # whose polars or DuckDB threads hold a lock deadlocks
        with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn")) as pool:
            runs = [pool.submit(generator.generate, out / "first", scenario(per_day, days - 1, seed)),
                    pool.submit(generator.generate, exports, scenario(per_day, days, seed))]
            for run in runs:
                run.result()
        shutil.copy(out / "first" / "expected_totals.json", out / "truth_full.json")
        shutil.rmtree(out / "first")
        stamp.write_text(json.dumps(params))
    generated = time.monotonic() - t
    last = sorted(p for p in exports.iterdir() if p.is_dir())[-1]
    stash.mkdir()
    shutil.move(str(last), stash / last.name)
    full_events = events // days * (days - 1)

    results = {"events": events, "days": days, "generation_seconds": round(generated, 1), "exports_reused": reuse,
               "duckdb_memory_limit": settings.duckdb_memory_limit, "duckdb_threads": settings.duckdb_threads}

    def record(name: str, result: dict) -> None:
        """Keep a run's figures, on disk at once: a long bench cut short still leaves them."""
        result.pop("output", None)
        result["events"] = full_events if name in ("baseline", "marts_baseline", "full") else events // days
        results[name] = result
        (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")

    record("baseline", run_baseline(exports, out / "baseline", settings))
    record("marts_baseline", run_marts_baseline(exports, out / "marts_baseline", settings))
    check_marts(out / "marts_baseline" / "marts.duckdb", "usage_by_department_daily", out / "truth_full.json")
    record("full", run_pipeline(exports, data, settings))
    check_correctness(data, out / "truth_full.json")
    shutil.move(str(stash / last.name), exports / last.name)
    record("incremental", run_pipeline(exports, data, settings))
    check_correctness(data, exports / "expected_totals.json")
    if noop:
        record("noop", run_pipeline(exports, data, settings))
        check_correctness(data, exports / "expected_totals.json")
    hourly_events = max(1, events // days // 24)
    before = usage_totals(data)
    hourly, added = hourly_batch(exports, hourly_events)
    try:
        record("hourly", run_pipeline(exports, data, settings))
        results["hourly"]["events"] = hourly_events
        (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
        check_control_totals(data)
        check_added(before, usage_totals(data), added)
    finally:
        shutil.rmtree(hourly)  # the exports stay the generator's, for the next bench
    return results


def bench_spark(events: int, days: int, out: Path, settings: Settings) -> dict:
    """`bench` (the baselines and the DuckDB runs), then the full and the one-day run on Spark
    (local PySpark, ANALYTICS_ENGINE=spark) over the same exports in a data directory of its own,
    each checked against the generator's truth like the DuckDB runs."""
    results = bench(events, days, out, settings, noop=False)
    exports, stash, data = out / "exports", out / "stash", out / "spark-data"
    shutil.rmtree(data, ignore_errors=True)
    last = sorted(p for p in exports.iterdir() if p.is_dir())[-1]
    stash.mkdir(exist_ok=True)
    shutil.move(str(last), stash / last.name)
    try:
        results["spark_full"] = run_pipeline(exports, data, settings, engine="spark")
        check_correctness(data, out / "truth_full.json")
    finally:
        shutil.move(str(stash / last.name), exports / last.name)
    results["spark_incremental"] = run_pipeline(exports, data, settings, engine="spark")
    check_correctness(data, exports / "expected_totals.json")
    for name in ("spark_full", "spark_incremental"):
        results[name].pop("output", None)
        results[name]["events"] = results["full" if name == "spark_full" else "incremental"]["events"]
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


def one_file(exports: Path, target: Path) -> Path:
    """The first days-1 batches of `exports` with all their usage delivered as one gzipped CSV file
    in the last of them (an exporter may deliver a day, or a backfill, that way); every other
    table stays in its batch, so the dimensions' history, and with it attribution and rating, is
    the same. Returns the exports root holding them."""
    import gzip

    from isal import igzip

    batches = sorted(p for p in exports.iterdir() if (p / "manifest.json").exists())[:-1]
    root = target / "exports"
    shutil.rmtree(target, ignore_errors=True)
    (root / batches[-1].name).mkdir(parents=True)
    rows = 0
    for n, batch in enumerate(batches):
        (root / batch.name).mkdir(parents=True, exist_ok=True)
        doc = json.loads((batch / "manifest.json").read_text())
        files = [f for f in doc["files"] if f["table"] != "usage_events"]
        for f in files:
            shutil.copy(batch / f["path"], root / batch.name / f["path"])
        with gzip.open(batch / "usage_events.csv.gz", "rb") as fh, \
                igzip.open(root / batches[-1].name / "usage_events.csv.gz", "ab", compresslevel=1) as out:
            header = fh.readline()
            if n == 0:
                out.write(header)
            for block in iter(lambda: fh.read(1 << 20), b""):
                out.write(block)
                rows += block.count(b"\n")
        if batch == batches[-1]:
            path = root / batch.name / "usage_events.csv.gz"
            files.append({"table": "usage_events", "path": path.name, "format": "csv", "compression": "gzip",
                          "row_count": rows, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()})
        (root / batch.name / "manifest.json").write_text(json.dumps({**doc, "files": files}, indent=2))
    return root


def bench_one_file(events: int, days: int, out: Path, settings: Settings) -> dict:
    """The full run and the baseline on `bench`'s exports delivered as one file (one_file)."""
    if not (out / "truth_full.json").exists():
        bench(events, days, out, settings)  # generates the exports (and measures the usual runs)
    exports = one_file(out / "exports", out / "one-file")
    results = {"events": events // days * (days - 1), "one_file": True,
               "duckdb_memory_limit": settings.duckdb_memory_limit, "duckdb_threads": settings.duckdb_threads,
               "ingest_chunk_rows": settings.ingest_chunk_rows}
    for name, run in (("baseline", lambda: run_baseline(exports, out / "one-file" / "baseline", settings)),
                      ("full", lambda: run_pipeline(exports, out / "one-file" / "data", settings))):
        result = run()
        result.pop("output", None)
        result["events"] = results["events"]
        results[name] = result
    check_correctness(out / "one-file" / "data", out / "truth_full.json")
    (out / "one-file" / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


def render(results: dict) -> str:
    base = results["baseline"]
    lines = [f"{'run':<12} {'wall s':>8} {'peak MB':>9} {'events/s':>10} {'x time':>7} {'x mem':>6}  stages (s)"]
    for name in [n for n in ("baseline", "marts_baseline", "full", "incremental", "noop", "hourly", "spark_full",
                             "spark_incremental") if n in results]:
        r = results[name]
        rate = r["events"] / r["seconds"] if r["seconds"] else 0
        stages = ", ".join(f"{k} {v:.1f}" for k, v in sorted(r.get("stages", {}).items()))
        lines.append(f"{name:<12} {r['seconds']:>8.1f} {r['peak_bytes'] / 2**20:>9.0f} {rate:>10.0f} "
                     f"{r['seconds'] / base['seconds']:>7.2f} {r['peak_bytes'] / max(base['peak_bytes'], 1):>6.2f}  {stages}")
    ingest = results["full"].get("stages", {}).get("ingest_and_lake")
    if ingest:
        lines.append(f"ingest-and-lake stage alone: {ingest:.1f} s = {ingest / base['seconds']:.2f} x the baseline")
    if "marts_baseline" in results:
        lines.append(f"full / the usage marts in plain DuckDB SQL: "
                     f"{results['full']['seconds'] / results['marts_baseline']['seconds']:.2f}x")
    lines.append(f"incremental / full: {results['incremental']['seconds'] / results['full']['seconds']:.0%}")
    if "spark_full" in results:
        lines.append(f"Spark / DuckDB: full {results['spark_full']['seconds'] / results['full']['seconds']:.2f}x, "
                     f"one-day {results['spark_incremental']['seconds'] / results['incremental']['seconds']:.2f}x")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.bench")
    parser.add_argument("--events", type=int, default=int(os.environ.get("BENCH_EVENTS", 1_000_000)))
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--engine", choices=("duckdb", "spark"), default="duckdb",
                        help="spark: also the full and one-day runs on Spark, next to DuckDB's")
    parser.add_argument("--one-file", action="store_true",
                        help="the full run and the baseline on the same events delivered as one usage file")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    out = args.out or settings.data_dir / "bench"
    if args.one_file:
        results = bench_one_file(args.events, args.days, out, settings)
        base, full = results["baseline"], results["full"]
        print(f"one file, {results['events']:,} events: baseline {base['seconds']:.1f} s {base['peak_bytes'] / 2**20:,.0f} MB; "
              f"full {full['seconds']:.1f} s {full['peak_bytes'] / 2**20:,.0f} MB "
              f"({full['seconds'] / base['seconds']:.2f}x time, {full['peak_bytes'] / base['peak_bytes']:.2f}x memory); "
              f"stages {full.get('stages')}")
        print(f"\nwritten to {out / 'one-file' / 'results.json'}")
        return 0
    results = (bench_spark if args.engine == "spark" else bench)(args.events, args.days, out, settings)
    print(render(results))
    print(f"\nwritten to {out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
