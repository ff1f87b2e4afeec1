{#
  The `where` config of a test may name __affected_usage_dates__: the days this run rebuilds in
  the incremental usage marts (int_usage_affected_dates). Their tests then check what the run
  changed, not the whole history again; a first build or a --full-refresh rebuilds, and so tests,
  every day, and so does `dbt test --vars '{test_all_days: true}'`. Otherwise dbt's own
  get_where_subquery.
#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- if where and '__affected_usage_dates__' in where and var('test_all_days', false) -%}
        {%- do return(relation) -%}
    {%- endif -%}
    {%- if where -%}
        {%- set affected = api.Relation.create(database=target.database, schema='intermediate',
                                               identifier='int_usage_affected_dates') -%}
        {%- set where = where | replace('__affected_usage_dates__', '(select usage_date from ' ~ affected ~ ')') -%}
        {%- do return('(select * from ' ~ relation ~ ' where ' ~ where ~ ') dbt_subquery') -%}
    {%- endif -%}
    {%- do return(relation) -%}
{%- endmacro %}
