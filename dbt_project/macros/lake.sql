{#
  The Parquet lake written by ingestion: <data>/lake/<table>/<partition>/<file>.parquet.
  Before the first batch of a table lands there is no file to read: the staging view then reads
  the (empty, typed) build table of the same name, so every model compiles from day one.
#}
{% macro lake_path(table) -%}
    {{ env_var('ANALYTICS_DATA_DIR') }}/lake/{{ table }}/*/*.parquet
{%- endmacro %}

{% macro lake_source(table) -%}
    {%- set files = 0 -%}
    {%- if execute -%}
        {%- set files = run_query("select count(*) from glob('" ~ lake_path(table) ~ "')").columns[0].values()[0] -%}
    {%- endif -%}
    {%- if files > 0 -%}
        read_parquet('{{ lake_path(table) }}', hive_partitioning = false, union_by_name = true)
    {%- else -%}
        (select * exclude (_path, _content_hash) from {{ source('raw', table) }} where false)
    {%- endif -%}
{%- endmacro %}
