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
    {%- if execute and lake_record_exists() -%}
        {%- set found = run_query("select path from ops.lake_files where table_name = '" ~ table ~ "' order by path") -%}
        {%- set files = found.columns[0].values() | list -%}
    {%- endif -%}
    {{ return(files) }}
{%- endmacro %}

{# ops.lake_files is there: on DuckDB once ingestion first ran; on Spark once registered
   (macros/engine/sources.sql, before any model). #}
{% macro lake_record_exists() -%}
    {{ return(adapter.dispatch('lake_record_exists')()) }}
{%- endmacro %}

{% macro default__lake_record_exists() -%}
    {{ return(true) }}
{%- endmacro %}

{% macro duckdb__lake_record_exists() -%}
    {%- set found = run_query("select count(*) from duckdb_tables() where schema_name = 'ops' and table_name = 'lake_files'") -%}
    {{ return(found.columns[0].values()[0] > 0) }}
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
    {{ return(adapter.dispatch('lake_source')(table, partition_date)) }}
{%- endmacro %}

{% macro duckdb__lake_source(table, partition_date=none) -%}
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

{#
  Spark reads a table's directory and keeps the rows of the recorded files: a file is known by its
  last two path parts (event_date=<day>/<file> or batch_id=<batch>/<file>), which Spark's
  _metadata.file_path ends with whatever URI form it gives the data directory. The partition
  directories add a column (event_date, a DATE; batch_id, which staging does not select).
#}
{% macro spark__lake_source(table, partition_date=none) -%}
    {%- set files = lake_files(table) -%}
    {%- set root = env_var('ANALYTICS_DATA_DIR') ~ '/lake/' -%}
    {%- if files | length > 0 %}
        (select * from parquet.`{{ root ~ table }}`
         where concat('{{ table }}/', regexp_extract(_metadata.file_path, '[^/]+/[^/]+$', 0)) in (
            {%- for f in files -%}'{{ f | replace("'", "''") }}'{{ ", " if not loop.last }}{%- endfor -%}))
    {%- else %}
        (select *{{ ", cast(null as date) as " ~ partition_date if partition_date }}
         from parquet.`{{ root ~ '_sources/raw/' ~ table }}`)
    {%- endif -%}
{%- endmacro %}
