{#
  on-run-end, Spark: where each table the project builds (and ops.dbt_builds) lives and its
  columns, as Parquet in <data>/spark/relation_columns/ (one row per column: schema, table,
  position, name, Spark type, and the table's location, wherever the cluster keeps its
  warehouse). pipelines/lib/engine_import.py reads it to copy the build into the DuckDB warehouse
  the reports and analysts read: a table's Parquet files hold its rows, but an empty partitioned
  table has no file to tell its columns, and Spark moves partition columns last. DuckDB needs no
  such record: the build is already in its file. (The folder is also named in
  pipelines/lib/config.py, Settings.spark_relation_columns_dir.)
#}
{% macro record_relation_columns() -%}
    {{ return(adapter.dispatch('record_relation_columns')()) }}
{%- endmacro %}

{% macro default__record_relation_columns() -%}
    select 1
{%- endmacro %}

{% macro spark__record_relation_columns() -%}
    {%- if execute -%}
        {%- set rows = [] -%}
        {#- every table model, and the sources dbt writes itself (ops.dbt_builds) -#}
        {%- set relations = [] -%}
        {%- for node in graph.nodes.values() if node.resource_type == 'model'
                                                and node.config.materialized in ('table', 'incremental') -%}
            {%- do relations.append((node.database, node.schema, node.alias)) -%}
        {%- endfor -%}
        {%- for node in graph.sources.values() if node.meta.get('written_by') == 'dbt' -%}
            {%- do relations.append((node.database, node.schema, node.identifier)) -%}
        {%- endfor -%}
        {%- for database, schema, identifier in relations -%}
            {%- set relation = adapter.get_relation(database=database, schema=schema, identifier=identifier) -%}
            {%- if relation is not none -%}
                {%- set described = run_query('describe table extended ' ~ relation).rows -%}
                {%- set table = namespace(columns=[], location=none, in_columns=true) -%}
                {%- for row in described -%}
                    {%- if not row[0] or row[0].startswith('#') -%}
                        {%- set table.in_columns = false -%}
                    {%- elif table.in_columns -%}
                        {%- do table.columns.append((row[0], row[1])) -%}
                    {%- elif row[0] == 'Location' -%}
                        {%- set table.location = row[1] -%}
                    {%- endif -%}
                {%- endfor -%}
                {%- for column, column_type in table.columns -%}
                    {%- do rows.append("(" ~ spark_string(schema) ~ ", " ~ spark_string(identifier) ~ ", "
                                       ~ loop.index ~ ", " ~ spark_string(column) ~ ", " ~ spark_string(column_type) ~ ", "
                                       ~ spark_string(table.location) ~ ")") -%}
                {%- endfor -%}
            {%- endif -%}
        {%- endfor -%}
        {%- do run_query("insert overwrite directory " ~ spark_string(env_var('ANALYTICS_DATA_DIR') ~ '/spark/relation_columns')
                         ~ " using parquet select * from values " ~ rows | join(", ")
                         ~ " as t(schema_name, table_name, position, column_name, data_type, location)") -%}
    {%- endif -%}
    select 1
{%- endmacro %}

{% macro spark_string(text) -%}
    '{{ text | replace("\\", "\\\\") | replace("'", "\\'") }}'
{%- endmacro %}
