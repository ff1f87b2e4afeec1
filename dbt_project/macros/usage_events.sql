{# Effective and rated usage events, as macros: the views int_usage_events_corrected and
   int_usage_events_rated are these over every day; fct_usage_events runs them over only the days
   it rebuilds, so an incremental run reads those days' lake files, not the whole history. #}

{# days: none for every day, else the UTC days whose original events to keep. #}
{% macro corrected_usage_events(days=none) -%}
-- Effective usage: one row per original event, with its latest correction (highest outbox_seq)
-- applied. Duplicates and conflicting copies never reach the lake (ingestion keeps the first copy).
-- A correction keeps its original's occurred_at; its other columns replace the original's. A
-- correction whose original has not arrived yet has no row here: it waits, neither lost nor
-- counted, and applies by itself once the original loads. Voids (quantity 0) are flagged here and
-- dropped by the marts.
-- not materialized: originals and corrections each scan the lake (the corrections' scan reads
-- only their rows), instead of holding every event in memory to read it twice
with events as {{ not_materialized() }} (
    select * from {{ ref('stg_oltp__usage_events') }}
),

originals as (
    select * from events
    where correction_of is null
    {%- if days is not none %}
        -- an original's day is its lake partition: only these days' files are read
        and {{ partition_days_filter('event_date', days) }}
    {%- endif %}
),

latest_corrections as (
    select *
    from events
    where correction_of is not null
    qualify row_number() over (partition by correction_of order by outbox_seq desc, event_id desc) = 1
),

final as (
    select
        o.event_id,
        o.occurred_at,
        {% for col in ['outbox_seq', 'recorded_at', 'organization_id', 'project_id', 'api_key_id', 'model_id',
                       'resource_id', 'usage_unit', 'quantity', 'attributes', 'batch_id'] -%}
        if(c.event_id is null, o.{{ col }}, c.{{ col }}) as {{ col }},
        {% endfor -%}
        c.event_id as correction_event_id,
        c.event_id is not null as is_corrected,
        coalesce(c.quantity = 0, false) as is_void
    from originals as o
    left join latest_corrections as c on c.correction_of = o.event_id
)

select * from final
{%- endmacro %}

{# corrected: a relation, or a parenthesized query, with the columns of corrected_usage_events(). #}
{% macro rated_usage_events(corrected) -%}
-- Effective usage attributed as of occurred_at (the project's department, the organization's
-- plan, the unit's product) and rated from the price book: the price of the organization's plan
-- for the unit, model-specific over model-agnostic, whose [effective_from, effective_to) holds
-- occurred_at. rated_amount = quantity x unit_price at full precision; null when no price applies.
with usage as (
    select * from {{ corrected }}
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
    select * from {{ ref('int_price_segments') }} where model_id is not null
),

plan_prices as (
    select * from {{ ref('int_price_segments') }} where model_id is null
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
    -- a model-specific price wins over the plan's price for the unit (int_price_segments: at
    -- most one of each holds occurred_at)
    select
        a.*,
        coalesce(mp.price_id, pp.price_id) as price_id,
        if(mp.price_id is null, pp.unit_price, mp.unit_price) as unit_price,
        if(mp.price_id is null, pp.currency, mp.currency) as currency
    from attributed as a
    left join model_prices as mp
        on mp.plan_id = a.plan_id
        and mp.usage_unit = a.usage_unit
        and mp.model_id = a.model_id
        and a.occurred_at >= mp.segment_from and a.occurred_at < mp.segment_to
    left join plan_prices as pp
        on pp.plan_id = a.plan_id
        and pp.usage_unit = a.usage_unit
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
{%- endmacro %}
