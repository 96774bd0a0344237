"""The JSON payloads calmstrap publishes, with their schemas as data (JSON Schema, draft 2020-12).

Every payload is a JSON object with a ``schema`` field (``calmstrap.<topic>/<version>``); NaN becomes
null. Times are epoch seconds on the pipeline's clock (the beat clock). The prompt payload also carries
``event_type`` (the prompt kind) so that Home Assistant's MQTT event entity can use it as is.
"""

from __future__ import annotations

import json
import math
from typing import Any

from alerts.catalog import Prompt, PromptKind
from alerts.commands import (
    COMMAND_SCHEMA_ID,
    MAX_BREATHS_PER_MIN,
    MAX_PRACTICE_MIN,
    MAX_PROMPT_ID_LEN,
    MAX_SNOOZE_MIN,
    MIN_BREATHS_PER_MIN,
    MIN_PRACTICE_MIN,
)
from alerts.notify import StrapStatus
from processing.arousal import Arousal, ArousalState
from processing.episodes import Episode, EpisodeOnset

PROMPT_SCHEMA_ID = "calmstrap.prompt/1"
STATE_SCHEMA_ID = "calmstrap.state/1"
EPISODE_SCHEMA_ID = "calmstrap.episode/1"

_NUM = {"type": "number"}
_NUM_OR_NULL = {"type": ["number", "null"]}
_STR = {"type": "string", "minLength": 1}

PROMPT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": PROMPT_SCHEMA_ID,
    "type": "object",
    "required": [
        "schema",
        "id",
        "user",
        "t",
        "expires_t",
        "kind",
        "event_type",
        "title",
        "body",
        "duration_s",
        "template_id",
        "breathing",
        "reason",
    ],
    "properties": {
        "schema": {"const": PROMPT_SCHEMA_ID},
        "id": _STR,
        "user": _STR,
        "t": _NUM,
        "expires_t": _NUM,
        "kind": {"enum": [k.value for k in PromptKind]},
        "event_type": {"enum": [k.value for k in PromptKind]},
        "title": _STR,
        "body": _STR,
        "duration_s": {"type": "integer", "minimum": 1},
        "template_id": _STR,
        "breathing": {
            "type": ["object", "null"],
            "required": ["inhale_s", "hold_s", "exhale_s"],
            "properties": {"inhale_s": _NUM, "hold_s": _NUM, "exhale_s": _NUM},
        },
        "reason": {
            "type": "object",
            "required": ["episode_id", "score"],
            "properties": {"episode_id": {"type": ["string", "null"]}, "score": _NUM_OR_NULL},
        },
    },
}

STATE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": STATE_SCHEMA_ID,
    "type": "object",
    "required": [
        "schema",
        "user",
        "t",
        "hr_bpm",
        "rmssd_ms",
        "score",
        "state",
        "warming_up",
        "device",
        "connected",
        "battery_pct",
    ],
    "properties": {
        "schema": {"const": STATE_SCHEMA_ID},
        "user": _STR,
        "t": _NUM,
        "hr_bpm": _NUM_OR_NULL,
        "rmssd_ms": _NUM_OR_NULL,
        "score": _NUM_OR_NULL,
        "state": {"enum": [s.value for s in ArousalState]},
        "warming_up": {"type": "boolean"},
        "baseline_progress": _NUM_OR_NULL,
        "baseline_minutes": _NUM_OR_NULL,
        "device": {"type": ["string", "null"]},
        "connected": {"type": "boolean"},
        "battery_pct": _NUM_OR_NULL,
    },
}

EPISODE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": EPISODE_SCHEMA_ID,
    "type": "object",
    "required": ["schema", "event", "episode_id", "user", "onset_t"],
    "properties": {
        "schema": {"const": EPISODE_SCHEMA_ID},
        "event": {"enum": ["onset", "end"]},
        "episode_id": _STR,
        "user": _STR,
        "onset_t": _NUM,
    },
}


_SENT_T = {"type": "number", "minimum": 0, "maximum": 1e11, "description": "when it was sent (epoch s)"}
_COMMON = {"schema": {"const": COMMAND_SCHEMA_ID}, "t": _SENT_T}


def _command(name: str, required: list[str], props: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["command", *required],
        "properties": {"command": {"const": name}, **_COMMON, **props},
    }


COMMAND_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": COMMAND_SCHEMA_ID,
    "description": "Inbound on <base>/<user>/command (never retained) and from the person's page; "
    "a command whose t is over a minute old is ignored (alerts/commands.py).",
    "oneOf": [
        _command(
            "snooze", ["minutes"], {"minutes": {"type": "number", "minimum": 0, "maximum": MAX_SNOOZE_MIN}}
        ),
        _command(
            "feedback",
            ["prompt_id", "helped"],
            {
                "prompt_id": {"type": "string", "minLength": 1, "maxLength": MAX_PROMPT_ID_LEN},
                "helped": {"type": "boolean"},
            },
        ),
        _command(
            "practice",
            [],
            {
                "minutes": {"type": "number", "minimum": MIN_PRACTICE_MIN, "maximum": MAX_PRACTICE_MIN},
                "breaths_per_min": {
                    "type": "number",
                    "minimum": MIN_BREATHS_PER_MIN,
                    "maximum": MAX_BREATHS_PER_MIN,
                },
            },
        ),
    ],
}


def _f(x: float | None, ndigits: int = 3) -> float | None:
    if x is None or not math.isfinite(x):
        return None
    return round(float(x), ndigits)


def prompt_payload(p: Prompt) -> dict[str, Any]:
    breathing = None
    if p.inhale_s is not None and p.exhale_s is not None:
        breathing = {"inhale_s": p.inhale_s, "hold_s": p.hold_s or 0.0, "exhale_s": p.exhale_s}
    return {
        "schema": PROMPT_SCHEMA_ID,
        "id": p.id,
        "user": p.user,
        "t": _f(p.t),
        "expires_t": _f(p.expires_t),
        "kind": p.kind.value,
        "event_type": p.kind.value,
        "title": p.title,
        "body": p.body,
        "duration_s": int(p.duration_s),
        "template_id": p.template_id,
        "breathing": breathing,
        "reason": {"episode_id": p.reason_episode_id, "score": _f(p.reason_score, 1)},
    }


def state_payload(user: str, x: Arousal, strap: StrapStatus | None) -> dict[str, Any]:
    return {
        "schema": STATE_SCHEMA_ID,
        "user": user,
        "t": _f(x.t),
        "hr_bpm": _f(x.hr_bpm, 1),
        "rmssd_ms": _f(x.rmssd_ms, 1),
        "score": _f(x.score, 1),
        "state": x.state.value,
        "warming_up": bool(x.warming_up),
        "baseline_progress": _f(x.warmup_fraction, 2),
        "baseline_minutes": _f(x.baseline_minutes, 0),
        "device": strap.device if strap is not None else None,
        "connected": strap.connected if strap is not None else True,
        "battery_pct": _f(strap.battery_pct, 0) if strap is not None else None,
    }


def episode_payload(user: str, event: EpisodeOnset | Episode) -> dict[str, Any]:
    if isinstance(event, EpisodeOnset):
        return {
            "schema": EPISODE_SCHEMA_ID,
            "event": "onset",
            "episode_id": event.episode_id,
            "user": user,
            "onset_t": _f(event.onset_t),
            "detected_t": _f(event.detected_t),
            "score": _f(event.score, 1),
            "exertion": bool(event.exertion),
        }
    return {
        "schema": EPISODE_SCHEMA_ID,
        "event": "end",
        "episode_id": event.id,
        "user": user,
        "onset_t": _f(event.onset_t),
        "peak_t": _f(event.peak_t),
        "end_t": _f(event.end_t),
        "peak_score": _f(event.peak_score, 1),
        "amplitude": _f(event.amplitude, 1),
        "duration_s": _f(event.duration_s, 1),
        "recovery_s": _f(event.recovery_s, 1),
        "prompt_ids": list(event.prompt_ids),
        "exertion": bool(event.exertion),
    }


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode("utf-8")
