import dagster as dg

from pipelines.lib import alerts


@dg.run_failure_sensor(
    name="alert_on_run_failure",
    default_status=dg.DefaultSensorStatus.RUNNING,
    # every run recorded in this instance: also `make run`'s, which carry no code location
    monitor_all_code_locations=True,
    description="One alert per failed run of any job here, to ANALYTICS_ALERT_WEBHOOK (else the sensor's log): "
                "the job, the run, the step that failed and why, and a link to the run.",
)
def alert_on_run_failure(context: dg.RunFailureSensorContext):
    run = context.dagster_run
    steps = context.get_step_failure_events()
    failed = steps[0].step_key if steps else None
    error = (steps[0].step_failure_data.error.message.strip() if steps and steps[0].step_failure_data.error
             else context.failure_event.message or "")
    outcome = alerts.send(alerts.Alert(
        kind="run_failure",
        summary=f"{run.job_name} failed" + (f" at {failed}" if failed else "") + f": {error.splitlines()[0][:300]}"
                if error else f"{run.job_name} failed",
        link=alerts.ui_link(f"runs/{run.run_id}"),
        run_id=run.run_id,
        details={"job": run.job_name, "step": failed, "error": error[:4000], "tags": dict(run.tags)}))
    context.log.info(f"run {run.run_id} ({run.job_name}) failed: alert {outcome}")
