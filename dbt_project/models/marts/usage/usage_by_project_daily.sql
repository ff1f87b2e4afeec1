-- Usage per day x project x usage unit x currency, with the project's department as of the usage.
with source as (
    select * from {{ ref('fct_usage_daily') }}
    where {{ affected_usage_dates_filter() }}
),

final as (
    select
        usage_date,
        organization_id,
        department_id,
        project_id,
        product,
        usage_unit,
        currency,
        {{ usage_rollup_measures() }}
    from source
    group by all
)

select * from final
