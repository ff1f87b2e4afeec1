"""Replay and diff from the UI: the jobs behind `python -m pipelines replay` and `diff`
(pipelines/lib/replay.py, pipelines/lib/asof_diff.py), configured with the batch ids at launch.

They read the lake and write a folder of their own under the data directory; they never write the
build or the published warehouse, so they do not take the warehouse resource (its writer lock is
for the run that changes the warehouse: the replay holds it only while it copies the lake)."""

from pathlib import Path

import dagster as dg
from pydantic import Field

from pipelines.lib.config import Settings


class ReplayConfig(dg.Config):
    as_of: str = Field(description="The batch id (YYYYMMDDTHHMMSSZ-NNNNNN) whose state to rebuild.")
    out: str | None = Field(default=None, description="An empty folder, or an earlier replay's; default "
                                                      "<data>/replays/as-of-<batch id>.")


class DiffConfig(dg.Config):
    from_batch: str = Field(description="The earlier state's batch id.")
    to_batch: str = Field(description="The later state's batch id.")
    out: str | None = Field(default=None, description="Default <data>/replays/diff-<from>-<to>.")


def _failure(exc: Exception) -> dg.Failure:
    return dg.Failure(str(exc), allow_retries=False)


@dg.op(description="Rebuild from the lake the warehouse and report packs as of a batch, and compare each pack "
                   "with the one on disk.")
def replay_as_of_batch(context: dg.OpExecutionContext, config: ReplayConfig) -> dg.Output:
    from pipelines.lib.replay import ReplayError, build_as_of, default_out, summary

    settings = Settings.from_env()
    try:
        out = Path(config.out) if config.out else default_out(settings, config.as_of)
        replay = build_as_of(settings, config.as_of, out)
    except ReplayError as exc:
        raise _failure(exc) from None
    context.log.info(summary(replay))
    return dg.Output(str(out), metadata={
        "warehouse": dg.MetadataValue.path(str(out / "warehouse" / "analytics.duckdb")),
        "batches": dg.MetadataValue.json(replay.batches),
        "packs": dg.MetadataValue.json([{"kind": p.kind, "identical": p.identical, "reasons": p.reasons}
                                        for p in replay.packs]),
        "all_identical": all(p.identical is not False for p in replay.packs),
    })


@dg.op(description="What changed per organization and day between two as-of states, and which events moved it.")
def diff_between_batches(context: dg.OpExecutionContext, config: DiffConfig) -> dg.Output:
    from pipelines.lib.asof_diff import diff_as_of, summary
    from pipelines.lib.replay import ReplayError

    try:
        diff = diff_as_of(Settings.from_env(), config.from_batch, config.to_batch, config.out and Path(config.out))
    except ReplayError as exc:
        raise _failure(exc) from None
    context.log.info(summary(diff, config.from_batch, config.to_batch))
    return dg.Output(str(diff.out), metadata={
        "days_csv": dg.MetadataValue.path(str(diff.days)), "events_csv": dg.MetadataValue.path(str(diff.events)),
        "workbook": dg.MetadataValue.path(str(diff.workbook)),
        "changed_days": diff.changed_days, "changed_events": diff.changed_events,
    })


@dg.job(description="Rebuild the warehouse and report packs as of a batch, from the lake, into a folder of their "
                    "own (config: as_of), and say whether each pack equals the one on disk.")
def replay_job():
    replay_as_of_batch()


@dg.job(description="Per organization and day, the change between two as-of states and the late events, "
                    "corrections and releases that made it (config: from_batch, to_batch): CSV and workbook.")
def diff_job():
    diff_between_batches()

