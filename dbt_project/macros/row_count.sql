{#- A table's row count, told to the orchestrator as the model finishes: a log line that
    pipelines/defs/warehouse/assets.py reads from dbt's event stream, so each materialization
    carries its count without a second connection to the warehouse dbt is writing. -#}
{% macro log_row_count() %}
  {%- if execute and model.config.materialized in ('table', 'incremental') -%}
    {%- set rows = run_query('select count(*) from ' ~ this).columns[0].values()[0] -%}
    {{- log('row count: ' ~ model.unique_id ~ ' ' ~ rows, info=True) -}}
  {%- endif -%}
{% endmacro %}
