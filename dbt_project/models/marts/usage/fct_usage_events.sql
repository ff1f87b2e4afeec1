-- Effective usage events: one row per original event under its event_id, with its latest
-- correction's values; voided events are absent. Department and plan as of occurred_at.
{%- set affected_days = ref('int_usage_affected_dates') %}
{%- set days = affected_usage_days(affected_days) if is_incremental() else none %}
with rated as (
    select * from {{ ref('int_usage_events_rated') }}
    {%- if days is not none %}
    -- the days rebuilt, as literal dates on the originals' lake partition: the filter reaches the
    -- lake scan through the views, so an incremental run reads only those days' files
    where {{ partition_days_filter('event_date', days) }}
    {%- endif %}
),

final as (
    select
        event_id,
        occurred_at,
        usage_date,
        usage_hour,
        organization_id,
        department_id,
        project_id,
        api_key_id,
        model_id,
        product,
        usage_unit,
        quantity,
        unit_price,
        rated_amount,
        currency,
        is_rated,
        plan_id,
        price_id,
        resource_id,
        correction_event_id,
        is_corrected,
        batch_id,
        {{ usage_watermark() }} as _watermark
    from rated
)

select * from final
