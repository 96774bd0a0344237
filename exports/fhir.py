"""FHIR R4 export: one Bundle (type ``collection``) as a ``.json`` file.

Per local day (the person's time zone) with valid 5-minute (300 s) windows, three Observations, each the median over that day's valid
windows, with ``effectivePeriod`` from the first to the last window:

* heart rate: LOINC 8867-4, vital-signs category, UCUM ``/min``;
* SDNN: LOINC 80404-7 ("R-R interval.standard deviation (Heart rate variability)"), UCUM ``ms``;
* RMSSD: there is no LOINC code for it, so it is filed under calmstrap's own code system
  (:data:`CALMSTRAP_SYSTEM`, code ``rmssd``), never under 80404-7, which is SDNN.

Each arousal episode is an Observation with calmstrap code ``arousal-episode``, its onset-to-end period and
components for peak score, amplitude (in score points and in the person's baseline SDs, which do not
saturate), time to half-way down and recovery. The strap is a Device resource that
every Observation references. The subject is written as a display name only (the label, or the user id).
Ids are UUIDs derived from the content, so exporting the same data twice gives the same bundle.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

from exports.dataset import ExportData, Progress, iso_utc, zone_name
from exports.files import Staging, safe_name
from processing.progress import local_date

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
CALMSTRAP_SYSTEM = "urn:calmstrap:fhir:codes"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
LOINC_HEART_RATE = "8867-4"
LOINC_SDNN = "80404-7"
_NS = uuid.UUID("6f1c1c2e-93a4-4c57-9f43-2a7d0c0b5e11")


@dataclass(frozen=True, slots=True)
class Code:
    system: str
    code: str
    display: str
    unit: str
    ucum: str


HEART_RATE = Code(LOINC, LOINC_HEART_RATE, "Heart rate", "beats/minute", "/min")
SDNN = Code(LOINC, LOINC_SDNN, "R-R interval.standard deviation (Heart rate variability)", "ms", "ms")
RMSSD = Code(
    CALMSTRAP_SYSTEM, "rmssd", "RMSSD: root mean square of successive RR interval differences", "ms", "ms"
)
EPISODE = Code(CALMSTRAP_SYSTEM, "arousal-episode", "Arousal episode (calmstrap)", "", "")
EPISODE_PARTS: tuple[tuple[str, str, str, str, str], ...] = (
    # attribute, code, display, unit, UCUM code
    ("peak_score", "episode-peak-score", "Peak arousal score (0-100)", "score", "{score}"),
    ("amplitude", "episode-amplitude", "Amplitude: peak minus the minute before onset", "score", "{score}"),
    (
        "amplitude_a",
        "episode-amplitude-sd",
        "Amplitude in the person's own baseline standard deviations (does not flatten near the top)",
        "baseline SD",
        "{SD}",
    ),
    ("t50_s", "episode-t50", "Time from peak to half-way down", "s", "s"),
    ("recovery_s", "episode-recovery", "Time from peak back to calm", "s", "s"),
    ("duration_s", "episode-duration", "Onset to end", "s", "s"),
)
WELLNESS_NOTE = "Wellness data from a consumer chest strap (calmstrap); not from a medical device."


def _uuid(*parts: object) -> str:
    return f"urn:uuid:{uuid.uuid5(_NS, '|'.join(str(p) for p in parts))}"


def _concept(c: Code) -> dict[str, Any]:
    return {"coding": [{"system": c.system, "code": c.code, "display": c.display}], "text": c.display}


def _quantity(value: float, unit: str, ucum: str, decimals: int = 2) -> dict[str, Any]:
    return {"value": round(float(value), decimals), "unit": unit, "system": UCUM, "code": ucum}


def _observation(
    data: ExportData, device_ref: str, code: Code, start_t: float, end_t: float, key: str
) -> dict[str, Any]:
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "id": _uuid(data.range.name, code.code, key).rsplit(":", 1)[1],
        "status": "final",
        "code": _concept(code),
        "subject": {"display": data.range.name},
        "effectivePeriod": {"start": iso_utc(start_t), "end": iso_utc(end_t)},
        "device": {"reference": device_ref},
    }
    if code.system == LOINC:
        obs["category"] = [
            {"coding": [{"system": OBS_CATEGORY, "code": "vital-signs", "display": "Vital Signs"}]}
        ]
    return obs


def bundle(data: ExportData, progress: Progress | None = None) -> dict[str, Any]:
    """The Bundle as a JSON-ready dict."""
    entries: list[dict[str, Any]] = []
    device_refs: dict[str, str] = {}
    for dev in data.devices:
        ref = _uuid("device", data.range.name, dev)
        device_refs[dev] = ref
        entries.append(
            {
                "fullUrl": ref,
                "resource": {
                    "resourceType": "Device",
                    "id": ref.rsplit(":", 1)[1],
                    "deviceName": [{"name": dev, "type": "user-friendly-name"}],
                    "note": [{"text": WELLNESS_NOTE}],
                },
            }
        )
    w = data.windows
    slow = w[(w["channel"] == "300s") & (w["valid"] == 1)]
    tz = data.range.tz
    day = [local_date(t, tz).isoformat() for t in slow["t"].tolist()]
    by_key: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, (dev, d) in enumerate(zip(slow["dev"].tolist(), day, strict=True)):
        by_key[(data.devices[dev], d)].append(i)
    n_keys = max(1, len(by_key))
    for k, ((dev, d), idx) in enumerate(sorted(by_key.items())):
        rows = slow[np.asarray(idx)]
        ref = device_refs.get(dev) or _uuid("device", data.range.name, dev)
        t0 = float(rows["t"][0] - rows["window_s"][0])
        t1 = float(rows["t"][-1])
        note = f"Median of {len(rows)} valid 5-minute windows on {d} ({zone_name(tz)}). {WELLNESS_NOTE}"
        for code, field in ((HEART_RATE, "mean_hr_bpm"), (SDNN, "sdnn_ms"), (RMSSD, "rmssd_ms")):
            vals = rows[field]
            vals = vals[np.isfinite(vals)]
            if len(vals) == 0:
                continue
            obs = _observation(data, ref, code, t0, t1, f"{dev}|{d}")
            obs["valueQuantity"] = _quantity(float(np.median(vals)), code.unit, code.ucum, 1)
            obs["note"] = [{"text": note}]
            entries.append({"fullUrl": f"urn:uuid:{obs['id']}", "resource": obs})
        if progress and k % 16 == 0:
            progress("fhir", 0.8 * (k + 1) / n_keys)
    dev_ref = device_refs[data.devices[0]]
    for e in data.episodes:
        obs = _observation(data, dev_ref, EPISODE, e.onset_t, e.end_t, e.id)
        obs["identifier"] = [{"system": CALMSTRAP_SYSTEM + ":episode", "value": e.id}]
        obs["component"] = [
            {
                "code": {
                    "coding": [{"system": CALMSTRAP_SYSTEM, "code": code, "display": disp}],
                    "text": disp,
                },
                "valueQuantity": _quantity(getattr(e, attr), unit, ucum, 1),
            }
            for attr, code, disp, unit, ucum in EPISODE_PARTS
        ]
        entries.append({"fullUrl": f"urn:uuid:{obs['id']}", "resource": obs})
    if progress:
        progress("fhir", 0.9)
    return {
        "resourceType": "Bundle",
        "id": _uuid("bundle", data.range.name, data.range.start_t, data.range.end_t).rsplit(":", 1)[1],
        "type": "collection",
        "timestamp": iso_utc(data.last_t),
        "entry": entries,
    }


def file_name(name: str) -> str:
    return f"{safe_name(name)}_fhir.json"


def write(data: ExportData, stage: Staging, progress: Progress | None = None) -> int:
    b = bundle(data, progress)
    with stage.open_text(file_name(data.range.name)) as f:
        json.dump(b, f, indent=1, ensure_ascii=False)
        f.write("\n")
    if progress:
        progress("fhir", 1.0)
    return 1
