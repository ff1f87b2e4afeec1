"""Decide: the rules that need other rows, run as DuckDB joins against what is loaded (references,
then duplicates, in the contract's order). Value rules ran before, in pandera (models/)."""

from __future__ import annotations

from contextlib import contextmanager

import polars as pl

from models import Table
from pipelines.lib.ingest.read import ROW
from pipelines.lib.ingest.record import _loaded_table


@contextmanager
def _staged(con, typed: pl.DataFrame):
    """Typed rows (`_typed`) readable by SQL as the temp table `incoming` while the block runs. A
    copy, not a registered view of the frame: inside a transaction, DuckDB keeps every frame
    registered and unregistered again alive until the commit, so a file loaded chunk by chunk in
    its batch's transaction held all its chunks in memory; a temp table's pages are DuckDB's to
    spill within its memory limit."""
    con.execute("create or replace temp table incoming as select * from typed")  # `typed`: this frame
    try:
        yield
    finally:
        con.execute("drop table if exists incoming")


def _decide(con, table: Table, batch_id: str) -> None:
    """Rules that need other rows (references, then duplicates, the contract's order) on
    `incoming`, rows of batch `batch_id`: the temp table `outcome` says, per row, loaded, duplicate
    or the reason (for usage events, after the temp table `reference_failures`: see _checked_sql)."""
    if table.name == "usage_events":
        con.execute(f"create or replace temp table reference_failures as {_reference_failures_sql()}")
    con.execute(f"create or replace temp table outcome as {_outcome_sql(table, batch_id)}")


def _outcome_sql(table: Table, batch_id: str) -> str:
    """One row per staged row: 'loaded', 'duplicate' or a quarantine reason. A copy of a row the
    same batch loaded (an earlier chunk of the file) is a duplicate within the file: no
    duplicate_of, as when the file's copies are ranked together."""
    keys = ", ".join(table.key)
    if table.kind == "event":
        key_join = " and ".join(f"l.{k} = r.{k}" for k in table.key)
        loaded = f"left join (select {keys}, _content_hash, _batch_id from {_loaded_table(table)}) l on {key_join}"
        # batch ids match BATCH_ID_RE ([0-9TZ-] only): safe as a literal
        prior, prior_batch = "l._content_hash", f"nullif(l._batch_id, '{batch_id}')"
    else:  # a full snapshot: duplicates only within the file
        loaded, prior, prior_batch = "", "null", "null::varchar"
    # A key's rows are ranked only where the file repeats it (`_repeated`, see _typed): usually
    # no row, where a window over every row was half of the decision's time.
    return f"""
        with {_checked_sql(table)}, ranked as (
            select c.*, 1 as nth, null as first_hash from checked c where ref_reason is null and not _repeated
            union all
            select c.*, row_number() over (partition by {keys} order by _row_number) as nth,
                   first_value(_content_hash) over (partition by {keys} order by _row_number) as first_hash
            from checked c where ref_reason is null and _repeated
        )
        select r._row_number,
               case when {prior} is not null then
                        case when {prior} = r._content_hash then 'duplicate' else 'duplicate_conflict' end
                    when r.nth > 1 then
                        case when r.first_hash = r._content_hash then 'duplicate' else 'duplicate_conflict' end
                    else 'loaded' end as outcome,
               {prior_batch} as duplicate_of
        from ranked r {loaded}
        union all
        select _row_number, ref_reason, null from checked where ref_reason is not null
    """


def _decision_columns(table: Table) -> str:
    """What the decision reads of a staged row: its key, row number, content hash and whether the
    file repeats its key (a row's other columns would only be carried, and held in memory, through
    the whole query)."""
    return ", ".join(f"i.{c}" for c in (*table.key, ROW, "_content_hash", "_repeated"))


# The columns of a usage event that name other rows. A batch's events share far fewer
# combinations of them than they have rows (~100k of 357k in the benchmark): each combination is
# checked once, and the rows of the failing ones (usually none) get their verdict.
USAGE_REFERENCES = ("organization_id", "project_id", "api_key_id", "model_id", "usage_unit")


def _reference_failures_sql() -> str:
    """The combinations of references of `incoming` usage events failing a reference rule, with the
    first rule each fails. Against every version loaded so far, this batch's snapshots included: a
    key that ever existed is known (usage before a deletion stays attributable)."""
    refs = ", ".join(USAGE_REFERENCES)
    return f"""
        select * from (
            select {refs}, case
            when i.model_id is null and (select any_value(product order by updated_at desc)
                  from raw.usage_units u where u.usage_unit = i.usage_unit) = 'token_factory' then 'model_required'
            when not exists (select 1 from raw.organizations o where o.organization_id = i.organization_id) then 'unknown_organization_id'
            when not exists (select 1 from raw.projects p where p.project_id = i.project_id) then 'unknown_project_id'
            when i.api_key_id is not null and not exists (select 1 from raw.api_keys k where k.api_key_id = i.api_key_id) then 'unknown_api_key_id'
            when i.model_id is not null and not exists (select 1 from raw.models m where m.model_id = i.model_id) then 'unknown_model_id'
            when not exists (select 1 from raw.usage_units u where u.usage_unit = i.usage_unit) then 'unknown_usage_unit'
            when not exists (select 1 from raw.projects p where p.project_id = i.project_id and p.organization_id = i.organization_id) then 'reference_mismatch'
            when i.api_key_id is not null and not exists (select 1 from raw.api_keys k where k.api_key_id = i.api_key_id and k.project_id = i.project_id) then 'reference_mismatch'
            end as ref_reason
            from (select distinct {refs} from incoming) i
        ) where ref_reason is not null"""


def _checked_sql(table: Table) -> str:
    """CTE `checked`: the staged rows with `ref_reason`, the first reference rule each fails (or
    null); for usage events, from the temp table `reference_failures` (_decide). Kept apart, the
    few failing combinations are what the join builds on, not the batch's rows."""
    if table.name != "usage_events":
        return f"checked as (select {_decision_columns(table)}, null::varchar as ref_reason from incoming i)"
    same = " and ".join(f"i.{c} is not distinct from f.{c}" for c in USAGE_REFERENCES)
    return f"""checked as (
            select {_decision_columns(table)}, f.ref_reason from incoming i left join reference_failures f on {same}
        )"""
