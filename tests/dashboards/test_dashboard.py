"""The Grafana dashboard: valid against Grafana's dashboard model, and every query returns rows on real data."""

from __future__ import annotations

import copy
import json
import re
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.dashboards.conftest import DB, PipelineData

DASHBOARDS = Path(__file__).resolve().parents[2] / "dashboards"
DASHBOARD = json.loads((DASHBOARDS / "calmstrap.json").read_text(encoding="utf-8"))
SCHEMA = json.loads((DASHBOARDS / "schema" / "dashboard.schema.json").read_text(encoding="utf-8"))
DATASOURCE_FILE = (DASHBOARDS / "provisioning" / "datasources" / "calmstrap.yaml").read_text(encoding="utf-8")
DATASOURCE_UID = re.search(r"^\s+uid:\s*(\S+)\s*$", DATASOURCE_FILE, re.M).group(1)  # type: ignore[union-attr]

_UNITS_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


@dataclass(frozen=True)
class DashQuery:
    where: str
    query: str
    time_from: str | None
    columns: tuple[str, ...] = ()
    """Columns the result must have (an annotation's text and tags columns)."""


def _panels(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for p in panels:
        out.append(p)
        out.extend(_panels(p.get("panels", [])))
    return out


PANELS = [p for p in _panels(DASHBOARD["panels"]) if p["type"] != "row"]
ANNOTATIONS = [a for a in DASHBOARD["annotations"]["list"] if not a.get("builtIn")]
VARIABLES = DASHBOARD["templating"]["list"]


def all_queries() -> list[DashQuery]:
    out = [
        DashQuery(f"panel {p['id']} {p['title']!r} target {t['refId']}", t["query"], p.get("timeFrom"))
        for p in PANELS
        for t in p["targets"]
    ]
    out += [
        DashQuery(
            f"annotation {a['name']!r}",
            a["target"]["query"],
            None,
            tuple(
                c
                for c in (
                    a["target"].get("textColumn"),
                    a["target"].get("tagsColumn"),
                    a["target"].get("timeEndColumn"),
                )
                if c
            ),
        )
        for a in ANNOTATIONS
    ]
    out += [DashQuery(f"variable {v['name']}", v["query"], None) for v in VARIABLES if v["type"] == "query"]
    return out


def _relative_s(text: str) -> float:
    if text == "now/d":  # today so far: since local midnight (the dashboard's time zone is the browser's)
        now = datetime.now().astimezone()
        return (now - now.replace(hour=0, minute=0, second=0, microsecond=0)).total_seconds()
    m = re.fullmatch(r"(?:now-)?(\d+)([smhdw])", text)
    assert m, f"unsupported relative time {text!r}"
    return int(m.group(1)) * _UNITS_S[m.group(2)]


def grafana_substitute(query: str, *, time_from: str | None, user: str, later_s: float = 0.0) -> str:
    """Grafana's InfluxQL macros for the dashboard's default range (or the panel's own), as Grafana does
    (``later_s``: as if the dashboard were opened that much later)."""
    now_ms = int((time.time() + later_s) * 1000)
    span_s = _relative_s(time_from or DASHBOARD["time"]["from"])
    from_ms = now_ms - int(span_s * 1000)
    interval_s = max(1, int(span_s // 1000))  # about 1000 points across the panel, as maxDataPoints does
    q = query.replace("$timeFilter", f"time >= {from_ms}ms and time <= {now_ms}ms")
    q = q.replace("$__interval_ms", str(interval_s * 1000)).replace("$__interval", f"{interval_s}s")
    q = q.replace("$__from", str(from_ms)).replace("$__to", str(now_ms))
    q = re.sub(r"\$\{user\}|\$user\b", re.escape(user), q)
    leftover = re.findall(r"\$\{?\w+", q)
    assert not leftover, f"macros this test does not know: {leftover} in {query!r}"
    return q


def test_dashboard_matches_grafanas_dashboard_model() -> None:
    """The dashboard JSON validates against the JSON Schema generated from @grafana/schema."""
    jsonschema.Draft7Validator.check_schema(SCHEMA)
    errors = sorted(jsonschema.Draft7Validator(SCHEMA).iter_errors(DASHBOARD), key=str)
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]]


def test_schema_rejects_a_panel_with_an_unknown_key() -> None:
    """The schema is strict enough to catch a misspelt panel key (so the check above means something)."""
    broken = copy.deepcopy(DASHBOARD)
    broken["panels"][1]["fieldconfig"] = {}
    assert not jsonschema.Draft7Validator(SCHEMA).is_valid(broken)


def test_every_panel_annotation_and_variable_names_the_provisioned_datasource() -> None:
    """Each panel, its targets, the prompt annotation and the user variable use the provisioned uid."""
    assert DATASOURCE_UID == "calmstrap-influxql"
    for p in PANELS:
        assert p["datasource"] == {"type": "influxdb", "uid": DATASOURCE_UID}, p["title"]
        assert p["targets"], f"panel {p['title']!r} has no query"
        for t in p["targets"]:
            assert t["datasource"]["uid"] == DATASOURCE_UID, p["title"]
            assert t.get("rawQuery") is True and t["query"].strip(), p["title"]
    for a in ANNOTATIONS:
        assert a["datasource"]["uid"] == a["target"]["datasource"]["uid"] == DATASOURCE_UID
    for v in VARIABLES:
        assert v["datasource"]["uid"] == DATASOURCE_UID


def test_dashboard_covers_what_the_issue_asks_for() -> None:
    """A user variable; arousal, HR/RMSSD, episodes, weekly progress, strap panels; prompts as annotations."""
    assert [v["name"] for v in VARIABLES] == ["user"]
    text = " ".join(t["query"] for p in PANELS for t in p["targets"])
    for needle in ('FROM "arousal"', '"mean_hr_bpm"', '"rmssd_ms"', 'FROM "episode"', '"median_amplitude"'):
        assert needle in text
    for needle in ('"median_t50_s"', '"resting_ln_rmssd_lo"', '"battery_pct"', '"connected"'):
        assert needle in text
    assert any('FROM "prompt"' in a["target"]["query"] for a in ANNOTATIONS)
    episodes = next(a for a in ANNOTATIONS if 'FROM "episode"' in a["target"]["query"])
    assert episodes["target"]["timeEndColumn"], "episodes are shaded regions: they need an end"
    for q in all_queries():
        if "variable" not in q.where:
            assert "/^$user$/" in q.query, q.where


@pytest.mark.parametrize("dq", all_queries(), ids=lambda dq: dq.where)
def test_query_returns_rows_on_pipeline_data(dq: DashQuery, pipeline_data: PipelineData) -> None:
    """Every panel's, annotation's and variable's query, macros substituted, returns rows from InfluxDB."""
    q = grafana_substitute(dq.query, time_from=dq.time_from, user=pipeline_data.user)
    results = pipeline_data.server.query(q, DB, epoch="ms")
    series = results[0].get("series", [])
    rows = [v for s in series for v in s["values"] if any(x is not None for x in v[1:])]
    assert rows, f"{dq.where}: no rows for {q}"
    for col in dq.columns:
        assert col in series[0]["columns"], f"{dq.where}: no column {col!r}"


NOW_PANELS = ("How you are now", "Heart rate now", "Arousal score now")


def test_now_panels_look_at_the_last_minutes_and_say_no_data() -> None:
    """State word, HR and score "now" cover only the last 3 minutes and say "no data" otherwise."""
    for title in NOW_PANELS:
        p = next(p for p in PANELS if p["title"] == title)
        assert p["timeFrom"] == "3m", title
        assert "no data" in p["fieldConfig"]["defaults"]["noValue"], title
    state = next(p for p in PANELS if p["title"] == "How you are now")
    words = {v["text"] for v in state["fieldConfig"]["defaults"]["mappings"][0]["options"].values()}
    assert words == {"calm", "activated", "very activated", "active (moving)"}


@pytest.mark.parametrize("title", NOW_PANELS)
def test_now_panels_return_nothing_once_the_strap_is_off(title: str, pipeline_data: PipelineData) -> None:
    """Ten minutes after the demo's last beat the "now" queries return no rows (Grafana shows "no data")."""
    p = next(p for p in PANELS if p["title"] == title)
    q = grafana_substitute(p["targets"][0]["query"], time_from="3m", user=pipeline_data.user, later_s=600.0)
    series = pipeline_data.server.query(q, DB, epoch="ms")[0].get("series", [])
    assert not [v for s in series for v in s["values"] if any(x is not None for x in v[1:])]


def test_prompt_annotations_leave_out_settling_messages() -> None:
    """Only real prompts are marked (the end-of-episode settling message is kind 'recovery')."""
    prompts = next(a for a in ANNOTATIONS if a["name"] == "Prompts")
    assert "\"kind\" != 'recovery'" in prompts["target"]["query"]
    assert prompts["target"]["tagsColumn"] == "outcome"


def test_resting_band_is_filled_between_its_edges() -> None:
    """The band fills from its upper edge down to its lower edge, not down to the axis."""
    band = next(p for p in PANELS if p["title"].startswith("Resting RMSSD per week"))
    props = {
        o["matcher"]["options"]: {x["id"]: x["value"] for x in o["properties"]}
        for o in band["fieldConfig"]["overrides"]
    }
    assert props["high"]["custom.fillBelowTo"] == "low" and props["high"]["custom.fillOpacity"] > 0
    assert props["low"]["custom.fillOpacity"] == 0
