"""Line protocol for one measurement, formatted inside SQLite (:class:`LineEncoder`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from storage.errors import InfluxError
from storage.influx_map import Field, FieldType, Measurement

PRECISION = "ms"
"""Timestamp precision of every line written (``precision=ms`` on the request)."""
_TS_SCALE = 1000.0


# A backslash is literal in keys and tag values unless it precedes a special character; line protocol cannot
# end a tag value with one, so a trailing backslash becomes "_". Newlines are never allowed.
_KEY_ESCAPES = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ ", "\n": r"\ "})
_MEAS_ESCAPES = str.maketrans({",": r"\,", " ": r"\ ", "\n": r"\ "})


def escape_key(s: str) -> str:
    """A tag key, tag value or field key (commas, equals signs and spaces escaped)."""
    if s.endswith("\\"):
        s = s.rstrip("\\") + "_"
    return s.translate(_KEY_ESCAPES)


def _sql_field(f: Field, not_null: bool) -> str:
    """SQL text for ``,key=value`` — NULL when the value is NULL, so the field drops out of the point.

    Formatting happens inside SQLite (C speed): a REAL becomes text with 15 significant digits, an INTEGER
    gets the ``i`` suffix, a string is quoted with backslashes, quotes and newlines escaped. A non-finite
    float (the archive never stores one) becomes NULL instead of an unparsable point.
    """
    key = "'," + escape_key(f.key).replace("'", "''") + "='"
    x = f.expr if f.expr.isidentifier() else f"({f.expr})"
    match f.type:
        case FieldType.FLOAT:
            return f"COALESCE(CASE WHEN {x} BETWEEN -1.7e308 AND 1.7e308 THEN {key} || {x} END, '')"
        case FieldType.INT:
            text = f"{key} || {x} || 'i'" if not_null else f"{key} || CAST({x} AS INTEGER) || 'i'"
        case FieldType.STR:
            esc = f"replace(replace(replace({x}, '\\', '\\\\'), '\"', '\\\"'), char(10), ' ')"
            text = f"{key} || '\"' || {esc} || '\"'"
    return text if not_null else f"COALESCE({text}, '')"


class LineEncoder:
    """Line protocol for one measurement: SQLite formats the fields and the timestamp, Python the series.

    :meth:`select_sql` yields ``(seq, tag values..., "fields timestamp")`` per row; :meth:`encode` puts the
    series (measurement and escaped tags, cached per distinct tag values) in front. ``not_null`` names the
    columns the table declares NOT NULL, which need no NULL handling (the hot path for beats).
    """

    def __init__(self, m: Measurement, not_null: frozenset[str] = frozenset()) -> None:
        self.m = m
        tags = sorted(m.tags, key=lambda t: t.key)  # InfluxDB's preferred (and cheapest) tag order
        self._tag_prefixes = [f",{escape_key(t.key)}=" for t in tags]
        self._tag_exprs = [t.expr for t in tags]
        self._head = m.name.translate(_MEAS_ESCAPES)
        self._series_cache: dict[tuple[Any, ...], str] = {}
        self._n_tags = len(tags)
        fields = " || ".join(_sql_field(f, f.expr in not_null) for f in m.fields)
        ts = f"CAST(round(({m.time_expr}) * {_TS_SCALE}) AS INTEGER)"
        # NULL when no field has a value (cannot happen with a NOT NULL first field): never an invalid line
        self._line_sql = f"NULLIF(substr({fields}, 2), '') || ' ' || {ts} || char(10)"

    def select_sql(self, where: str = "seq > ?") -> str:
        cols = ["seq", *self._tag_exprs, self._line_sql]
        return f"SELECT {', '.join(cols)} FROM {self.m.table} WHERE {where} ORDER BY seq LIMIT ?"

    def _series(self, tag_values: tuple[Any, ...]) -> str:
        s = self._series_cache.get(tag_values)
        if s is None:
            parts = [self._head]
            for prefix, v in zip(self._tag_prefixes, tag_values, strict=True):
                if v is not None and str(v) != "":
                    parts.append(prefix + escape_key(str(v)))
            s = "".join(parts) + " "
            if len(self._series_cache) < 10_000:
                self._series_cache[tag_values] = s
        return s

    def encode(self, rows: Sequence[tuple[Any, ...]]) -> list[str]:
        """One newline-terminated line per row selected by :meth:`select_sql`."""
        end = 1 + self._n_tags
        series = self._series
        try:
            return [series(row[1:end]) + row[end] for row in rows]
        except TypeError:
            bad = next(row[0] for row in rows if row[end] is None)
            raise InfluxError(f"{self.m.table} row seq {bad} has no field value") from None


def _ln(x: float | None) -> float | None:
    return math.log(x) if x is not None and x > 0 else None
