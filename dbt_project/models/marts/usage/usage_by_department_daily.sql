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
        sum(quantity) as quantity,
        sum(rated_amount) as rated_amount,
        sum(event_count) as event_count,
        sum(unrated_event_count) as unrated_event_count,
        {{ usage_watermark() }} as _watermark
    from source
    group by all
)

select * from final
