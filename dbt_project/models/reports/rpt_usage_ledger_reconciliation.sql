-- Usage vs ledger per organization x project x usage unit x model x charge_date present on either
-- side. rated_amount is the summed full-precision rated amount rounded half-even to cents (an
-- exact expression: DuckDB's ROUND and casts round half away from zero). A key takes the first
-- status that applies, in the contract's order.
-- Incremental by charge date: a run rebuilds the days whose usage or ledger changed since the
-- last build (int_reconciliation_affected_dates, macros/engine/incremental.sql); every day on a
-- first build or --full-refresh.
{{ config(materialized='incremental',
          incremental_strategy='insert_overwrite' if target.type == 'spark' else 'delete+insert',
          unique_key='charge_date', partition_by=['charge_date'], file_format='parquet',
          affected_days='int_reconciliation_affected_dates', on_schema_change='append_new_columns') }}
-- affected is read on an incremental run only
with affected as (  -- noqa: ST03
    select charge_date from {{ ref('int_reconciliation_affected_dates') }}
),

usage as (
    select
        organization_id,
        project_id,
        usage_unit,
        model_id,
        usage_date as charge_date,
        any_value(currency) filter (where currency is not null) as currency,
        sum(quantity) as usage_quantity,
        sum(rated_amount) as rated_amount_exact,
        sum(event_count)::bigint as usage_events,
        sum(unrated_event_count)::bigint as unrated_events
    -- the daily rollup holds the same exact sums as the events, in far fewer rows
    from {{ ref('fct_usage_daily') }}
    {%- if is_incremental() %}
    where usage_date in (select charge_date from affected)
    {%- endif %}
    group by all
),

ledger as (
    select
        organization_id,
        project_id,
        usage_unit,
        model_id,
        charge_date,
        any_value(currency) as currency,
        sum(quantity) as ledger_quantity,
        sum(amount) as ledger_amount,
        count(*) as ledger_lines,
        count(*) filter (where quantity is null) as lines_without_quantity
    from {{ ref('int_ledger_usage_charges') }}
    {%- if is_incremental() %}
    where charge_date in (select charge_date from affected)
    {%- endif %}
    group by all
),

joined as (
    select
        coalesce(u.charge_date, l.charge_date) as charge_date,
        coalesce(u.organization_id, l.organization_id) as organization_id,
        coalesce(u.project_id, l.project_id) as project_id,
        coalesce(u.usage_unit, l.usage_unit) as usage_unit,
        coalesce(u.model_id, l.model_id) as model_id,
        coalesce(u.currency, l.currency) as currency,
        l.currency as ledger_currency,
        u.usage_quantity,
        u.rated_amount_exact,
        -- every amount the export contract allows (18 digits before the point) fits: DECIMAL(38, 2)
        {{ round_half_even('u.rated_amount_exact', 2) }}::decimal(38, 2) as rated_amount,
        l.ledger_quantity,
        l.ledger_amount,
        coalesce(u.usage_events, 0) as usage_events,
        coalesce(u.unrated_events, 0) as unrated_events,
        coalesce(l.ledger_lines, 0) as ledger_lines,
        coalesce(l.lines_without_quantity, 0) as lines_without_quantity
    from usage as u
    full outer join ledger as l
        on
            u.organization_id = l.organization_id
            and u.project_id is not distinct from l.project_id
            and u.usage_unit is not distinct from l.usage_unit
            and u.model_id is not distinct from l.model_id
            and u.charge_date = l.charge_date
),

final as (
    select
        charge_date,
        organization_id,
        project_id,
        usage_unit,
        model_id,
        currency,
        usage_quantity,
        rated_amount,
        ledger_quantity,
        ledger_amount,
        {{ money_difference('ledger_amount', 'rated_amount') }} as amount_diff,
        case
            when ledger_lines > 1 then 'duplicate_ledger_entry'
            when unrated_events > 0 then 'unrated_usage'
            when ledger_lines = 0 then 'missing_in_ledger'
            when usage_events = 0 then 'ledger_without_usage'
            when lines_without_quantity > 0 or usage_quantity <> ledger_quantity then 'quantity_mismatch'
            when
                ledger_currency <> currency or abs({{ money_difference('ledger_amount', 'rated_amount') }}) > 0.01
                then 'amount_mismatch'
            else 'matched'
        end as status,
        rated_amount_exact,
        usage_events,
        unrated_events,
        ledger_lines,
        (select max(c.changed_seq) from {{ ref('int_reconciliation_changed_dates') }} as c) as _watermark
    from joined
)

select * from final
