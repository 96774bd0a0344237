"""docs/influx-schema.md stays in step with the writer's field map."""

from __future__ import annotations

import re
from pathlib import Path

from storage.influx import MEASUREMENTS

DOC = (Path(__file__).resolve().parents[2] / "docs" / "influx-schema.md").read_text(encoding="utf-8")
MEASUREMENT_TABLE = DOC.split("## Settings")[0]


def test_schema_doc_lists_every_measurement_tag_and_field() -> None:
    """Each measurement's row in the doc names its table, time column, tags and fields, in order."""
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| `(\w+)` \|.*$", MEASUREMENT_TABLE, re.M)}
    assert set(rows) == {m.name for m in MEASUREMENTS}
    for m in MEASUREMENTS:
        cells = [c.strip() for c in rows[m.name].strip("|").split("|")]
        assert cells[1] == m.table and cells[2] == m.time_expr, m.name
        assert re.findall(r"`(\w+)`", cells[3]) == [t.key for t in m.tags], m.name
        assert re.findall(r"`(\w+)`", cells[4]) == [f.key for f in m.fields], m.name
