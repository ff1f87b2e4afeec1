"""The plain-DuckDB baselines the pipeline is measured against, on the same files."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from pipelines.lib.config import Settings
from tools.bench.measure import measure

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
    result.pop("samples")
    return result


def run_baseline(exports: Path, out: Path, settings: Settings) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    result = measure([sys.executable, "-c", BASELINE, str(exports), str(out), settings.duckdb_memory_limit,
                      str(settings.duckdb_threads)], dict(os.environ))
    if result["returncode"] != 0:
        raise SystemExit(f"the baseline failed:\n{result['output'][-4000:]}")
    result.pop("samples")
    return result


# ---------------------------------------------------------------- one hourly batch

