"""FHIR R4 bundle: validates with a FHIR model library; heart rate, SDNN and RMSSD filed under the right codes."""

from __future__ import annotations

import json
import statistics
from datetime import UTC, datetime
from typing import Any

from fhir.resources.R4B.bundle import Bundle

from exports.fhir import CALMSTRAP_SYSTEM, LOINC_HEART_RATE, LOINC_SDNN
from storage.archive import Archive
from tests.exports.conftest import LABEL, WEAR_DAYS, Exported, Month

# required bindings from the R4 specification (the model library checks structure and data types only)
OBSERVATION_STATUS = {
    "registered",
    "preliminary",
    "final",
    "amended",
    "corrected",
    "cancelled",
    "entered-in-error",
    "unknown",
}
BUNDLE_TYPES = {
    "document",
    "message",
    "transaction",
    "transaction-response",
    "batch",
    "batch-response",
    "history",
    "searchset",
    "collection",
}


def _bundle(exported: Exported) -> dict[str, Any]:
    out: dict[str, Any] = json.loads((exported.out / f"{LABEL}_fhir.json").read_text(encoding="utf-8"))
    return out


def _observations(b: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in b["entry"] if e["resource"]["resourceType"] == "Observation"]


def _codes(obs: dict[str, Any]) -> set[tuple[str, str]]:
    return {(c["system"], c["code"]) for c in obs["code"]["coding"]}


def test_bundle_validates(exported: Exported) -> None:
    """The bundle parses into fhir.resources' R4B models (strict: unknown fields and bad types are errors)."""
    b = _bundle(exported)
    model = Bundle.model_validate(b)
    assert model.type in BUNDLE_TYPES
    assert len(model.entry or []) == len(b["entry"])
    assert all(o["status"] in OBSERVATION_STATUS for o in _observations(b))
    assert len({e["fullUrl"] for e in b["entry"]}) == len(b["entry"])


def test_no_rmssd_carries_the_sdnn_code(exported: Exported) -> None:
    """RMSSD is filed under calmstrap's code system, never under LOINC 80404-7 (SDNN)."""
    obs = _observations(_bundle(exported))
    rmssd = [o for o in obs if "rmssd" in json.dumps(o["code"]).lower()]
    assert rmssd
    for o in rmssd:
        assert ("http://loinc.org", LOINC_SDNN) not in _codes(o)
        assert _codes(o) == {(CALMSTRAP_SYSTEM, "rmssd")}
    for o in obs:
        if ("http://loinc.org", LOINC_SDNN) in _codes(o):
            assert "rmssd" not in json.dumps(o["code"]).lower()


def test_daily_values_are_medians_of_valid_windows(
    exported: Exported, month_archive: Archive, month: Month
) -> None:
    """Per wear day one heart rate (8867-4) and one SDNN (80404-7): medians of that day's valid 5-minute windows."""
    obs = _observations(_bundle(exported))
    hr = [o for o in obs if ("http://loinc.org", LOINC_HEART_RATE) in _codes(o)]
    sdnn = [o for o in obs if ("http://loinc.org", LOINC_SDNN) in _codes(o)]
    assert len(hr) == len(sdnn) == len(WEAR_DAYS)
    for o_hr, o_sd in zip(hr, sdnn, strict=True):
        start = datetime.fromisoformat(o_hr["effectivePeriod"]["start"].replace("Z", "+00:00"))
        day0 = datetime(start.year, start.month, start.day, tzinfo=UTC).timestamp()
        rows = month_archive.query(
            "SELECT mean_hr_bpm, sdnn_ms FROM windows WHERE user = ? AND channel = '300s' AND valid = 1"
            " AND t >= ? AND t < ?",
            (month.user, day0, day0 + 86400),
        )
        assert o_hr["valueQuantity"]["value"] == round(statistics.median(r[0] for r in rows), 1)
        assert o_sd["valueQuantity"]["value"] == round(statistics.median(r[1] for r in rows), 1)
        assert o_hr["valueQuantity"]["code"] == "/min" and o_sd["valueQuantity"]["code"] == "ms"


def test_episodes_are_observations(exported: Exported, month_archive: Archive, month: Month) -> None:
    """Every archived episode is an Observation with its period and amplitude component."""
    obs = [o for o in _observations(_bundle(exported)) if (CALMSTRAP_SYSTEM, "arousal-episode") in _codes(o)]
    stored = month_archive.query(
        "SELECT amplitude FROM episodes WHERE user = ? ORDER BY onset_t", (month.user,)
    )
    assert len(obs) == len(stored)
    for o, (amp,) in zip(obs, stored, strict=True):
        comp = {c["code"]["coding"][0]["code"]: c["valueQuantity"]["value"] for c in o["component"]}
        assert comp["episode-amplitude"] == round(amp, 1)
        assert o["subject"] == {"display": LABEL}
