-- Usage per UTC day x organization x department x project x API key x model x usage unit x currency.
with source as (
    select * from {{ ref('fct_usage_hourly') }}
    where {{ affected_usage_dates_filter() }}
),

final as (
    select
        usage_date,
        organization_id,
        department_id,
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
