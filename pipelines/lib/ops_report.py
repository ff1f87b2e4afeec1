"""The page ops reads: per component, charts of SLI and error budget over the last CHART_DAYS days
(plotly), the current burn rates and alert; freshness, credential rotation, audit integrity and the
provider inventory against the platform's runtimes on the same page.

reports/ops/current/ holds the page of the newest run (ops_status.html, runtime_reconciliation.csv,
the evidence manifest), replaced by each run; reports/ops/<YYYY-MM-DD>/ keeps a copy per UTC day of
the newest batch (the day's last run). The chart code is one file beside them,
reports/ops/plotly-<version>.min.js, written once: each page loads it by a relative path, so it
opens with no network and is not repeated in every copy."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from pathlib import Path

import plotly
import plotly.graph_objects as go
import polars as pl
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from pipelines.lib.build_state import code_fingerprint
from pipelines.lib.config import Settings
from pipelines.lib.config_files import config_sha256
from pipelines.lib.periods import content_sha256, ensure_record
from pipelines.lib.render import html_table
from pipelines.lib.reports import atomic_write, newest_batch, replace_folder, sha256_file, write_csv, write_evidence

CHART_DAYS = 90  # the charts' window: a page of a year of history is the size of a page of a month
PLOTLY_JS = f"plotly-{plotly.__version__}.min.js"

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #1d2733; }
h1 { margin-bottom: 0.2rem; } .as-of { color: #667; margin-top: 0; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.85rem; }
th, td { border: 1px solid #d5dbe3; padding: 0.25rem 0.5rem; text-align: left; }
th { background: #f2f5f8; } td.flag { background: #fde2e1; font-weight: 600; }
section { margin-bottom: 2rem; }
"""


def component_figure(component: str, sli: pl.DataFrame, budget: pl.DataFrame) -> go.Figure:
    fig = make_subplots(rows=1, cols=2, subplot_titles=("SLI per day", "Error budget remaining"))
    for slo in sorted(sli["slo_name"].unique()):
        s = sli.filter(pl.col("slo_name") == slo).sort("day")
        fig.add_trace(go.Scatter(x=[d.isoformat() for d in s["day"]], y=s["sli"].to_list(), mode="lines+markers",
                                 name=f"{slo} SLI", meta={"slo": slo, "series": "sli"}), row=1, col=1)
        b = budget.filter(pl.col("slo_name") == slo).sort("day")
        fig.add_trace(go.Scatter(x=[d.isoformat() for d in b["day"]], y=b["error_budget_remaining"].to_list(),
                                 mode="lines+markers", name=f"{slo} budget", meta={"slo": slo, "series": "budget"}),
                      row=1, col=2)
    fig.update_layout(height=320, margin=dict(l=40, r=20, t=40, b=40))
    return fig


def render_ops_page(con) -> tuple[str, dict]:
    batch_id, as_of = newest_batch(con)
    status = con.sql("select * exclude (as_of) from marts.rpt_slo_status order by component, slo_name").pl()
    window = f"day > (select max(day) from marts.fct_sli_daily) - interval {CHART_DAYS} day"
    sli = con.sql(f"select * from marts.fct_sli_daily where {window} order by all").pl()
    budget = con.sql(f"select * from marts.fct_slo_budget_daily where {window} order by all").pl()
    drift = con.sql("select * from marts.rpt_runtime_reconciliation where drift_class <> 'in_sync' "
                    "order by all").pl()
    freshness = con.sql("select table_name, last_batch_id, newest_record_at, lag_seconds, max_lag_seconds, status "
                            "from marts.rpt_source_freshness order by table_name").pl()
    rotation = con.sql("select credential_id, purpose, kind, owner_component, age_days, days_to_expiry, "
                           "rotation_status from marts.rpt_credential_rotation order by credential_id").pl()
    chain = con.sql("select * from marts.rpt_audit_chain").pl()
    broken = con.sql("select seq, audit_id, occurred_at, action, chain_status from marts.fct_audit_events "
                         "where chain_status <> 'valid' order by seq").pl()
    parts = []
    for component in sorted(status["component"].unique()):
        own_sli = sli.filter(pl.col("component") == component)
        rows = status.filter(pl.col("component") == component).drop("component")
        if own_sli.height:
            fig = component_figure(component, own_sli, budget.filter(pl.col("component") == component))
            chart = fig.to_html(full_html=False, include_plotlyjs=False, div_id="sli-" + component.replace(".", "-"))
        else:  # an SLO configured for a component the feed has not shown yet
            chart = "<p>No probes of this component in the feed yet.</p>"
        parts.append(f'<section class="component"><h3>{escape(component)}</h3>{chart}'
                     + html_table(rows, {"alert": {"page", "ticket"}}) + "</section>")
    verified = bool(chain["verified"][0]) if chain.height else True
    html = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Operations status as of {escape(str(as_of))}</title>
<style>{STYLE}</style><script type="text/javascript" src="../{PLOTLY_JS}"></script></head>
<body>
<h1>Operations and security status</h1>
<p class="as-of">As of {escape(str(as_of))} (batch {escape(str(batch_id))}); SLO windows end at the feed's newest probe.</p>
<h2>Service level objectives</h2>
{''.join(parts)}
<h2>Source freshness</h2>
{html_table(freshness, {"status": {"stale", "missing"}})}
<h2>Credential rotation</h2>
{html_table(rotation, {"rotation_status": {"expired", "overdue", "revoked"}})}
<h2 id="audit">Audit trail integrity: {"verified" if verified else "NOT verified"}</h2>
{html_table(chain, {"verified": {False}})}
{html_table(broken) if broken.height else "<p>Every record's hash and link verify.</p>"}
<h2 id="runtime">Provider inventory against runtimes: {drift.height} drift(s)</h2>
{html_table(drift, {"drift_class": set(drift["drift_class"].to_list())}) if drift.height
 else "<p>Every provider resource matches a runtime.</p>"}
</body></html>
"""
    return html, {"components": status["component"].n_unique(),
                  "slo_alerts": status.filter(pl.col("alert") != "none").height, "audit_verified": verified,
                  "runtime_drift": drift.height}


@dataclass(frozen=True)
class OpsPage:
    batch_id: str
    manifest: Path  # current/ops_status.evidence.json
    current: Path  # reports/ops/current/
    day: Path  # reports/ops/<YYYY-MM-DD>/
    page: Path  # current/ops_status.html
    facts: dict
    written: bool = True  # False: the current page already held this content


def ops_report(con, settings: Settings) -> OpsPage | None:
    """The ops page of the newest batch in reports/ops/current/ and its day's folder; None when no
    batch is loaded yet."""
    batch_id, as_of = newest_batch(con)
    if batch_id is None:
        return None
    html, facts = render_ops_page(con)
    base = settings.reports_dir / "ops"
    base.mkdir(parents=True, exist_ok=True)
    script = base / PLOTLY_JS
    if not script.is_file():
        atomic_write(script, lambda p: p.write_text(get_plotlyjs(), encoding="utf-8"))
    staging, copy = base / f".staging.{os.getpid()}.tmp", base / f".staging-day.{os.getpid()}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        files = [atomic_write(staging / "ops_status.html", lambda p: p.write_text(html, encoding="utf-8")),
                 write_csv(con.sql("select * from marts.rpt_runtime_reconciliation order by all").pl(),
                           staging / "runtime_reconciliation.csv")]
        manifest = write_evidence(con, staging, "ops_status", files, batch_id, as_of)
        current = base / "current" / manifest.name
        if current.is_file() and content_sha256(current) == content_sha256(manifest):
            shutil.rmtree(staging)  # the page of the same batch and marts: nothing to write
            return OpsPage(batch_id, current, current.parent, base / as_of.astimezone(UTC).date().isoformat(),
                           current.parent / "ops_status.html", facts, written=False)
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(staging, copy)
        day = base / as_of.astimezone(UTC).date().isoformat()
        replace_folder(copy, day)
        replace_folder(staging, base / "current")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(copy, ignore_errors=True)
        raise
    ensure_record(con)
    manifest = day / "ops_status.evidence.json"
    con.execute(
        "insert into ops.report_manifests by name select 'ops_status' as report, 'ops' as kind, ? as period, "
        "'day' as pack, ? as batch_id, ? as directory, ? as manifest_path, ? as evidence_sha256, "
        "2 as file_count, ? as written_at, ? as code_fingerprint, ? as config_sha256, "
        "nextval('ops.report_pack_seq') as pack_seq, ? as content_sha256",
        [day.name, batch_id, str(day.relative_to(settings.data_dir)), str(manifest.relative_to(settings.data_dir)),
         sha256_file(manifest), datetime.now(UTC), code_fingerprint(settings, engine=False), config_sha256(),
         content_sha256(manifest)])
    current = base / "current"
    return OpsPage(batch_id, current / "ops_status.evidence.json", current, day, current / "ops_status.html", facts)

