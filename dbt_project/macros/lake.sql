{#
  The Parquet lake written by ingestion: <data>/lake/<table>/<partition>/<file>.parquet.
  Before the first batch of a table lands there is no file to read: the staging view then reads
  the (empty, typed) build table of the same name, so every model compiles from day one.
#}
{% macro lake_path(table) -%}
    {{ env_var('ANALYTICS_DATA_DIR') }}/lake/{{ table }}/*/*.parquet
{%- endmacro %}

{#
  partition_date: the column that names an event table's UTC-day partition directory
  (event_date=YYYY-MM-DD), exposed as a DATE so a filter on it reads only those days' files.
#}
{% macro lake_source(table, partition_date=none) -%}
    {%- set files = 0 -%}
    {%- if execute -%}
        {%- set files = run_query("select count(*) from glob('" ~ lake_path(table) ~ "')").columns[0].values()[0] -%}
    {%- endif -%}
    {%- if files > 0 -%}
        {%- if partition_date %}
        read_parquet('{{ lake_path(table) }}', hive_partitioning = true, hive_types = {'{{ partition_date }}': DATE},
                     union_by_name = true)
        {%- else %}
        read_parquet('{{ lake_path(table) }}', hive_partitioning = false, union_by_name = true)
        {%- endif %}
    {%- else -%}
        (select * exclude (_path, _content_hash){{ ", null::date as " ~ partition_date if partition_date }}
         from {{ source('raw', table) }} where false)
    {%- endif -%}
{%- endmacro %}
