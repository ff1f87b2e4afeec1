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
        {{ usage_rollup_measures() }}
    from source
    group by all
)

select * from final
