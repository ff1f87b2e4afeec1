{#
  The Parquet lake written by ingestion: <data>/lake/<table>/<partition>/<file>.parquet.
  The build reads exactly the files ops.lake_files records (pipelines/lib/lake.py), as a list of
  paths: never a glob over the data directory, whose name may hold [ ] * ? { (a pattern would
  match nothing and leave every mart empty), and never a file the ingestion record does not know.
  A recorded file that is missing fails the build; the run checks them all before dbt starts
  (pipelines/lib/ingest/control.py). Before the first batch of a table lands there is no file
  to read: the staging view then reads the (empty, typed) build table of the same name, so every
  model compiles from day one.
#}
{% macro lake_files(table) -%}
    {%- set files = [] -%}
    {%- if execute -%}
        {%- set exists = run_query("select count(*) from duckdb_tables() where schema_name = 'ops' and table_name = 'lake_files'") -%}
        {%- if exists.columns[0].values()[0] > 0 -%}
            {%- set found = run_query("select path from ops.lake_files where table_name = '" ~ table ~ "' order by path") -%}
            {%- set files = found.columns[0].values() | list -%}
        {%- endif -%}
    {%- endif -%}
    {{ return(files) }}
{%- endmacro %}

{% macro lake_path_list(files) -%}
    {%- set root = env_var('ANALYTICS_DATA_DIR') ~ '/lake/' -%}
    [{%- for f in files -%}'{{ (root ~ f) | replace("'", "''") }}'{{ ", " if not loop.last }}{%- endfor -%}]
{%- endmacro %}

{#
  partition_date: the column that names an event table's UTC-day partition directory
  (event_date=YYYY-MM-DD), exposed as a DATE so a filter on it reads only those days' files.
#}
{% macro lake_source(table, partition_date=none) -%}
    {%- set files = lake_files(table) -%}
    {%- if files | length > 0 -%}
        {%- if partition_date %}
        read_parquet({{ lake_path_list(files) }}, hive_partitioning = true,
                     hive_types = {'{{ partition_date }}': DATE}, union_by_name = true)
        {%- else %}
        read_parquet({{ lake_path_list(files) }}, hive_partitioning = false, union_by_name = true)
        {%- endif %}
    {%- else -%}
        (select * exclude (_path, _content_hash){{ ", null::date as " ~ partition_date if partition_date }}
         from {{ source('raw', table) }} where false)
    {%- endif -%}
{%- endmacro %}
