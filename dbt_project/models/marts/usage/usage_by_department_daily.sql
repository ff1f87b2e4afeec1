-- Usage per day x department (as of the usage) x usage unit x currency.
with source as (
    select * from {{ ref('fct_usage_daily') }}
    where {{ affected_usage_dates_filter() }}
),

final as (
    select
        usage_date,
        organization_id,
        department_id,
        product,
        usage_unit,
        currency,
        {{ usage_rollup_measures() }}
    from source
    group by all
)

select * from final
