import hashlib
import json

import dagster as dg

from pipelines.lib.config import Settings
from pipelines.lib.ingest.manifest import complete_batches


@dg.sensor(
    job_name="main_job",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Starts one main_job run when new complete batches land under ANALYTICS_EXPORTS_DIR (a folder "
                "counts once its manifest.json exists). One run per tick, keyed by the newest new batch id.",
)
def new_batches_sensor(context: dg.SensorEvaluationContext):
    # The cursor remembers every complete batch seen and its manifest hash: a re-delivery with other
    # contents, or a folder that completes late, is new again; nothing else is. Cheap: the sensor
    # reads manifests only, never the warehouse a run may be writing.
    seen = json.loads(context.cursor) if context.cursor else {}
    current = complete_batches(Settings.from_env().exports_dir)
    new = {b: h for b, h in current.items() if seen.get(b) != h}
    if not new:
        return dg.SkipReason("no new complete batch")
    newest = max(new)
    fingerprint = hashlib.sha256(json.dumps(new, sort_keys=True).encode()).hexdigest()[:12]
    context.update_cursor(json.dumps(current, sort_keys=True))
    return dg.RunRequest(
        run_key=f"{newest}:{fingerprint}",
        tags={"newest_batch_id": newest, "new_batches": str(len(new))},
    )
