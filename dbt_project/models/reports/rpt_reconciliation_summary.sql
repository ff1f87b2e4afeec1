-- Control totals per organization, currency and billing period (UTC month) for the finance sign-off: usage, rated and
-- ledger amounts, their difference, and the number of keys in each reconciliation status.
with reconciliation as (
    select * from {{ ref('rpt_usage_ledger_reconciliation') }}
),

final as (
    select
        organization_id,
        currency,
        cast({{ month_start('charge_date') }} as date) as billing_period,
        sum(usage_quantity) as usage_quantity,
        {{ money_sum('rated_amount', 2) }} as rated_amount,
        sum(ledger_amount) as ledger_amount,
        {{ money_difference('coalesce(sum(ledger_amount), 0)', 'coalesce(sum(rated_amount), 0)') }} as amount_diff,
        count(*) as keys,
        -- a column per loop item, its comma from loop.last: SQLFluff misreads the indent of those lines
        -- noqa: disable=LT02
        {%- for status in ['matched', 'amount_mismatch', 'quantity_mismatch', 'missing_in_ledger',
                           'ledger_without_usage', 'duplicate_ledger_entry', 'unrated_usage'] %}
        count(*) filter (where status = '{{ status }}') as {{ status }}{{ "," if not loop.last }}
        {%- endfor %}
    -- noqa: enable=LT02
    from reconciliation
    group by all
)

select * from final
