-- Every SLO of the configuration per component it applies to: `*` means every component in the
-- status feed; a named component gets its SLO even before it shows in the feed.
with definitions as (
    select * from {{ source('config', 'slo_definitions') }}
),

components as (
    select distinct component from {{ ref('stg_oltp__status_events') }}
),

final as (
    select c.component, {{ star_except(['component'], 'd') }}
    from definitions as d
    inner join components as c on d.component = '*'
    union all
    select d.component, {{ star_except(['component'], 'd') }}
    from definitions as d
    where d.component <> '*'
)

select * from final
