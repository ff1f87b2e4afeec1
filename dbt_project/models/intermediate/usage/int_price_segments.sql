-- The price book cut into the windows rating looks up: per plan x usage unit x model (or no
-- model), the timeline split at every effective_from and effective_to, each piece carrying the
-- one price that applies there (the latest effective_from, then the lowest price_id). Pieces of
-- one key never overlap, so an event finds at most one model-specific and one model-agnostic
-- price with plain range joins, and no per-event ranking.
with prices as (
    select * from {{ ref('int_prices_current') }}
),

boundaries as (
    select
        plan_id,
        usage_unit,
        model_id,
        effective_from as segment_from
    from prices
    union
    select
        plan_id,
        usage_unit,
        model_id,
        effective_to
    from prices
    where effective_to is not null
),

segments as (
    select
        plan_id,
        usage_unit,
        model_id,
        segment_from,
        coalesce(
            lead(segment_from) over (partition by plan_id, usage_unit, model_id order by segment_from),
            {{ instant_max() }}
        ) as segment_to
    from boundaries
    where segment_from is not null
),

final as (
    select
        s.plan_id,
        s.usage_unit,
        s.model_id,
        s.segment_from,
        s.segment_to,
        p.price_id,
        p.unit_price,
        p.currency
    from segments as s
    inner join prices as p
        on
            s.plan_id = p.plan_id
            and s.usage_unit = p.usage_unit
            and p.model_id is not distinct from s.model_id
            and s.segment_from >= p.effective_from
            and (p.effective_to is null or s.segment_from < p.effective_to)
    qualify row_number() over (
        partition by s.plan_id, s.usage_unit, s.model_id, s.segment_from
        order by p.effective_from desc, p.price_id asc
    ) = 1
)

select * from final
