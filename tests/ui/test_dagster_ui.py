"""The Dagster UI end to end in a real browser: `python -m pipelines dev` (what `make dev` runs) on
a free port against a copy of the session's built warehouse; launch the main job from the UI's
launchpad as a full refresh (its config), wait for it to succeed, look at the asset graph and an
asset's checks, then stop the UI with Ctrl-C."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import dagster as dg
import pytest

from pipelines.lib.config import PROJECT_ROOT, SAMPLE_EXPORTS
from tests.browser import artifact, browser_page

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gql(port: int, query: str) -> dict:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=json.dumps({"query": query}).encode(),
                                 headers={"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(req, timeout=10).read())["data"]


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except OSError:
            pass
        time.sleep(2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def ui(built, tmp_path):
    # the sample already loaded and built: the sensor's run (on by default) finds nothing new, and the
    # full refresh rebuilds every table of a warehouse that has them
    shutil.copytree(built.data_dir, tmp_path / "data", symlinks=True)
    port = free_port()
    env = dict(os.environ, ANALYTICS_DATA_DIR=str(tmp_path / "data"), ANALYTICS_EXPORTS_DIR=str(SAMPLE_EXPORTS))
    env.pop("DAGSTER_HOME", None)
    log = open(tmp_path / "dev.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "pipelines", "dev", "--port", str(port)], cwd=PROJECT_ROOT,
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5).status == 200,
                 180, "the webserver")
        location = wait_for(lambda: [e["name"] for e in gql(port, "{ workspaceOrError { ... on Workspace { "
                                     "locationEntries { name loadStatus } } } }")["workspaceOrError"]["locationEntries"]
                                     if e["loadStatus"] == "LOADED"], 180, "the code location")[0]
        yield port, location, proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C, as a person stops `make dev`
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                raise AssertionError("the UI did not stop on Ctrl-C") from None
        log.close()


FULL_REFRESH = "ops:\n  warehouse_dbt_models:\n    config:\n      full_refresh: true\n"


def test_launch_a_full_refresh_from_the_ui_and_inspect_assets_and_checks(ui, tmp_path):
    port, location, proc = ui
    home = tmp_path / "data" / "dagster"
    base = f"http://127.0.0.1:{port}"
    with browser_page(viewport=(1400, 900)) as page:
        page.goto(f"{base}/locations/__repository__@{location}/jobs/main_job/playground")
        try:  # a first-visit newsletter dialog covers the page
            page.get_by_role("button", name="Skip").click(timeout=10000)
        except Exception:  # noqa: BLE001 - no dialog this time
            pass
        # the launchpad's config editor (CodeMirror): the dbt step's RebuildConfig
        page.locator(".CodeMirror").first.wait_for(timeout=30000)
        page.evaluate("yaml => document.querySelector('.CodeMirror').CodeMirror.setValue(yaml)", FULL_REFRESH)
        page.get_by_text("full_refresh").first.wait_for(timeout=10000)
        page.screenshot(path=str(artifact("ui_launchpad_full_refresh.png")))
        page.get_by_role("button", name="Launch Run").click()
        page.wait_for_url("**/runs/**", timeout=60000)
        run_id = page.url.split("/runs/")[1].split("?")[0].strip("/")
        status = wait_for(lambda: (s := gql(port, f'{{ runOrError(runId: "{run_id}") {{ ... on Run {{ status }} }} }}')
                                   ["runOrError"]["status"]) in ("SUCCESS", "FAILURE", "CANCELED") and s,
                          420, "the run")
        assert status == "SUCCESS"
        page.reload()
        page.get_by_text("Success").first.wait_for(timeout=30000)
        page.screenshot(path=str(artifact("ui_run.png")))

        page.goto(f"{base}/asset-groups")
        for group in ("ingest", "warehouse", "reports"):
            page.get_by_text(group, exact=True).first.wait_for(timeout=30000)
        page.screenshot(path=str(artifact("ui_asset_graph.png")))

        # The sensor (on by default) may have queued a run for the batches it sees for the first
        # time: it finds nothing new and skips the build, so its checks show as skipped. Wait for
        # every run, then the dbt test must have passed in the full refresh.
        wait_for(lambda: all(r["status"] in ("SUCCESS", "FAILURE", "CANCELED") for r in gql(
            port, "{ runsOrError { ... on Runs { results { status } } } }")["runsOrError"]["results"]), 420, "every run")
        page.goto(f"{base}/assets/marts/fct_usage_events?view=checks")
        page.get_by_text("unique_fct_usage_events_event_id").first.wait_for(state="attached", timeout=30000)
        body = page.inner_text("body")
        assert "fct_usage_events" in body and ("Succeeded" in body or "Skipped" in body)
        page.screenshot(path=str(artifact("ui_asset_checks.png")))
        check = dg.AssetCheckKey(dg.AssetKey(["marts", "fct_usage_events"]), "unique_fct_usage_events_event_id")
        with dg.DagsterInstance.from_config(str(home)) as instance:
            runs = instance.get_runs()
            history = instance.event_log_storage.get_asset_check_execution_history(check, limit=10)
            launched = instance.get_run_by_id(run_id)
            logs = [e.user_message for e in instance.all_logs(run_id)]
        assert runs and all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
        assert launched.run_config["ops"]["warehouse_dbt_models"]["config"] == {"full_refresh": True}
        assert any("rebuild asked: dbt build --full-refresh" in m for m in logs)
        assert any(h.status.value == "SUCCEEDED" for h in history), [h.status for h in history]

        page.goto(f"{base}/assets/ops/ingested_files?view=checks")
        page.get_by_text("control_totals").first.wait_for(state="attached", timeout=30000)
    assert proc.poll() is None  # still serving until the fixture stops it
