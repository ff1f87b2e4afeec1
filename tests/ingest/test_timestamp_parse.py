"""The contract's timestamp parse (RFC 3339, chrono's %+) gives, for every text the contract's
pattern accepts, the instant the explicit format gives; and null for a calendar-impossible one."""

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from models._contract import TS_RE, parse_timestamp

EXPLICIT = "%Y-%m-%dT%H:%M:%S%.f%#z"

stamps = st.builds(
    lambda y, mo, d, h, mi, s, frac, zone: f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}{frac}{zone}",
    st.integers(1990, 2099), st.integers(1, 12), st.integers(1, 31), st.integers(0, 23), st.integers(0, 59),
    st.integers(0, 59),
    st.one_of(st.just(""), st.integers(1, 9).flatmap(lambda n: st.text("0123456789", min_size=n, max_size=n)
                                                      .map(lambda t: "." + t))),
    st.one_of(st.just("Z"), st.builds(lambda sign, hh, mm, colon: f"{sign}{hh:02d}{colon}{mm:02d}",
                                      st.sampled_from("+-"), st.integers(0, 23), st.integers(0, 59),
                                      st.sampled_from(["", ":"]))),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(stamps, min_size=1, max_size=20))
def test_rfc3339_parse_equals_the_explicit_format(texts):
    s = pl.Series("t", texts)
    assert s.str.contains(TS_RE).all()
    explicit = s.str.to_datetime(EXPLICIT, time_zone="UTC", time_unit="us", strict=False)
    got = pl.select(parse_timestamp(pl.lit(s))).to_series()
    assert got.to_list() == explicit.to_list()


def test_a_day_the_calendar_lacks_is_null_and_offsets_shift_to_utc():
    got = pl.select(parse_timestamp(pl.lit(pl.Series(
        ["2026-02-30T00:00:00Z", "2026-11-01T01:30:00+02:00", "2026-11-01T01:30:00-0130", "2026-11-01T01:30:00"]))))
    assert [str(v) if v else None for v in got.to_series().to_list()] == [
        None, "2026-10-31 23:30:00+00:00", "2026-11-01 03:00:00+00:00", None]
