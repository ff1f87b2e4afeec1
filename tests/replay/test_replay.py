"""As-of replay and diff (pipelines/lib/replay.py, asof_diff.py) on the sample loaded one batch per
run, as a platform receives it: each run writes the packs of its newest batch; a replay of each
earlier batch, from the lake alone, must reproduce them: byte for byte where they are still on
disk, by the content hash the record keeps where a later run replaced a period's draft."""

from __future__ import annotations

import gzip
import io
import json
import shutil
import subprocess
import sys
from datetime import UTC
from decimal import Decimal
from pathlib import Path

import duckdb
import openpyxl
import polars as pl
import pytest

from pipelines.lib.config import PROJECT_ROOT, SAMPLE_EXPORTS, Settings
from pipelines.lib.replay import ReplayError, build_as_of
from tests.helpers import run_pipeline

B1, B2, B3, B4, B5 = sorted(p.name for p in SAMPLE_EXPORTS.iterdir() if p.is_dir())[:5]
RUNS = [[B1], [B2], [B3]]  # a run each: each batch the newest at the end of a run, with packs of its own


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    root = tmp_path_factory.mktemp("history")
    exports, data = root / "exports", root / "data"
    exports.mkdir()
    for batches in RUNS:
        for b in batches:
            shutil.copytree(SAMPLE_EXPORTS / b, exports / b)
        result = run_pipeline(data, exports)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return Settings(exports_dir=exports, data_dir=data), root


def pack_bytes(directory: Path) -> dict[str, bytes]:
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("batch", [B1, B2])
def test_a_replay_of_an_earlier_batch_reproduces_its_packs_byte_for_byte(history, batch):
    settings, root = history
    replay = build_as_of(settings, batch, root / "replays" / f"as-of-{batch}")
    assert replay.batches == [b for run in RUNS for b in run if b <= batch]
    assert sorted((p.kind, p.period) for p in replay.packs) == [("finance", "2026-11"), ("focus", "2026-11"),
                                                                 ("ops", None)]
    for p in replay.packs:
        assert p.identical is True, (p.kind, p.reasons)
    # the November drafts written then were replaced by later runs: compared by the content hash the
    # record keeps; the ops page's copy of that day is still there: compared byte for byte
    verdicts = {p.kind: p for p in replay.packs}
    assert "replaced since" in verdicts["finance"].on_disk and "replaced since" in verdicts["focus"].on_disk
    ops = Path(verdicts["ops"].on_disk)
    assert ops.parent == settings.reports_dir / "ops"
    assert pack_bytes(Path(verdicts["ops"].directory)) == pack_bytes(ops)
    # a warehouse of its own, as of then: the newest batch it holds is the one asked for
    con = duckdb.connect(str(root / "replays" / f"as-of-{batch}" / "warehouse" / "analytics.duckdb"), read_only=True)
    assert con.execute("select max(batch_id) from ops.ingested_batches").fetchall() == [(batch,)]
    con.close()


def test_the_replay_command_and_the_diff_of_two_states(history):
    """`python -m pipelines replay` for the third batch (identical packs), then `diff` between the
    second and third states (reusing both replays): exactly the late events and the corrections
    the generator put into the third batch, read here from its export file."""
    settings, _ = history
    env = {"ANALYTICS_DATA_DIR": str(settings.data_dir), "ANALYTICS_EXPORTS_DIR": str(settings.exports_dir)}
    out = settings.data_dir / "replays"
    cli = _cli("replay", "--as-of", B3, env=env)  # into its default folder, as replay_job's
    assert cli.returncode == 0, cli.stderr
    assert json.loads((out / f"as-of-{B3}" / "replay.json").read_text())["as_of"] == B3
    assert cli.stdout.count("identical to") == 3 and "differs" not in cli.stdout
    # the newest batch's packs are on disk: the replay's files are theirs byte for byte
    replayed = json.loads((out / f"as-of-{B3}" / "replay.json").read_text())["packs"]
    for p in replayed:
        assert pack_bytes(Path(p["directory"])) == pack_bytes(Path(p["on_disk"])), p["kind"]

    diff = _cli("diff", "--from", B2, "--to", B3, "--out", str(out), env=env)
    assert diff.returncode == 0, diff.stderr
    events = pl.read_csv(out / f"diff_{B2}_{B3}_events.csv", infer_schema=False)
    days = pl.read_csv(out / f"diff_{B2}_{B3}.csv", infer_schema=False)

    late, corrected = expected_changes(settings, before=[B1, B2], batch=B3)
    kinds = dict(events.select("event_id", "kind").iter_rows())
    assert {e for e, k in kinds.items() if k == "late"} == late and late
    assert {e for e, k in kinds.items() if k in ("correction", "void")} == corrected and corrected
    assert set(kinds.values()) <= {"late", "new", "correction", "void"}
    assert set(events["batch_id"]) == {B3}

    # each day's change is its events' changes
    assert days.height
    for r in days.iter_rows(named=True):
        mine = events.filter((pl.col("organization_id") == r["organization_id"])
                             & (pl.col("usage_date") == r["charge_date"]) & (pl.col("usage_unit") == r["usage_unit"]))
        change = sum(Decimal(a or 0) - Decimal(b or 0) for a, b in mine.select("quantity_after", "quantity_before")
                     .iter_rows())
        assert Decimal(r["quantity_change"]) == change, r
    book = openpyxl.load_workbook(out / f"diff_{B2}_{B3}.xlsx", read_only=True)
    assert book.sheetnames == ["Changes by day", "Events"]


def expected_changes(settings: Settings, before: list[str], batch: str) -> tuple[set, set]:
    """From the batch's export file (not the warehouse): events first loaded in it that occurred before
    the earlier state's newest export (late), and the events its corrections change (corrected);
    rows quarantined on load left out, by the row numbers the ingestion record gives."""
    with gzip.open(settings.exports_dir / batch / "usage_events.csv.gz") as fh:
        rows = pl.read_csv(io.BytesIO(fh.read()), infer_schema=False).with_row_index("n", offset=1)
    con = duckdb.connect(str(settings.published_db), read_only=True)
    quarantined = {n for (n,) in con.execute(
        "select row_number from ops.quarantine where batch_id = ? and table_name = 'usage_events'", [batch]).fetchall()}
    as_of = con.execute("select max(exported_at) from ops.ingested_batches where batch_id in "
                        f"({', '.join('?' * len(before))})", before).fetchall()[0][0].astimezone(UTC)
    con.close()
    known = set(pl.read_parquet(str(settings.lake_dir / "usage_events" / "**" / "*.parquet"))
                .filter(pl.col("_batch_id").is_in(before))["event_id"])
    rows = rows.filter(~pl.col("n").is_in(sorted(quarantined)))
    occurred = pl.col("occurred_at").str.to_datetime(time_zone="UTC")
    originals = rows.filter(pl.col("correction_of").is_null() & ~pl.col("event_id").is_in(sorted(known)))
    late = set(originals.filter(occurred < as_of)["event_id"])
    corrections = rows.filter(pl.col("correction_of").is_not_null())
    return late, set(corrections.filter(pl.col("correction_of").is_in(sorted(known)))["correction_of"])


def _cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-m", "pipelines", *args], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, env=dict(os.environ, **env), timeout=900)


def test_a_changed_configuration_is_named_as_the_reason(history, tmp_path, monkeypatch):
    """The SLO configuration changed since the first batch's packs were written: the replay's ops page
    differs, and the replay says so; the finance and FOCUS packs read no such configuration."""
    settings, root = history
    config = tmp_path / "config"
    shutil.copytree(PROJECT_ROOT / "pipelines" / "config", config)
    slos = config / "slos.yml"
    slos.write_text(slos.read_text().replace("0.99", "0.98", 1))
    monkeypatch.setenv("ANALYTICS_CONFIG_DIR", str(config))
    replay = build_as_of(settings, B1, tmp_path / "replay")
    verdicts = {p.kind: p for p in replay.packs}
    assert verdicts["finance"].identical and verdicts["focus"].identical
    ops = verdicts["ops"]
    assert ops.identical is False
    assert any("report configuration (pipelines/config) changed" in r for r in ops.reasons), ops.reasons
    assert any("files that differ: ops_status.html" in r for r in ops.reasons), ops.reasons
    assert json.loads((tmp_path / "replay" / "replay.json").read_text())["complete"] is True


def test_a_replay_refuses_what_it_cannot_do(history, tmp_path):
    settings, root = history
    with pytest.raises(ReplayError, match=f"was never loaded; loaded batches, in load order: {B1}, {B2}, {B3}"):
        build_as_of(settings, B5, tmp_path / "r5")  # never delivered here
    assert not (tmp_path / "r5").exists()  # refused before the folder was made
    with pytest.raises(ReplayError, match="is not a batch id"):
        build_as_of(settings, "../../etc", tmp_path / "r")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(ReplayError, match="not empty and holds no earlier replay"):
        build_as_of(settings, B1, tmp_path / "busy")
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"
    (tmp_path / "busy" / "replay.json").write_text(json.dumps({"as_of": B1}))  # a file merely named so
    with pytest.raises(ReplayError, match="not empty and holds no earlier replay"):
        build_as_of(settings, B1, tmp_path / "busy")
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"
    with pytest.raises(ReplayError, match="is a file, not a folder"):
        build_as_of(settings, B1, tmp_path / "busy" / "notes.txt")
    from pipelines.lib.asof_diff import diff_as_of

    before = sorted(p.name for p in settings.data_dir.iterdir())
    for out in (settings.data_dir, settings.data_dir.parent, tmp_path / "busy"):
        with pytest.raises(ReplayError):
            diff_as_of(settings, B1, B2, out)
    assert sorted(p.name for p in settings.data_dir.iterdir()) == before
    for inside in (settings.data_dir, settings.lake_dir / "x", settings.reports_dir / "x", root):
        with pytest.raises(ReplayError):
            build_as_of(settings, B1, inside)


def test_the_diff_job_runs_from_the_ui_config(history):
    """diff_job with the batch ids as its launch config (the UI's launchpad): it reuses the replays
    the command test left when there are (the same inputs), else makes them, and writes the CSVs
    and workbook."""
    from pipelines.defs.reports.replay import diff_job, replay_job

    settings, _ = history
    out = settings.data_dir / "replays"
    made = out / f"as-of-{B3}" / "replay.json"
    marker = made.read_bytes() if made.exists() else None  # the command test's, when it ran first
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ANALYTICS_DATA_DIR", str(settings.data_dir))
        mp.setenv("ANALYTICS_EXPORTS_DIR", str(settings.exports_dir))
        result = diff_job.execute_in_process(run_config={"ops": {"diff_between_batches": {"config": {
            "from_batch": B2, "to_batch": B3, "out": str(out)}}}})
        assert result.success
        meta = result.output_for_node("diff_between_batches")
        assert meta == str(out)
        assert marker is None or made.read_bytes() == marker  # reused, not rebuilt
        assert {p.name for p in out.glob(f"diff_{B2}_{B3}*")} == {
            f"diff_{B2}_{B3}.csv", f"diff_{B2}_{B3}_events.csv", f"diff_{B2}_{B3}.xlsx"}
        bad = replay_job.execute_in_process(run_config={"ops": {"replay_as_of_batch": {"config": {"as_of": "nope"}}}},
                                            raise_on_error=False)
        assert not bad.success
        assert "is not a batch id" in str(bad.get_step_failure_events()[0].step_failure_data.error.message)


def test_releases_count_up_to_the_end_of_the_run_that_loaded_the_batch_last():
    """A run releases quarantined rows after its loads. Run 1 loads B1 (load 1) then B2 (load 2) and
    releases (load 3); run 2 loads B3 (load 4) and releases (load 5); run 3 only releases (load 6).
    The state run 1 left holds its release (B2 was its last load); B1 was never the newest at a
    run's end: nothing released counts for it; run 3's release belongs to no batch's first pack.
    The machines' clocks say otherwise (run 2's host was an hour behind): the order is the load
    sequence's, never theirs."""
    from pipelines.lib.replay import state_as_of

    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    con.execute("create table src_ingested_batches as select * from (values "
                "('b1', 'loaded', 1, timestamptz '2026-11-10 10:01:00+00'), "
                "('b2', 'loaded', 2, timestamptz '2026-11-10 10:02:00+00'), "
                "('bx', 'rejected', null, timestamptz '2026-11-10 10:03:00+00'), "
                "('b3', 'loaded', 4, timestamptz '2026-11-10 09:01:00+00')) t(batch_id, status, load_seq, loaded_at)")
    con.execute("create table src_ingest_runs as select * from (values "
                "(timestamptz '2026-11-10 10:00:00+00', timestamptz '2026-11-10 10:05:00+00', 1, 3), "
                "(timestamptz '2026-11-10 09:00:00+00', timestamptz '2026-11-10 09:02:00+00', 4, 5), "
                "(timestamptz '2026-11-10 12:00:00+00', timestamptz '2026-11-10 12:01:00+00', 6, 6)"
                ") t(started_at, finished_at, first_seq, last_seq)")

    def at(batch):
        seq, releases, batches, loaded_at = state_as_of(con, batch)
        return seq, releases, batches, f"{loaded_at:%H:%M}"

    assert at("b1") == (1, 1, ["b1"], "10:01")
    assert at("b2") == (2, 3, ["b1", "b2"], "10:02")
    assert at("b3") == (4, 5, ["b1", "b2", "b3"], "09:01")
    con.execute("delete from src_ingest_runs")  # a lake from before runs were recorded: up to the load
    assert at("b2") == (2, 2, ["b1", "b2"], "10:02")
    with pytest.raises(ReplayError, match="'bx' was never loaded; loaded batches, in load order: b1, b2, b3"):
        at("bx")
