-- Each probe of the status feed judged against each SLO of its component: good or not. A probe
-- without the SLO's metric (a null latency, say) is not counted for that SLO.
with definitions as (
    select * from {{ ref('int_slo_definitions_expanded') }}
),

probes as (
    select * from {{ ref('stg_oltp__status_events') }}
),

judged as (
    select
        d.component,
        d.slo_name,
        p.check_name,
        p.observed_at,
        case
            when d.good_statuses is not null then {{ list_has('d.good_statuses', 'p.status') }}
            when d.threshold_metric = 'latency_ms' then p.latency_ms <= d.threshold_lte
            when d.threshold_metric = 'dlq_depth' then p.dlq_depth <= d.threshold_lte
            when d.threshold_metric = 'outbox_lag_seconds' then p.outbox_lag_seconds <= d.threshold_lte
        end as is_good
    from definitions as d
    inner join probes as p
        on
            d.component = p.component
            and (d.check_name is null or d.check_name = p.check_name)
)

select * from judged
where is_good is not null
