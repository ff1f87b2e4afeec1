{#
  Models incremental by day: the usage marts (by usage_date), the reconciliation and the FOCUS
  charges (by charge_date) rebuild only the days changed since they were last built (the audit
  trail, by block of its chain: from the first link changed to the last,
  int_audit_affected_blocks), with each engine's own
  incremental strategy, configured in dbt_project.yml (`affected_days` names the model listing the
  days to rebuild):
  - DuckDB, `delete+insert` on the day: the affected days are deleted, the model's rows for them
    inserted, in one transaction;
  - Spark, `insert_overwrite` of the day partitions (dynamic partition overwrite).
  A day can be affected and yet have no rows left (every event of it voided): both strategies
  replace only the days the new rows hold, so the affected days are emptied first (below).

  Which days are affected comes from upstream only: int_*_changed_dates lists every day with the
  newest load that changed it, as its number in the load sequence (ops.load_sequence: ingestion
  numbers every load in its own transaction, so no clock, stepped back or of another host, decides);
  ops.dbt_builds holds, per incremental model, the newest load it reflects, recorded at the end of
  a run in which it was built (on-run-end). A model never recorded (a first build, or a warehouse
  from before the record or from when it held times) makes every day affected.
#}

{% macro incremental_groups() -%}
    {{ return({
        'usage': {'models': usage_marts(), 'changes': 'int_usage_changed_dates', 'day': 'usage_date'},
        'reconciliation': {'models': ['rpt_usage_ledger_reconciliation'], 'changes': 'int_reconciliation_changed_dates',
                           'day': 'charge_date'},
        'focus': {'models': ['rpt_focus_charges'], 'changes': 'int_focus_changed_dates', 'day': 'charge_date'},
        'audit': {'models': ['fct_audit_events'], 'changes': 'int_audit_changed_batches', 'day': 'day'},
    }) }}
{%- endmacro %}

{# The days to rebuild for a group: changed after the oldest change its models reflect (the
   changes' `select` column, the day by default). #}
{% macro affected_days_sql(group, select=none) -%}
    {%- set g = incremental_groups()[group] -%}
    with built as (
        select model_name, max(watermark) as watermark
        from {{ source('ops', 'dbt_builds') }}
        where model_name in ({% for m in g.models %}'{{ m }}'{{ ", " if not loop.last }}{% endfor %})
        group by model_name
    ),

    reflected as (
        -- every model of the group recorded, else nothing is known to be built
        select case when count(*) = {{ g.models | length }} then min(watermark) end as watermark
        from built
    )

    select c.{{ select or g.day }}
    from {{ ref(g.changes) }} as c
    {%- if not flags.FULL_REFRESH %}
    where c.changed_seq > coalesce((select watermark from reflected), -1)
    {%- set days = rebuild_days() %}
    {%- if days %}
        -- a rebuild of these days, asked for by the run (RebuildConfig, pipelines/defs/warehouse/assets.py)
        or c.{{ g.day }} between cast('{{ days[0] }}' as date) and cast('{{ days[1] }}' as date)
    {%- endif %}
    {%- endif %}
{%- endmacro %}

{# The day range a run asks to rebuild (--vars '{rebuild_from: YYYY-MM-DD, rebuild_to: YYYY-MM-DD}'),
   checked here too since the vars may come from a hand-typed dbt command; none when not asked. #}
{% macro rebuild_days() -%}
    {%- set first_day, last_day = var('rebuild_from', none), var('rebuild_to', none) -%}
    {%- if first_day is none and last_day is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- for d in [first_day, last_day] if not modules.re.fullmatch('[0-9]{4}-[0-9]{2}-[0-9]{2}', d | string) -%}
        {{ exceptions.raise_compiler_error("rebuild_from and rebuild_to must both be days as YYYY-MM-DD, not " ~ d) }}
    {%- endfor -%}
    {{ return([first_day | string, last_day | string]) }}
{%- endmacro %}

{# A model's filter to its affected days, on an incremental run; every day otherwise. #}
{% macro affected_days_filter(column, affected) -%}
    {%- set days = ref(affected) -%}
    {%- if is_incremental() -%}
        {{ column }} in (select {{ column }} from {{ days }})
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{# on-run-start: the record of what the incremental models reflect. A record from when it held
   times (watermark a timestamp) is converted once: it and the incremental models (whose _watermark
   column was a time) are dropped, so this build makes them again from every day. #}
{% macro create_build_record() -%}
    {%- if execute -%}
        {%- do run_query("create schema if not exists ops") -%}
        {%- set watermark_type = build_record_watermark_type() | lower -%}
        {%- if watermark_type and 'int' not in watermark_type -%}
            {%- for group in incremental_groups().values() -%}
                {%- for m in group.models -%}
                    {%- do run_query("drop table if exists marts." ~ m) -%}
                {%- endfor -%}
            {%- endfor -%}
            {%- do run_query("drop table ops.dbt_builds") -%}
        {%- endif -%}
        {%- do run_query(build_record_ddl()) -%}
    {%- endif -%}
    select 1
{%- endmacro %}

{# The type of ops.dbt_builds.watermark, '' when the table is not there. #}
{% macro build_record_watermark_type() -%}
    {{ return(adapter.dispatch('build_record_watermark_type')()) }}
{%- endmacro %}

{% macro default__build_record_watermark_type() -%}
    {%- set rows = run_query("select data_type from duckdb_columns() where schema_name = 'ops' "
                             ~ "and table_name = 'dbt_builds' and column_name = 'watermark'").rows -%}
    {{ return(rows[0][0] if rows | length > 0 else '') }}
{%- endmacro %}

{% macro spark__build_record_watermark_type() -%}
    {%- if run_query("show tables in ops like 'dbt_builds'").rows | length == 0 -%}
        {{ return('') }}
    {%- endif -%}
    {%- set rows = run_query("describe table ops.dbt_builds").rows | selectattr(0, 'equalto', 'watermark') | list -%}
    {{ return(rows[0][1] if rows | length > 0 else '') }}
{%- endmacro %}

{% macro build_record_ddl() -%}
    {{ return(adapter.dispatch('build_record_ddl')()) }}
{%- endmacro %}

{% macro default__build_record_ddl() -%}
    create table if not exists ops.dbt_builds (model_name varchar, watermark bigint, built_at timestamptz)
{%- endmacro %}

{% macro spark__build_record_ddl() -%}
    create table if not exists ops.dbt_builds (model_name string, watermark bigint, built_at timestamp) using parquet
{%- endmacro %}

{# on-run-end: each incremental model built in this run reflects its group's changes up to now. #}
{% macro record_incremental_builds(results) -%}
    {%- if execute -%}
        {%- for group in incremental_groups().values() -%}
            {%- set built = [] -%}
            {%- for r in results if r.node.resource_type == 'model' and r.node.name in group.models
                                   and r.status == 'success' -%}
                {%- do built.append(r.node.name) -%}
            {%- endfor -%}
            {%- if built -%}
                {%- do run_query(
                    "insert into ops.dbt_builds select m.model_name, c.watermark, current_timestamp from ("
                    ~ build_rows_sql(built) ~ ") as m cross join (select max(changed_seq) as watermark from intermediate."
                    ~ group.changes ~ ") as c") -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    select 1
{%- endmacro %}

{% macro build_rows_sql(names) -%}
    {%- for n in names -%}select '{{ n }}' as model_name{{ " union all " if not loop.last }}{%- endfor -%}
{%- endmacro %}

{#
  DuckDB's delete+insert, for a model with `affected_days`: the affected days are deleted (the
  days of the new rows too, as dbt's own does), then the new rows inserted.
#}
{% macro duckdb__get_delete_insert_merge_sql(target, source, unique_key, dest_columns, incremental_predicates) -%}
    {%- set dest_cols_csv = get_quoted_csv(dest_columns | map(attribute="name")) -%}
    {%- set affected = config.get('affected_days') -%}
    delete from {{ target }}
    where {{ unique_key }} in (select {{ unique_key }} from {{ source }})
    {%- if affected %}
        or {{ unique_key }} in (select {{ unique_key }} from intermediate.{{ affected }})
    {%- endif -%};

    insert into {{ target }} ({{ dest_cols_csv }})
    (
        select {{ dest_cols_csv }}
        from {{ source }}
    )
{%- endmacro %}

{#
  Spark's insert_overwrite (dbt-spark's, with the affected day partitions dropped first): dynamic
  partition overwrite replaces the days the new rows hold; a day left empty is dropped.
#}
{% macro get_insert_overwrite_sql(source_relation, target_relation, existing_relation) %}
    {%- set affected = config.get('affected_days') -%}
    {%- set partition = config.get('partition_by') -%}
    {%- if affected and execute -%}
        {%- set column = partition if partition is string else partition[0] -%}
        {%- set days = run_query("select cast(" ~ column ~ " as string) from intermediate." ~ affected).columns[0].values() -%}
        {%- if days | length > 0 -%}
            {%- do run_query("alter table " ~ target_relation ~ " drop if exists " ~ partition_specs(column, days)) -%}
        {%- endif -%}
    {%- endif -%}
    {%- set dest_columns = adapter.get_columns_in_relation(target_relation) -%}
    {%- set dest_cols_csv = dest_columns | map(attribute='quoted') | join(', ') -%}
    insert overwrite table {{ target_relation }}
    {{ partition_cols(label="partition") }}
    select {{ dest_cols_csv }} from {{ source_relation }}
{% endmacro %}

{% macro partition_specs(column, days) -%}
    {%- for d in days -%}partition ({{ column }} = '{{ d }}'){{ ", " if not loop.last }}{%- endfor -%}
{%- endmacro %}

{# The block of the audit chain a seq is in: fct_audit_events is rebuilt, and partitioned, by block. #}
{% macro audit_chain_block(seq) -%}
    cast(floor({{ seq }} / {{ var('audit_chain_block_seqs') }}) as bigint)
{%- endmacro %}

{# The first seq of the block a seq is in. #}
{% macro audit_chain_block_start(seq) -%}
    {{ audit_chain_block(seq) }} * {{ var('audit_chain_block_seqs') }}
{%- endmacro %}

{# Per batch and day of a table's rows, the newest load that wrote them (ops.touched_dates): a load,
   or a quarantine release, as its number in the load sequence. #}
{% macro touched_loads(table_name) -%}
    select
        batch_id,
        day,
        max(load_seq) as changed_seq
    from {{ source('ops', 'touched_dates') }}
    where table_name = '{{ table_name }}'
    group by batch_id, day
{%- endmacro %}
