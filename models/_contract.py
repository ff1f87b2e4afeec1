"""Shared building blocks of the export contract (oltp-export-v1): column types as pandera checks.

Every export file is read as text first (whatever its format), then validated here, so one set
of rules covers CSV, JSONL and Parquet alike. Each check is named after the quarantine reason it
produces; a row failing several is quarantined once, with the first reason in REASON_ORDER.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import pandera.polars as pa
import polars as pl

# The closed list of the warehouse contract, in precedence order. unknown_<column> sits in the
# slot of "unknown_*"; its suffix is the column name.
REASON_ORDER = [
    "unparseable", "missing_value", "bad_id", "bad_timestamp", "bad_decimal", "bad_int",
    "bad_bool", "bad_json", "bad_enum", "negative_quantity", "out_of_range",
    "recorded_before_occurred", "implausible_timestamp", "model_required", "unknown_*",
    "reference_mismatch", "duplicate_conflict",
]


def reason_rank(reason: str) -> int:
    return REASON_ORDER.index("unknown_*" if reason.startswith("unknown_") else reason)


# A JSON or Parquet value of the wrong native type (a JSON number where a decimal is expected, a
# float column in Parquet) is carried as text behind this marker: it can never match a type's
# pattern, so the row fails that column's type check with the type's own reason.
WRONG_NATIVE_TYPE = "\x00wrong-native-type:"

ID_RE = r"^[A-Za-z0-9_.:\-]{1,64}$"
# seconds 00-59: a leap second (60) is bad_timestamp (v1.1), where a parser would move it into
# the next minute, and at 23:59:60 into the next day
# Digits are 0-9 (v1.2): never \d, which matches every Unicode digit (١٢, １２, १००).
TS_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-5][0-9](\.[0-9]{1,9})?(Z|[+-][0-9]{2}:?[0-9]{2})$"
DATE_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
DEC_RE = r"^-?[0-9]{1,18}(\.[0-9]{1,9})?$"
INT_RE = r"^-?[0-9]{1,18}$"
CUR_RE = r"^[A-Z]{3}$"
HEX64_RE = r"^[0-9a-f]{64}$"
# RFC 3339 (chrono's %+): for text matching TS_RE it parses exactly as
# "%Y-%m-%dT%H:%M:%S%.f%#z" does (Z, +hh:mm and +hhmm offsets, 1 to 9 fraction digits), faster.
TS_FORMAT = "%+"

MIN_EVENT_TIME = datetime(2000, 1, 1)


def parse_timestamp(expr: pl.Expr) -> pl.Expr:
    """Text -> UTC timestamp (microseconds); null when it does not follow the contract."""
    return (
        pl.when(expr.str.contains(TS_RE))
        .then(expr.str.to_datetime(TS_FORMAT, time_zone="UTC", time_unit="us", strict=False))
        .otherwise(None)
    )


def parse_date(expr: pl.Expr) -> pl.Expr:
    return pl.when(expr.str.contains(DATE_RE)).then(expr.str.to_date("%Y-%m-%d", strict=False))


def parse_decimal(expr: pl.Expr) -> pl.Expr:
    # DECIMAL(38, 9): the contract allows 18 digits before the point and 9 after; never a float.
    return pl.when(expr.str.contains(DEC_RE)).then(expr.str.to_decimal(scale=9).cast(pl.Decimal(38, 9)))


def parse_json_object(expr: pl.Expr) -> pl.Expr:
    """Text -> the canonical text of the JSON object it holds; null when it holds none. Parsed in
    Python, once per row: the rule (bad_json) and the content hash share it."""
    return expr.map_elements(canonical_json_object, return_dtype=pl.String, skip_nulls=True)


PARSED = ":parsed"  # suffix of a column's parsed twin, added once by Table.with_parsed
# The types whose parse the rules and the typed load share, and their parsers (see `parsed`).
PARSERS = {"timestamp": parse_timestamp, "date": parse_date, "decimal": parse_decimal, "json": parse_json_object}


def parsed(name: str) -> pl.Expr:
    """The column's value parsed into its contract type (null where the text breaks the contract).

    Timestamps, dates, decimals and JSON objects are parsed once per frame (`Table.with_parsed`);
    every rule reading the value (type, range, plausibility, order) and the typed load share that
    parse. A JSON column's twin is its canonical text; the typed column keeps the text as sent."""
    return pl.col(name + PARSED)


MAX_JSON_DEPTH = 64  # v1.1: a JSON value nested deeper is unparseable (a line) or bad_json (a column)


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list) -> dict:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _DuplicateKey("an object repeats a key")
    return obj


def _key_count(value) -> int:
    if isinstance(value, dict):
        return len(value) + sum(_key_count(v) for v in value.values() if isinstance(v, (dict, list)))
    if isinstance(value, list):
        return sum(_key_count(v) for v in value if isinstance(v, (dict, list)))
    return 0


def _depth(value, level: int = 1) -> int:
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level)
    return level - 1


def parse_json_object(text: str) -> dict | None:
    """The JSON object `text` holds, or None when it holds none by the contract (v1.1): not JSON,
    not an object, an object repeating a key (a parser would silently keep the last value), or
    nested deeper than MAX_JSON_DEPTH (deep enough nesting also exhausts Python's parser)."""
    try:
        value = json.loads(text)
        if not isinstance(value, dict):
            return None
        # Every key of the text is one ':' outside a string: when the text has no more ':' than the
        # parsed value has keys, no key was repeated. Otherwise (a repeat, or ':' inside strings)
        # parse again, slower, with a hook that sees every key.
        if text.count(":") != _key_count(value):
            value = json.loads(text, object_pairs_hook=_unique_keys)
    except (ValueError, TypeError, RecursionError):
        return None
    # counting brackets bounds the depth from above: the walk runs only when it could exceed
    if text.count("{") + text.count("[") > MAX_JSON_DEPTH and _depth(value) > MAX_JSON_DEPTH:
        return None
    return value


def canonical_json_object(text: str) -> str | None:
    """A JSON object's canonical text (keys sorted, no spaces), or None when the text is not one
    (`parse_json_object`): the same object written otherwise gives the same text (ingestion
    hashes it to tell a re-delivery from a conflicting copy)."""
    value = parse_json_object(text)
    return None if value is None else json.dumps(value, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class Col:
    """One contract column: its type, nullability and any extra domain rules."""

    name: str
    type: str  # id, timestamp, date, decimal, int, bool, json, currency, string, enum, hex64, ip
    nullable: bool = False
    values: tuple[str, ...] = ()  # for enum
    min_value: int | None = None  # for int / decimal: out_of_range below (inclusive bound)
    below: int | None = None  # for int / decimal: out_of_range at or above
    non_negative: bool = False  # decimal quantity: negative_quantity

    def parse(self) -> pl.Expr | None:
        """Text -> value, for the types in PARSERS (see `parsed`)."""
        parse = PARSERS.get(self.type)
        return parse and parse(pl.col(self.name)).alias(self.name + PARSED)

    def typed(self) -> pl.Expr:
        c = pl.col(self.name)
        if self.type in ("timestamp", "date", "decimal"):
            return parsed(self.name).alias(self.name)
        if self.type == "int":
            return c.cast(pl.Int64, strict=False).alias(self.name)
        if self.type == "bool":
            return (c == "true").alias(self.name)
        return c

    def checks(self) -> list[pa.Check]:
        col = self.name

        def rule(expr_fn, name):
            # A null is the nullability rule's business (missing_value), never a type failure.
            return pa.Check(
                lambda d: d.lazyframe.select(pl.col(d.key).is_null() | expr_fn(pl.col(d.key)).fill_null(False)),
                name=name)

        def matches(pattern, reason):
            return rule(lambda c: c.str.contains(pattern), reason)

        out: list[pa.Check] = []
        t = self.type
        if t == "id":
            out.append(matches(ID_RE, "bad_id"))
        elif t == "hex64":
            out.append(matches(HEX64_RE, "bad_id"))
        elif t == "timestamp":
            out.append(rule(lambda c: parsed(col).is_not_null(), "bad_timestamp"))
        elif t == "date":
            out.append(rule(lambda c: parsed(col).is_not_null(), "bad_timestamp"))
        elif t == "decimal":
            # the pattern, and a parse that holds: a value that does not parse exactly is
            # quarantined, never loaded as NULL (v1.2)
            out.append(rule(lambda c: c.str.contains(DEC_RE) & parsed(col).is_not_null(), "bad_decimal"))
        elif t == "int":
            out.append(rule(lambda c: c.str.contains(INT_RE) & c.cast(pl.Int64, strict=False).is_not_null(),
                            "bad_int"))
        elif t == "bool":
            out.append(rule(lambda c: c.is_in(["true", "false"]), "bad_bool"))
        elif t == "json":
            out.append(rule(lambda c: parsed(col).is_not_null(), "bad_json"))
        elif t == "currency":
            out.append(matches(CUR_RE, "bad_enum"))
        elif t == "enum":
            values = list(self.values)
            out.append(rule(lambda c: c.is_in(values), "bad_enum"))
        elif t == "ip":
            out.append(rule(lambda c: c.map_elements(_is_ip, return_dtype=pl.Boolean), "out_of_range"))
        if self.non_negative:
            out.append(rule(lambda c: ~parsed(col).lt(0).fill_null(False), "negative_quantity"))
        if self.min_value is not None or self.below is not None:
            lo, hi = self.min_value, self.below

            def in_range(c, lo=lo, hi=hi, t=t):
                # Exact comparisons: a float would call 999999999999.999999999 equal to 10^12.
                if t == "decimal":
                    v = parsed(col)
                    bound = lambda x: pl.lit(Decimal(x), dtype=pl.Decimal(38, 9))  # noqa: E731
                else:
                    v = c.cast(pl.Int64, strict=False)
                    bound = pl.lit
                ok = pl.lit(True)
                if lo is not None:
                    ok = ok & ~(v < bound(lo)).fill_null(False)
                if hi is not None:
                    ok = ok & ~(v >= bound(hi)).fill_null(False)
                return ok

            out.append(rule(in_range, "out_of_range"))
        return out

    def pandera_column(self) -> pa.Column:
        return pa.Column(pl.String, nullable=self.nullable, checks=self.checks(), required=True, name=self.name)


def _is_ip(text: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


@dataclass(frozen=True)
class Table:
    """An export table: its columns, key, kind and (for events) the time that dates it."""

    name: str
    kind: str  # "dimension" or "event"
    columns: tuple[Col, ...]
    key: tuple[str, ...]
    event_times: tuple[str, ...] = ()  # checked for plausibility against the batch's exported_at
    partition_time: str | None = None  # the event time whose UTC date partitions the lake
    row_checks: tuple[tuple[str, object], ...] = field(default=())  # (reason, fn(lazyframe)->bool expr)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def schema(self, exported_at: datetime | None = None) -> pa.DataFrameSchema:
        checks = []
        for reason, fn in self.row_checks:
            checks.append(pa.Check(lambda d, fn=fn: d.lazyframe.select(fn().fill_null(True)), name=reason))
        if exported_at is not None and self.event_times:
            limit = pl.lit(exported_at).dt.convert_time_zone("UTC") + pl.duration(minutes=5)
            floor = pl.lit(MIN_EVENT_TIME).dt.replace_time_zone("UTC")
            for name in self.event_times:
                ts = parsed(name)
                ok = ((ts <= limit) & (ts >= floor)).fill_null(True)
                checks.append(pa.Check(lambda d, ok=ok: d.lazyframe.select(ok), name="implausible_timestamp"))
        return pa.DataFrameSchema(
            {c.name: c.pandera_column() for c in self.columns},
            checks=checks,
            name=self.name,
            strict=False,
        )

    def with_parsed(self, frame: pl.DataFrame) -> pl.DataFrame:
        """The text frame with the parsed twin of each timestamp, date, decimal and JSON column (once:
        twins already there are kept). The schema's rules and `cast` read the twins."""
        return frame.with_columns([c.parse() for c in self.columns
                                   if c.type in PARSERS and c.name + PARSED not in frame.columns])

    @property
    def parsed_names(self) -> list[str]:
        return [c.name + PARSED for c in self.columns if c.type in PARSERS]

    def cast(self, frame: pl.DataFrame, keep_parsed: bool = False) -> pl.DataFrame:
        """Text (`with_parsed`) -> the contract's columns in the contract's types, for rows that
        passed validation; the parsed twins are dropped unless `keep_parsed`."""
        typed = self.with_parsed(frame).with_columns([c.typed() for c in self.columns])
        return typed if keep_parsed else typed.drop(self.parsed_names)
