-- Effective usage events: one row per original event under its event_id, with its latest
-- correction's values; voided events are absent. Department and plan as of occurred_at.
-- The rating runs over only the days rebuilt (every day on a first build).
-- depends_on: {{ ref('int_usage_events_rated') }}, {{ ref('int_usage_affected_dates') }}
{%- set days = affected_usage_days() if is_incremental() else none %}
with rated as (
    {{ rated_usage_events('(' ~ corrected_usage_events(days) ~ ')') | indent(4) }}
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
