-- The charge dates rpt_usage_ledger_reconciliation rebuilds in this run: days changed after the
-- newest watermark it holds. Every day on a full refresh, on its first build, or when it has no
-- watermark yet (built before it was incremental).
{%- set ns = namespace(watermarked=false, rel=none) %}
{%- if execute and not flags.FULL_REFRESH %}
    {%- set ns.rel = adapter.get_relation(database=target.database, schema='marts',
                                          identifier='rpt_usage_ledger_reconciliation') %}
    {%- if ns.rel is not none %}
        {%- set ns.watermarked = '_watermark' in adapter.get_columns_in_relation(ns.rel) | map(attribute='name') | list %}
    {%- endif %}
{%- endif %}

with changes as (
    select * from {{ ref('int_reconciliation_changed_dates') }}
)

select charge_date
from changes
{%- if ns.watermarked %}
where changed_at > (select coalesce(max(_watermark), '-infinity'::timestamptz) from {{ ns.rel }})
{%- endif %}
