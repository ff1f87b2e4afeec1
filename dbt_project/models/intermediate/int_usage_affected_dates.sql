-- The days the incremental usage marts rebuild in this run: days changed after the oldest
-- watermark of the usage marts. All days on a full refresh, or when a usage mart is missing.
{%- set ns = namespace(missing=false, parts=[]) %}
{%- if execute %}
{%- for name in usage_marts() %}
    {%- set rel = adapter.get_relation(database=target.database, schema='marts', identifier=name) %}
    {%- if rel is none %}
        {%- set ns.missing = true %}
    {%- else %}
        {%- do ns.parts.append("select coalesce(max(_watermark), '-infinity'::timestamptz) as watermark from " ~ rel) %}
    {%- endif %}
{%- endfor %}
{%- endif %}

with changes as (
    select * from {{ ref('int_usage_changed_dates') }}
)

select usage_date
from changes
{%- if execute and not ns.missing and not flags.FULL_REFRESH %}
where changed_at > (select min(watermark) from ({{ ns.parts | join(' union all ') }}))
{%- endif %}
