import dagster as dg

daily_reports = dg.ScheduleDefinition(
    name="daily_reports",
    cron_schedule="30 5 * * *",
    job_name="reports_job",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every day at 05:30 UTC: the finance and ops report files for the newest batch, then publish.",
)
