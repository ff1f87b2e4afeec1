-- Usage per day x API key x model x usage unit x currency (api_key_id null: usage without a key).
with source as (
    select * from {{ ref('fct_usage_daily') }}
    where {{ affected_usage_dates_filter() }}
),

final as (
    select
        usage_date,
        organization_id,
        project_id,
        api_key_id,
        model_id,
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
