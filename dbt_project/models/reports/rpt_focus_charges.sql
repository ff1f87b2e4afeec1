-- FOCUS 1.2 charges (the FinOps Foundation's cost and usage format) for every organization: one row
-- per usage charge, rated from the price book. (The ledger's credits and adjustments are to come.)
-- A row is one organization's usage of one unit and model, in one project, on one UTC day, at one
-- price, in one department, on one resource. Its BilledCost is its share of the reconciliation
-- key's cents (organization x project x unit x model x day: the rated amount rounded half-even, as
-- rpt_usage_ledger_reconciliation has it), shared among the key's rows by largest remainder: the
-- rows of a key, and so of an organization and day, add up to the reconciliation to the cent.
{%- set key = 'organization_id, project_id, usage_unit, model_id, usage_date' %}
{%- set key_cost = round_half_even('sum(exact_cost) over (partition by ' ~ key ~ ')', 2) %}
with events as (
    select * from {{ ref('fct_usage_events') }}
    where is_rated
),

charges as (
    select
        organization_id,
        project_id,
        usage_unit,
        model_id,
        usage_date,
        product,
        currency,
        price_id,
        unit_price,
        department_id,
        resource_id,
        sum(quantity) as quantity,
        sum(rated_amount) as exact_cost
    from events
    group by all
),

in_cents as (
    select
        *,
        {{ amount_in_cents('exact_cost') }} as exact_cents,
        floor({{ amount_in_cents('exact_cost') }}) as whole_cents
    from charges
),

keyed as (
    select
        *,
        -- the key's cents, as the reconciliation rounds them, less the whole cents its rows hold
        cast({{ amount_in_cents(key_cost) }} as decimal(38, 0))
        - sum(whole_cents) over (partition by {{ key }})
            as cents_left,
        row_number() over (
            partition by {{ key }}
            order by exact_cents - whole_cents desc, price_id asc, department_id asc, resource_id asc
        ) as remainder_rank
    from in_cents
),

costed as (
    select
        *,
        cast(
            (whole_cents + case when remainder_rank <= cents_left then 1 else 0 end) * cast(0.01 as decimal(3, 2))
            as decimal(18, 2)
        ) as billed_cost
    from keyed
),

organizations as (
    select
        organization_id,
        name
    from {{ ref('dim_organization') }}
),

projects as (
    select
        project_id,
        name
    from {{ ref('dim_project') }}
    qualify row_number() over (partition by project_id order by valid_from desc) = 1
),

units as (
    select
        usage_unit,
        unit_of_measure
    from {{ ref('dim_usage_unit') }}
),

final as (
    -- the spec's column names, in its CamelCase
    -- noqa: disable=CP02
    select
        c.billed_cost as BilledCost,
        c.billed_cost as EffectiveCost,
        c.billed_cost as ListCost,
        c.billed_cost as ContractedCost,
        c.organization_id as BillingAccountId,
        o.name as BillingAccountName,
        'Organization' as BillingAccountType,
        c.currency as BillingCurrency,
        cast({{ month_start('c.usage_date') }} as {{ instant_type() }}) as BillingPeriodStart,
        cast({{ add_months_to_date(month_start('c.usage_date'), 1) }} as {{ instant_type() }}) as BillingPeriodEnd,
        cast(c.usage_date as {{ instant_type() }}) as ChargePeriodStart,
        cast({{ add_days_to_date('c.usage_date', 1) }} as {{ instant_type() }}) as ChargePeriodEnd,
        'Usage' as ChargeCategory,
        cast(null as string) as ChargeClass,
        concat(
            c.usage_unit, case when c.model_id is not null then concat(' (', c.model_id, ')') else '' end,
            ' on ', cast(c.usage_date as string)
        ) as ChargeDescription,
        'Usage-Based' as ChargeFrequency,
        c.quantity as ConsumedQuantity,
        u.unit_of_measure as ConsumedUnit,
        c.quantity as PricingQuantity,
        u.unit_of_measure as PricingUnit,
        'Standard' as PricingCategory,
        c.unit_price as ListUnitPrice,
        c.unit_price as ContractedUnitPrice,
        c.usage_unit as SkuId,
        c.price_id as SkuPriceId,
        case c.product
            when 'gpuaas' then 'GPUaaS'
            when 'app_platform' then 'App Platform'
            when 'token_factory' then 'Token Factory'
        end as ServiceName,
        case when c.product = 'token_factory' then 'AI and Machine Learning' else 'Compute' end as ServiceCategory,
        '{{ var("focus_provider_name") | replace("'", "''") }}' as ProviderName,
        '{{ var("focus_provider_name") | replace("'", "''") }}' as PublisherName,
        '{{ var("focus_provider_name") | replace("'", "''") }}' as InvoiceIssuerName,
        c.project_id as SubAccountId,
        p.name as SubAccountName,
        'Project' as SubAccountType,
        c.resource_id as ResourceId,
        case when c.resource_id is not null then 'Runtime' end as ResourceType,
        concat('{', concat_ws(
            ', ',
            case when c.department_id is not null then concat('"department": "', c.department_id, '"') end,
            case when c.model_id is not null then concat('"model": "', c.model_id, '"') end
        ), '}') as Tags,
        c.department_id as x_Department,
        c.model_id as x_ModelId,
        c.usage_unit as x_UsageUnit,
        c.product as x_Product
    from costed as c
    left join organizations as o on c.organization_id = o.organization_id
    left join projects as p on c.project_id = p.project_id
    left join units as u on c.usage_unit = u.usage_unit
    -- noqa: enable=CP02
)

select * from final
