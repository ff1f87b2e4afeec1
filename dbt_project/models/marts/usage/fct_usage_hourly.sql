-- Usage per UTC hour x organization x department x project x API key x model x usage unit
-- (x currency, since amounts are summed).
with events as (
    select * from {{ ref('fct_usage_events') }}
    where {{ affected_usage_dates_filter() }}
),

final as (
    select
        usage_hour,
        usage_date,
        organization_id,
        department_id,
        project_id,
        api_key_id,
        model_id,
        product,
        usage_unit,
        currency,
        sum(quantity) as quantity,
        sum(rated_amount) as rated_amount,
        count(*) as event_count,
        count(*) filter (where not is_rated) as unrated_event_count,
        {{ usage_watermark() }} as _watermark
    from events
    group by all
)

select * from final
