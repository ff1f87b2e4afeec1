"""The ops page renders in a real headless browser, and what it plots is what the marts hold."""

from __future__ import annotations

import duckdb

from pipelines.lib.duck import connect
from pipelines.lib.ops_report import ops_report
from tests.browser import artifact, browser_page


def test_the_ops_page_plots_exactly_the_marts_rows(ops):
    con = connect(ops.build_db, ops)
    out = ops_report(con, ops)
    script = next((ops.reports_dir / "ops").glob("plotly-*.min.js"))
    inode = script.stat().st_ino
    again = ops_report(con, ops)  # the next run: the page replaced, the chart code not written again
    con.close()
    page_file = again.page
    assert page_file == ops.reports_dir / "ops" / "current" / "ops_status.html" == out.page
    day_copy = ops.reports_dir / "ops" / "2026-11-10" / "ops_status.html"
    assert again.day == day_copy.parent and day_copy.read_bytes() == page_file.read_bytes()
    assert script.stat().st_ino == inode and script.stat().st_size > 3_000_000
    # the page loads the chart code beside it, never a copy of its own
    assert page_file.stat().st_size < 200_000 and f'src="../{script.name}"' in page_file.read_text()
    db = duckdb.connect(str(ops.build_db), read_only=True)
    sli = db.execute("select component, slo_name, day::varchar, sli from marts.fct_sli_daily order by all").fetchall()
    budget = db.execute("select component, slo_name, day::varchar, error_budget_remaining from marts.fct_slo_budget_daily "
                        "order by all").fetchall()
    db.close()
    with browser_page() as page:
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(page_file.as_uri())
        page.wait_for_function("document.querySelectorAll('.js-plotly-plot .main-svg').length >= 4")
        plotted = page.evaluate("""() => Array.from(document.querySelectorAll('.js-plotly-plot')).flatMap(div =>
            div.data.map(t => ({component: div.id, slo: t.meta.slo, series: t.meta.series, x: t.x, y: t.y})))""")
        text = page.inner_text("body")
        page.screenshot(path=str(artifact("ops_status.png")), full_page=True)
    assert not errors
    points = {"sli": [], "budget": []}
    for trace in plotted:
        component = trace["component"].removeprefix("sli-").replace("-", ".")
        for x, y in zip(trace["x"], trace["y"], strict=True):
            points[trace["series"]].append((component, trace["slo"], x, y))
    # every point drawn is a row of the mart, value for value (JSON keeps a double exact)
    assert len(sli) == 16  # 4 components x 4 days
    assert sorted(points["sli"]) == [tuple(r) for r in sli]
    assert sorted(points["budget"]) == [tuple(r) for r in budget]
    for component in ("svc.page", "svc.old", "svc.ticket", "svc.degraded"):
        assert component in text
    assert "Audit trail integrity: verified" in text and "c_expired" in text
