{#
  The ops and config sources on an engine that cannot read the DuckDB build warehouse: before
  every build, pipelines/lib/engine_sources.py writes them as Parquet under
  <data>/lake/_sources/<schema>/<table>/; this on-run-start hook registers each as a table of that
  schema, and refreshes it (Spark caches a table's file listing). DuckDB reads its own tables.
#}
{% macro register_engine_sources() -%}
    {{ return(adapter.dispatch('register_engine_sources')()) }}
{%- endmacro %}

{% macro default__register_engine_sources() -%}
    select 1
{%- endmacro %}

{% macro spark__register_engine_sources() -%}
    {%- if execute -%}
        {%- set root = env_var('ANALYTICS_DATA_DIR') ~ '/lake/_sources/' -%}
        {%- for node in graph.sources.values() if node.source_name in ('ops', 'config')
                                                  and node.meta.get('written_by') != 'dbt' -%}
            {%- do run_query("create database if not exists " ~ node.schema) -%}
            {%- do run_query("create table if not exists " ~ node.schema ~ "." ~ node.identifier
                             ~ " using parquet location '" ~ root ~ node.schema ~ "/" ~ node.identifier ~ "'") -%}
            {%- do run_query("refresh table " ~ node.schema ~ "." ~ node.identifier) -%}
        {%- endfor -%}
    {%- endif -%}
    select 1
{%- endmacro %}
