{# A failing row is a usage event id the lake holds more than once, on whatever days. Like the
   usage marts' tests it starts from the days this run rebuilt (int_usage_affected_dates): their
   ids are counted over every day of the lake, so a new event repeating an old one fails, while
   the ids of days no run changed are not counted again (they were when their day was built).
   Every id on a first build or a --full-refresh (every day is affected), and with
   --vars '{test_all_days: true}'. Counting every id of the lake on every run would cost time
   growing with the lake; the ids of the rebuilt days cost what those days hold. #}
{% test unique_in_lake(model, column_name, partition_column) %}
{%- set affected_days = ref('int_usage_affected_dates') %}
select {{ column_name }}, count(*) as occurrences
from {{ model }}
{%- if not var('test_all_days', false) %}
where {{ column_name }} in (
    select {{ column_name }} from {{ model }}
    where {{ partition_days_filter(partition_column, affected_usage_days(affected_days)) }})
{%- endif %}
group by all
having count(*) > 1
{% endtest %}
