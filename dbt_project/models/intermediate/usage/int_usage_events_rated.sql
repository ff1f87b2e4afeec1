-- Effective usage attributed as of occurred_at (the project's department, the organization's
-- plan, the unit's product) and rated from the price book: the price of the organization's plan
-- for the unit, model-specific over model-agnostic, whose [effective_from, effective_to) holds
-- occurred_at. rated_amount = quantity x unit_price at full precision; null when no price applies.
with usage as (
    select * from {{ ref('int_usage_events_corrected') }}
    where not is_void
),

projects as (
    select * from {{ ref('int_projects_versioned') }}
),

organizations as (
    select * from {{ ref('int_organizations_versioned') }}
),

units as (
    select * from {{ ref('int_usage_units_versioned') }}
),

model_prices as (
    select * from {{ ref('int_price_segments') }}
    where model_id is not null
),

plan_prices as (
    select * from {{ ref('int_price_segments') }}
    where model_id is null
),

attributed as (
    select
        u.*,
        p.department_id,
        o.plan_id,
        un.product
    from usage as u
    left join projects as p
        on
            u.project_id = p.project_id
            and u.occurred_at >= p.attributed_from and u.occurred_at < p.attributed_to
    left join organizations as o
        on
            u.organization_id = o.organization_id
            and u.occurred_at >= o.attributed_from and u.occurred_at < o.attributed_to
    left join units as un
        on
            u.usage_unit = un.usage_unit
            and u.occurred_at >= un.attributed_from and u.occurred_at < un.attributed_to
),

priced as (
    -- a model-specific price wins over the plan's price for the unit (int_price_segments: at
    -- most one of each holds occurred_at)
    select
        a.*,
        coalesce(mp.price_id, pp.price_id) as price_id,
        if(mp.price_id is null, pp.unit_price, mp.unit_price) as unit_price,
        if(mp.price_id is null, pp.currency, mp.currency) as currency
    from attributed as a
    left join model_prices as mp
        on
            a.plan_id = mp.plan_id
            and a.usage_unit = mp.usage_unit
            and a.model_id = mp.model_id
            and a.occurred_at >= mp.segment_from and a.occurred_at < mp.segment_to
    left join plan_prices as pp
        on
            a.plan_id = pp.plan_id
            and a.usage_unit = pp.usage_unit
            and a.occurred_at >= pp.segment_from and a.occurred_at < pp.segment_to
),

final as (
    select
        *,
        {{ rated_amount('quantity', 'unit_price') }} as rated_amount,
        unit_price is not null as is_rated,
        {{ utc_date('occurred_at') }} as usage_date,
        {{ utc_hour('occurred_at') }} as usage_hour
    from priced
)

select * from final
