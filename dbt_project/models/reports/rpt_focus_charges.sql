-- FOCUS 1.2 charges (the FinOps Foundation's cost and usage format) for every organization: usage
-- rated from the price book, and the ledger's credits, refunds and adjustments.
--
-- A usage row is one organization's usage of one unit and model, in one project, on one UTC day, at
-- one price, in one department, on one resource. Its BilledCost is its share of the reconciliation
-- key's cents (organization x project x unit x model x day: the rated amount rounded half-even, as
-- rpt_usage_ledger_reconciliation has it), shared among the key's rows by largest remainder: the
-- rows of a key, and so of an organization and day, add up to the reconciliation to the cent.
--
-- A ledger row is one credit, refund or adjustment entry (ChargeCategory Credit or Adjustment), its
-- amount rounded half-even to the cent. The ledger's usage_charge lines, and the entries reversing
-- them, are not charges here: the usage rows bill what was used (the reconciliation compares the
-- two). An entry reversing one of an earlier billing period (UTC month) is ChargeClass Correction.
--
-- Incremental by charge date, like the reconciliation: a run rebuilds the days whose usage, ledger
-- or names changed since the last build (int_focus_affected_dates, macros/engine/incremental.sql);
-- every day on a first build or --full-refresh. charge_date and _watermark are the warehouse's
-- columns, not FOCUS's: the export leaves them out.
{{ config(materialized='incremental',
          incremental_strategy='insert_overwrite' if target.type == 'spark' else 'delete+insert',
          unique_key='charge_date', partition_by=['charge_date'], file_format='parquet',
          affected_days='int_focus_affected_dates', on_schema_change='fail') }}
{%- set key = 'organization_id, project_id, usage_unit, model_id, usage_date' %}
{%- set key_cost = round_half_even('sum(exact_cost) over (partition by ' ~ key ~ ')', 2) %}
-- affected is read on an incremental run only
with affected as (  -- noqa: ST03
    select charge_date from {{ ref('int_focus_affected_dates') }}
),

events as (
    select * from {{ ref('fct_usage_events') }}
    where is_rated
    {%- if is_incremental() %}
        and usage_date in (select charge_date from affected)
    {%- endif %}
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
        organization_id,
        project_id,
        currency,
        usage_date as charge_date,
        'Usage' as charge_category,
        cast(null as string) as charge_class,
        concat(
            usage_unit, case when model_id is not null then concat(' (', model_id, ')') else '' end,
            ' on ', cast(usage_date as string)
        ) as description,
        'Usage-Based' as frequency,
        quantity,
        usage_unit,
        model_id,
        product,
        price_id,
        unit_price,
        department_id,
        resource_id,
        cast(null as string) as entry_id,
        cast(
            (whole_cents + case when remainder_rank <= cents_left then 1 else 0 end) * cast(0.01 as decimal(3, 2))
            as decimal(38, 2)
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
        unit_of_measure,
        product
    from {{ ref('dim_usage_unit') }}
),

ledger as (
    select * from {{ ref('stg_oltp__ledger_entries') }}
),

ledger_charges as (
    select
        e.organization_id,
        e.project_id,
        e.currency,
        e.charge_date,
        case when e.entry_type = 'adjustment' then 'Adjustment' else 'Credit' end as charge_category,
        case
            when {{ month_start('r.charge_date') }} < {{ month_start('e.charge_date') }} then 'Correction'
        end as charge_class,
        concat(
            e.entry_type, ' ', e.entry_id,
            case when e.reverses_entry_id is not null then concat(' reversing ', e.reverses_entry_id) else '' end
        ) as description,
        'One-Time' as frequency,
        cast(null as decimal(38, 9)) as quantity,
        e.usage_unit,
        e.model_id,
        u.product,
        cast(null as string) as price_id,
        cast(null as decimal(38, 9)) as unit_price,
        cast(null as string) as department_id,
        cast(null as string) as resource_id,
        e.entry_id,
        cast({{ round_half_even('e.amount', 2) }} as decimal(38, 2)) as billed_cost
    from ledger as e
    left join ledger as r on e.reverses_entry_id = r.entry_id
    left join units as u on e.usage_unit = u.usage_unit
    where
        e.entry_type <> 'usage_charge'
        {%- if is_incremental() %}
        and e.charge_date in (select charge_date from affected)
        {%- endif %}
        -- the reversal of a usage charge belongs to the reconciliation, like the charge itself
        and (r.entry_type is null or r.entry_type <> 'usage_charge')
),

all_charges as (
    select * from costed
    union all
    select * from ledger_charges
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
        cast({{ month_start('c.charge_date') }} as {{ instant_type() }}) as BillingPeriodStart,
        cast({{ add_months_to_date(month_start('c.charge_date'), 1) }} as {{ instant_type() }}) as BillingPeriodEnd,
        cast(c.charge_date as {{ instant_type() }}) as ChargePeriodStart,
        cast({{ add_days_to_date('c.charge_date', 1) }} as {{ instant_type() }}) as ChargePeriodEnd,
        c.charge_category as ChargeCategory,
        c.charge_class as ChargeClass,
        c.description as ChargeDescription,
        c.frequency as ChargeFrequency,
        c.quantity as ConsumedQuantity,
        case when c.quantity is not null then u.unit_of_measure end as ConsumedUnit,
        c.quantity as PricingQuantity,
        case when c.quantity is not null then u.unit_of_measure end as PricingUnit,
        case when c.charge_category = 'Usage' then 'Standard' end as PricingCategory,
        c.unit_price as ListUnitPrice,
        c.unit_price as ContractedUnitPrice,
        case when c.charge_category = 'Usage' then c.usage_unit end as SkuId,
        c.price_id as SkuPriceId,
        case c.product
            when 'gpuaas' then 'GPUaaS'
            when 'app_platform' then 'App Platform'
            when 'token_factory' then 'Token Factory'
            else 'Account'
        end as ServiceName,
        case c.product
            when 'token_factory' then 'AI and Machine Learning'
            when 'gpuaas' then 'Compute'
            when 'app_platform' then 'Compute'
            else 'Other'
        end as ServiceCategory,
        case c.product
            when 'token_factory' then 'Generative AI'
            when 'gpuaas' then 'Virtual Machines'
            when 'app_platform' then 'Containers'
            else 'Other (Other)'
        end as ServiceSubcategory,
        '{{ var("focus_provider_name") | replace("'", "''") }}' as ProviderName,
        '{{ var("focus_provider_name") | replace("'", "''") }}' as PublisherName,
        '{{ var("focus_provider_name") | replace("'", "''") }}' as InvoiceIssuerName,
        c.project_id as SubAccountId,
        p.name as SubAccountName,
        case when c.project_id is not null then 'Project' end as SubAccountType,
        c.resource_id as ResourceId,
        c.resource_id as ResourceName,
        case when c.resource_id is not null then 'Runtime' end as ResourceType,
        cast(null as string) as RegionId,
        cast(null as string) as RegionName,
        cast(null as string) as CommitmentDiscountCategory,
        cast(null as string) as CommitmentDiscountId,
        cast(null as string) as CommitmentDiscountName,
        cast(null as string) as CommitmentDiscountStatus,
        cast(null as string) as CommitmentDiscountType,
        concat('{', concat_ws(
            ', ',
            case when c.department_id is not null then concat('"department": "', c.department_id, '"') end,
            case when c.model_id is not null then concat('"model": "', c.model_id, '"') end
        ), '}') as Tags,
        c.department_id as x_Department,
        c.model_id as x_ModelId,
        c.usage_unit as x_UsageUnit,
        c.product as x_Product,
        c.entry_id as x_LedgerEntryId,
        c.charge_date,
        (select max(f.changed_seq) from {{ ref('int_focus_changed_dates') }} as f) as _watermark
    from all_charges as c
    left join organizations as o on c.organization_id = o.organization_id
    left join projects as p on c.project_id = p.project_id
    left join units as u on c.usage_unit = u.usage_unit
    -- noqa: enable=CP02
)

select * from final
