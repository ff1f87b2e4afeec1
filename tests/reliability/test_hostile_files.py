"""Hostile files through the real reader (issue 17): random bytes, truncations, headers, nesting and
encodings, each behind a manifest whose sha256 holds, so the bytes reach the readers. Every outcome
is a load (rows in = loaded + quarantined + duplicate, every reason on the closed list) or a
rejection whose reason starts with a closed-list word; never an exception out of ingestion."""

from __future__ import annotations

import gzip
import hashlib
import json
import os

from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from models import REASON_ORDER
from pipelines.lib.duck import connect, first
from pipelines.lib.ingest import REJECTION_REASONS, control_total_breaks, ingest_all
from tests.helpers import DIMENSIONS, edit_manifest, event, project_dirs, write_batch

BID = "20261102T000500Z-000001"
ROWS = [event(), event(event_id="e2", attributes='{"k": [1, {"x": "y"}]}'), event(event_id="e3", quantity="0.5")]


def _nested(depth: int, opener: str) -> str:
    """A line holding a value nested `depth` deep (a JSONL row, or a ragged CSV line)."""
    inner = '{"a": ' * depth + "1" + "}" * depth if opener == "{" else "[" * depth + "]" * depth
    return '{"event_id": "n", "attributes": ' + inner + "}"


damage = st.one_of(
    st.tuples(st.just("replace"), st.binary(max_size=400)),
    st.tuples(st.just("truncate"), st.floats(0, 1)),
    st.tuples(st.just("insert"), st.floats(0, 1), st.binary(min_size=1, max_size=40)),
    st.tuples(st.just("header"), st.text(max_size=60)),
    st.tuples(st.just("line"), st.text(max_size=120)),
    st.tuples(st.just("nest"), st.integers(1, 4000), st.sampled_from("[{")),
    st.tuples(st.just("encode"), st.sampled_from(["utf-16", "latin-1", "utf-8-sig", "cp1252"])),
    st.tuples(st.just("flip"), st.floats(0, 1)),
)


def hurt(data: bytes, how: tuple) -> bytes:
    kind = how[0]
    if kind == "replace":
        return how[1]
    if kind == "truncate":
        return data[: int(len(data) * how[1])]
    if kind == "insert":
        at = int(len(data) * how[1])
        return data[:at] + how[2] + data[at:]
    if kind == "header":
        lines = data.split(b"\n", 1)
        return how[1].encode("utf-8", "surrogatepass") + b"\n" + (lines[1] if len(lines) > 1 else b"")
    if kind == "line":
        return data + how[1].encode("utf-8", "surrogatepass") + b"\n"
    if kind == "nest":
        return data + _nested(how[1], how[2]).encode() + b"\n"
    if kind == "encode":
        return data.decode("utf-8", "replace").replace("r1", "r\u00e9\u20ac").encode(how[1], "replace")
    if kind == "flip" and data:
        at = min(int(len(data) * how[1]), len(data) - 1)
        return data[:at] + bytes([data[at] ^ 0x5A]) + data[at + 1:]
    return data


@hsettings(max_examples=int(os.environ.get("HOSTILE_EXAMPLES", "60")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fmt=st.sampled_from(["csv", "jsonl"]), gzipped=st.booleans(), how=damage, gzip_after=st.booleans(),
       row_count=st.one_of(st.just(None), st.integers(0, 6)))
def test_a_hostile_file_is_loaded_quarantined_or_rejected_with_a_reason(tmp_path_factory, fmt, gzipped, how,
                                                                         gzip_after, row_count):
    with project_dirs(tmp_path_factory.mktemp("hostile")) as settings:
        d = write_batch(settings.exports_dir, BID, {**DIMENSIONS, "usage_events": ROWS}, (fmt, "gzip" if gzipped else "none"))
        name = f"usage_events.{fmt}" + (".gz" if gzipped else "")
        data = (d / name).read_bytes()
        if gzipped and not gzip_after:  # damage the compressed stream itself
            hurt_bytes = hurt(data, how)
        else:
            plain = gzip.decompress(data) if gzipped else data
            hurt_bytes = hurt(plain, how)
            hurt_bytes = gzip.compress(hurt_bytes) if gzipped else hurt_bytes
        (d / name).write_bytes(hurt_bytes)

        def fix(doc):
            for f in doc["files"]:
                if f["path"] == name:
                    f["sha256"] = hashlib.sha256(hurt_bytes).hexdigest()
                    if row_count is not None:
                        f["row_count"] = row_count

        edit_manifest(d, fix)
        con = connect(settings.build_db, settings)
        try:
            summary = ingest_all(con, settings)  # never raises on a hostile file
            if BID in summary.rejected:
                word, _, detail = summary.rejected[BID].partition(": ")
                assert word in REJECTION_REASONS and detail
                assert first(con.execute("select count(*) from ops.ingested_files")) == (0,)
            else:
                assert summary.loaded == [BID]
                assert control_total_breaks(con) == []
                for n_in, loaded, quarantined, duplicate in con.execute(
                        "select rows_in_file, rows_loaded, rows_quarantined, rows_duplicate from ops.ingested_files"
                ).fetchall():
                    assert n_in == loaded + quarantined + duplicate
                for (reason,) in con.execute("select distinct reason from ops.quarantine").fetchall():
                    assert reason in REASON_ORDER or reason.startswith("unknown_"), reason
                for (raw,) in con.execute("select raw_record from ops.quarantine").fetchall():
                    json.loads(raw)
        finally:
            con.close()
        assert not list(settings.data_dir.glob(".inflated.*"))
