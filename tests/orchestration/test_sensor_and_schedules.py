"""The sensor on a real Dagster instance, the jobs on an empty exports folder, and a snapshot of
the definitions so an accidental rename shows up in review."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from pipelines.definitions import defs
from pipelines.defs.ingest.sensors import new_batches_sensor
from pipelines.lib.duck import first
from tests.helpers import DIMENSIONS, event, write_batch

SNAPSHOT = Path(__file__).with_name("definitions_snapshot.json")


def tick(instance, cursor=None):
    context = dg.build_sensor_context(instance=instance, cursor=cursor)
    data = new_batches_sensor.evaluate_tick(context)
    return data.run_requests, data.cursor, data.skip_message


def test_one_run_for_new_batches_none_for_incomplete_none_when_nothing_is_new(settings):
    with dg.instance_for_test() as instance:
        requests, cursor, skip = tick(instance)
        assert not requests and skip == "no new complete batch"  # an empty exports folder

        pending = settings.exports_dir / "20261104T000500Z-000003"
        pending.mkdir()
        (pending / "usage_events.csv").write_text("event_id\n")  # still being written: no manifest
        requests, cursor, skip = tick(instance, cursor)
        assert not requests

        write_batch(settings.exports_dir, "20261102T000500Z-000001", DIMENSIONS)
        write_batch(settings.exports_dir, "20261103T000500Z-000002", {"usage_events": [event()]})
        requests, cursor, _ = tick(instance, cursor)
        assert len(requests) == 1  # two new batches, one run, keyed by the newest
        assert requests[0].run_key.startswith("20261103T000500Z-000002:")
        assert requests[0].tags["new_batches"] == "2"
        assert sorted(json.loads(cursor)) == ["20261102T000500Z-000001", "20261103T000500Z-000002"]

        requests, cursor, skip = tick(instance, cursor)
        assert not requests and skip  # nothing new

        write_batch(settings.exports_dir, pending.name, {"usage_events": [event(event_id="e3")]})
        requests, cursor, _ = tick(instance, cursor)
        assert [r.tags["newest_batch_id"] for r in requests] == [pending.name]  # completed late: one run


def test_the_jobs_run_on_an_empty_exports_folder(settings):
    """What the hourly and daily schedules do when nothing has been exported yet."""
    definitions = defs()
    with dg.instance_for_test() as instance:
        for job in ("main_job", "reports_job"):
            result = definitions.resolve_job_def(job).execute_in_process(instance=instance)
            assert result.success, job
    con = duckdb.connect(str(settings.published_db), read_only=True)
    assert first(con.execute("select count(*) from ops.ingested_batches")) == (0,)
    assert first(con.execute("select count(*) from marts.fct_usage_events")) == (0,)
    assert first(con.execute("select verified from marts.rpt_audit_chain")) == (True,)


def _snapshot() -> dict:
    d = defs()
    graph = d.resolve_asset_graph()
    return {
        "assets": sorted(k.to_user_string() for k in graph.get_all_asset_keys()),
        "asset_checks": sorted(f"{c.asset_key.to_user_string()}:{c.name}" for c in graph.asset_check_keys),
        "groups": sorted({graph.get(k).group_name for k in graph.get_all_asset_keys()}),
        "jobs": sorted(j.name for j in d.jobs),
        "schedules": sorted(s.name for s in d.schedules),
        "sensors": sorted(s.name for s in d.sensors),
    }


def test_the_definitions_match_their_snapshot():
    """Regenerate after a deliberate change: UPDATE_SNAPSHOT=1 pytest tests/orchestration"""
    import os

    current = _snapshot()
    if os.environ.get("UPDATE_SNAPSHOT") == "1":
        SNAPSHOT.write_text(json.dumps(current, indent=1) + "\n")
    assert current == json.loads(SNAPSHOT.read_text())


@pytest.mark.parametrize("group", ["ingest", "warehouse", "reports"])
def test_every_asset_is_described_owned_and_grouped_by_layer(group):
    graph = defs().resolve_asset_graph()
    nodes = [graph.get(k) for k in graph.get_all_asset_keys() if graph.get(k).group_name == group]
    assert nodes
    for node in nodes:
        assert node.description, node.key
        assert node.owners, node.key
        assert node.kinds, node.key
