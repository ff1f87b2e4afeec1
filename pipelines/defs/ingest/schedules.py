import dagster as dg

# The sensor reacts to new batches within a minute; the hourly schedule is the fallback where
# sensors are off. A run with nothing new changes nothing, so both may run safely.
hourly_ingest = dg.ScheduleDefinition(
    name="hourly_ingest",
    cron_schedule="7 * * * *",
    job_name="main_job",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Every hour: ingest what is new, rebuild what changed, publish. Safe on an empty exports folder.",
)

# Reads only the published warehouse: safe to run often, and while a run works.
source_freshness_every_10_minutes = dg.ScheduleDefinition(
    name="source_freshness_every_10_minutes",
    cron_schedule="*/10 * * * *",
    job_name="source_freshness_job",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every 10 minutes: each export table's lag by the wall clock; a stopped exporter turns its checks red "
                "and sends one alert (ANALYTICS_ALERT_WEBHOOK).",
)
