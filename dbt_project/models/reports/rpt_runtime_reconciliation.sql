-- Each provider's latest listing against the platform's latest runtime snapshot, joined on
-- (provider, provider_resource_id). A provider absent from the newest batch keeps its last listing.
-- A provisioning runtime that has a provider resource counts as running.
with inventory as (
    select
        i.*,
        b.exported_at
    from {{ ref('stg_oltp__provider_inventory') }} as i
    inner join {{ source('ops', 'ingested_batches') }} as b using (batch_id)
),

latest_listing as (
    -- the full listing of each provider in the newest batch that listed it
    select {{ star_except(['exported_at']) }}
    from inventory
    qualify exported_at = max(exported_at) over (partition by provider)
),

runtimes as (
    select
        *,
        case when state = 'provisioning' and provider_resource_id is not null then 'running' else state end
            as effective_state
    from {{ ref('int_runtime_instances_versioned') }}
    where is_latest_version and deleted_at is null
),

joined as (
    select
        r.runtime_id,
        r.state as platform_state,
        r.effective_state,
        p.state as provider_state,
        r.gpu_type as platform_gpu_type,
        p.gpu_type as provider_gpu_type,
        p.observed_at as provider_observed_at,
        coalesce(r.provider, p.provider) as provider,
        coalesce(r.provider_resource_id, p.provider_resource_id) as provider_resource_id,
        coalesce(r.project_id, p.project_tag) as project_id
    from runtimes as r
    full outer join latest_listing as p
        on
            r.provider = p.provider
            and r.provider_resource_id = p.provider_resource_id
),

classified as (
    select
        *,
        case
            when runtime_id is null
                then
                    case when provider_state in ('running', 'stopped') then 'orphan_at_provider' else 'in_sync' end
            when effective_state = 'provisioning' then 'in_sync'  -- no provider resource yet
            when provider_state is null
                then
                    case when effective_state = 'terminated' then 'in_sync' else 'missing_at_provider' end
            when effective_state = 'terminated' and provider_state = 'terminated' then 'in_sync'
            when effective_state = 'terminated' then 'orphan_at_provider'
            when provider_state = 'terminated' then 'missing_at_provider'
            when effective_state <> provider_state then 'state_mismatch'
            -- `is distinct from`, spelled out (SQLFluff's DuckDB dialect does not parse it)
            when
                coalesce(
                    platform_gpu_type <> provider_gpu_type, (platform_gpu_type is null) <> (provider_gpu_type is null)
                )
                then 'attribute_mismatch'
            else 'in_sync'
        end as drift_class
    from joined
),

final as (
    select
        provider,
        provider_resource_id,
        runtime_id,
        project_id,
        platform_state,
        provider_state,
        platform_gpu_type,
        provider_gpu_type,
        drift_class,
        provider_observed_at,
        case drift_class
            when 'in_sync' then 'none'
            when 'orphan_at_provider' then 'cleanup_candidate'
            when 'missing_at_provider' then 'quarantine'
            else 'investigate'
        end as recommended_action
    from classified
)

select * from final
