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
