"""The page ops reads: per component, charts of SLI and error budget over time (plotly), the current
burn rates and alert; freshness, credential rotation and audit integrity on the same page. One
self-contained HTML file (plotly.js inline: the page opens with no network)."""

from __future__ import annotations

from html import escape

import plotly.graph_objects as go
import polars as pl
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from pipelines.lib.render import html_table
from pipelines.lib.reports import Written, atomic_write, newest_batch, write_pack

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
    sli = con.sql("select * from marts.fct_sli_daily order by all").pl()
    budget = con.sql("select * from marts.fct_slo_budget_daily order by all").pl()
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
<style>{STYLE}</style><script type="text/javascript">{get_plotlyjs()}</script></head>
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
</body></html>
"""
    return html, {"components": status["component"].n_unique(),
                  "slo_alerts": status.filter(pl.col("alert") != "none").height, "audit_verified": verified}


def ops_report(con, settings) -> Written | None:
    batch_id, as_of = newest_batch(con)
    if batch_id is None:
        return None
    html, facts = render_ops_page(con)
    pack = write_pack(con, settings, "ops_status", "ops", batch_id, as_of, lambda directory: [
        atomic_write(directory / "ops_status.html", lambda p: p.write_text(html, encoding="utf-8"))])
    return Written(pack, batch_id, facts)
