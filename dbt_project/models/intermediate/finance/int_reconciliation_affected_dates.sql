-- The charge dates rpt_usage_ledger_reconciliation rebuilds in this run: days changed after the
-- newest watermark it holds. Every day on a full refresh or its first build.
{%- set ns = namespace(rel=none) %}
{%- if execute and not flags.FULL_REFRESH %}
    {%- set ns.rel = adapter.get_relation(database=target.database, schema='marts',
                                          identifier='rpt_usage_ledger_reconciliation') %}
{%- endif %}

with changes as (
    select * from {{ ref('int_reconciliation_changed_dates') }}
)

select charge_date
from changes
{%- if ns.rel is not none %}
where changed_at > (select coalesce(max(_watermark), '-infinity'::timestamptz) from {{ ns.rel }})
{%- endif %}
