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

prices as (
    select * from {{ ref('int_prices_current') }}
),

attributed as (
    select
        u.*,
        p.department_id,
        o.plan_id,
        un.product
    from usage as u
    left join projects as p
        on p.project_id = u.project_id
        and u.occurred_at >= p.attributed_from and u.occurred_at < p.attributed_to
    left join organizations as o
        on o.organization_id = u.organization_id
        and u.occurred_at >= o.attributed_from and u.occurred_at < o.attributed_to
    left join units as un
        on un.usage_unit = u.usage_unit
        and u.occurred_at >= un.attributed_from and u.occurred_at < un.attributed_to
),

priced as (
    select
        a.*,
        pr.price_id,
        pr.unit_price,
        pr.currency
    from attributed as a
    left join prices as pr
        on pr.plan_id = a.plan_id
        and pr.usage_unit = a.usage_unit
        and (pr.model_id = a.model_id or pr.model_id is null)
        and a.occurred_at >= pr.effective_from
        and (pr.effective_to is null or a.occurred_at < pr.effective_to)
    qualify row_number() over (
        partition by a.event_id order by pr.model_id is null, pr.effective_from desc, pr.price_id
    ) = 1
),

final as (
    select
        *,
        quantity * unit_price as rated_amount,
        unit_price is not null as is_rated,
        occurred_at::date as usage_date,
        date_trunc('hour', occurred_at) as usage_hour
    from priced
)

select * from final
