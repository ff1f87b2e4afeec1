"""Alerts reach a real HTTP server: one per failed run (the run-failure sensor, evaluated tick by
tick on a real instance), one per source turned stale by the wall clock (the freshness checks on
the sample's published warehouse); retried with back-off, never raised."""

from __future__ import annotations

import json
import shutil
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import duckdb
import pytest
import yaml

from models import TABLES
from pipelines.definitions import defs
from pipelines.defs.alerts.sensors import alert_on_run_failure
from pipelines.lib import alerts
from pipelines.lib.config import PROJECT_ROOT

BODY_KEYS = {"source", "kind", "summary", "link", "run_id", "details", "sent_at"}


class Webhook:
    """A local HTTP server recording every POST; answers with the queued statuses, then 200."""

    def __init__(self):
        self.received: list[dict] = []
        self.statuses: list[int] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = hook.statuses.pop(0) if hook.statuses else 200
                hook.received.append({"status": status, "type": self.headers["Content-Type"],
                                      "body": json.loads(body)})
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def delivered(self) -> list[dict]:
        return [r["body"] for r in self.received if r["status"] == 200]


@pytest.fixture
def webhook(monkeypatch):
    hook = Webhook()
    monkeypatch.setenv("ANALYTICS_ALERT_WEBHOOK", hook.url)
    monkeypatch.setenv("ANALYTICS_UI_URL", "http://dagster.example:3000")
    yield hook
    hook.server.shutdown()


def alert(**kw):
    return alerts.Alert(**{"kind": "run_failure", "summary": "s", "link": "l", **kw})


def test_a_refused_delivery_is_retried_with_back_off_and_sent_once(webhook):
    webhook.statuses = [500, 503]
    waits = []
    assert alerts.send(alert(run_id="r1", details={"k": 1}), sleep=waits.append) == "sent"
    assert [r["status"] for r in webhook.received] == [500, 503, 200]
    assert waits == [1.0, 2.0]  # doubling back-off between attempts
    (body,) = webhook.delivered()
    assert set(body) == BODY_KEYS and body["source"] == "platform-warehouse" and body["run_id"] == "r1"
    assert body["details"] == {"k": 1} and webhook.received[-1]["type"] == "application/json"
    datetime.fromisoformat(body["sent_at"].replace("Z", "+00:00"))


def test_a_webhook_that_rejects_the_request_is_not_retried_and_nothing_raises(webhook):
    webhook.statuses = [400]
    assert alerts.send(alert(), sleep=lambda s: None) == "failed: HTTP 400"
    assert len(webhook.received) == 1


def test_an_unreachable_webhook_gives_up_after_its_attempts(monkeypatch):
    waits = []
    outcome = alerts.send(alert(), url="http://127.0.0.1:9/unreachable", attempts=3, timeout_seconds=1,
                          sleep=waits.append)
    assert outcome.startswith("failed:") and waits == [1.0, 2.0]


def test_without_a_webhook_the_alert_is_logged_and_a_file_url_is_refused(monkeypatch, caplog):
    monkeypatch.delenv("ANALYTICS_ALERT_WEBHOOK", raising=False)
    assert alerts.send(alert(summary="main_job failed")) == "logged: no webhook"
    assert "main_job failed" in caplog.text
    monkeypatch.setenv("ANALYTICS_ALERT_WEBHOOK", "file:///etc/passwd")
    assert alerts.send(alert()).startswith("failed: ANALYTICS_ALERT_WEBHOOK must be an http(s) URL")


@pytest.mark.parametrize("url", ["https://hooks.example.com/services/T0/SECRET path", "https://hooks.example.com:x/SECRET",
                                 "https://hooks.example.com/SECRET\tx", "http:///SECRET"])
def test_a_malformed_webhook_never_raises_and_never_shows_its_secret(monkeypatch, caplog, url):
    """A URL with a space (or a bad port, a newline, no host): refused as configuration, logged
    without its path (a webhook's secret), never an exception out of the alert code."""
    monkeypatch.setenv("ANALYTICS_ALERT_WEBHOOK", url)
    outcome = alerts.send(alert())
    assert outcome.startswith("failed: ANALYTICS_ALERT_WEBHOOK must be an http(s) URL")
    assert "SECRET" not in outcome and "SECRET" not in caplog.text
    # handed over as is (not from the environment): still nothing raised, nothing shown
    outcome = alerts.send(alert(), url=url, attempts=1)
    assert outcome.startswith("failed:") and "SECRET" not in outcome


def failures_tick(instance, cursor=None):
    # runs executed in process carry no code location, nor does this context: Dagster takes them as one
    context = dg.build_sensor_context(instance=instance, cursor=cursor)
    data = alert_on_run_failure.evaluate_tick(context)
    return data.cursor


def test_one_alert_per_failed_run(settings, webhook):
    """Two main_job runs: one fails (a rebuild range without its end), one succeeds (an empty
    exports folder). Sensor ticks before, between and after alert exactly once, for the failure."""
    main_job = defs().resolve_job_def("main_job")
    bad = {"ops": {"warehouse_dbt_models": {"config": {"rebuild_from": "2026-11-01"}}}}
    with dg.instance_for_test() as instance:
        cursor = failures_tick(instance)
        failed = main_job.execute_in_process(instance=instance, run_config=bad, raise_on_error=False)
        assert not failed.success
        cursor = failures_tick(instance, cursor)
        assert main_job.execute_in_process(instance=instance).success
        failures_tick(instance, failures_tick(instance, cursor))
    (body,) = webhook.delivered()
    assert set(body) == BODY_KEYS and body["kind"] == "run_failure" and body["run_id"] == failed.run_id
    assert body["link"] == f"http://dagster.example:3000/runs/{failed.run_id}"
    assert body["details"]["job"] == "main_job" and body["details"]["step"] == "warehouse_dbt_models"
    assert "rebuild_from and rebuild_to go together" in body["details"]["error"]
    assert body["summary"].startswith("main_job failed at warehouse_dbt_models: ")


def expected_stale(published, now) -> set[str]:
    """By hand from the published ingestion record and pipelines/config/freshness.yml: a table is
    stale when the newest loaded batch holding it was exported longer ago than its limit."""
    doc = yaml.safe_load((PROJECT_ROOT / "pipelines" / "config" / "freshness.yml").read_text())

    def secs(v):
        return int(v[:-1]) * {"m": 60, "h": 3600, "d": 86400}[v[-1]]

    con = duckdb.connect(str(published), read_only=True)
    newest = dict(con.execute("select f.table_name, max(b.exported_at) from ops.ingested_files f join "
                              "ops.ingested_batches b using (batch_id) where b.status = 'loaded' group by 1").fetchall())
    con.close()
    out = set()
    for t, spec in TABLES.items():
        limit = secs(doc["tables"].get(t, doc["dimensions"] if spec.kind == "dimension" else doc["default"]))
        if t not in newest or (now - newest[t]).total_seconds() > limit:
            out.add(t)
    return out


def test_a_stale_source_turns_its_check_red_and_is_alerted_once(built, tmp_path, monkeypatch, webhook):
    data = tmp_path / "data"
    (data / "warehouse").mkdir(parents=True)
    shutil.copyfile(built.published_db, data / "warehouse" / "analytics.duckdb")
    monkeypatch.setenv("ANALYTICS_DATA_DIR", str(data))
    job = defs().resolve_job_def("source_freshness_job")
    stale = expected_stale(data / "warehouse" / "analytics.duckdb", datetime.now(UTC))
    assert {"status_events", "usage_events"} <= stale  # the sample was exported in November 2026
    with dg.instance_for_test() as instance:
        results = []
        for _ in range(2):  # the second evaluation finds the same sources stale: no new alert
            run = job.execute_in_process(instance=instance)
            assert run.success  # a red check is not a failed run
            results.append({e.asset_key.path[-1]: e.passed for e in run.get_asset_check_evaluations()})
    assert results[0] == results[1] == {t: t not in stale for t in results[0]}
    delivered = webhook.delivered()
    assert sorted(b["details"]["table"] for b in delivered) == sorted(stale)  # exactly one each
    body = next(b for b in delivered if b["details"]["table"] == "usage_events")
    assert set(body) == BODY_KEYS and body["kind"] == "stale_source" and body["run_id"] is None
    assert body["link"] == "http://dagster.example:3000/assets/lake/usage_events?view=checks"
    assert body["details"]["lag_seconds"] > body["details"]["limit_seconds"] == 6 * 3600
