"""How archive tables become InfluxDB measurements: the declarative field map (:data:`MEASUREMENTS`)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from storage.schema import WINDOW_FEATURES

ALLOWED_TAGS: frozenset[str] = frozenset({"user", "device", "window", "kind"})
"""The only tag keys (low cardinality: one series per user, strap, window length, kind)."""


class FieldType(Enum):
    FLOAT = "float"
    INT = "integer"
    STR = "string"


@dataclass(frozen=True, slots=True)
class Tag:
    key: str
    expr: str
    """An SQL expression over the table's columns."""


@dataclass(frozen=True, slots=True)
class Field:
    key: str
    expr: str
    """An SQL expression over the table's columns; NULL leaves the field out of that point."""
    type: FieldType = FieldType.FLOAT


@dataclass(frozen=True, slots=True)
class Measurement:
    """How one archive table becomes one InfluxDB measurement."""

    table: str
    name: str
    time_expr: str
    """SQL expression: the point's time in epoch seconds (with the tags, the point's identity)."""
    tags: tuple[Tag, ...]
    fields: tuple[Field, ...]
    """The first field must never be NULL (every point needs at least one field)."""


def _f(*keys: str) -> tuple[Field, ...]:
    return tuple(Field(k, k) for k in keys)


_STATE_LEVEL = (
    "CASE state WHEN 'calm' THEN 0 WHEN 'elevated' THEN 1 WHEN 'high' THEN 2 WHEN 'active' THEN 3 END"
)
_OUTCOME = (
    "CASE WHEN feedback_helped IS NOT NULL THEN CASE feedback_helped WHEN 1 THEN 'helped' ELSE 'no clear change' END"
    " WHEN helped = 1 THEN 'helped' WHEN helped = 0 THEN 'no clear change'"
    " WHEN outcome_t IS NOT NULL THEN 'not compared yet' ELSE 'not measured' END"
)

MEASUREMENTS: tuple[Measurement, ...] = (
    Measurement(
        "beats",
        "beat",
        "t",
        (Tag("user", "user"), Tag("device", "device")),
        (Field("rr_ms", "rr_ms"), Field("artifact", "artifact", FieldType.INT)),
    ),
    Measurement(
        "windows",
        "hrv",
        "t",
        (Tag("user", "user"), Tag("device", "device"), Tag("window", "channel")),
        (
            Field("valid", "valid", FieldType.INT),
            Field("window_s", "window_s"),
            Field("n_beats", "CAST(n_beats AS INTEGER)", FieldType.INT),
            *_f(*(c for c in WINDOW_FEATURES if c != "n_beats")),  # the archive's features, as they are
            Field("ln_rmssd", "calmstrap_ln(rmssd_ms)"),
        ),
    ),
    Measurement(
        "arousal",
        "arousal",
        "t",
        (Tag("user", "user"),),
        (
            Field("score", "score"),
            Field("a", "a"),
            Field("z_hr", "z_hr"),
            Field("z_ln_rmssd", "z_ln_rmssd"),
            Field("state", "state", FieldType.STR),
            Field("state_level", _STATE_LEVEL, FieldType.INT),
            # 0/1 per score: the dashboard's "time in each state" sums them in one query
            *(
                Field(f"in_{st}", f"state = '{st}'", FieldType.INT)
                for st in ("calm", "elevated", "high", "active")
            ),
            Field("warming_up", "warming_up", FieldType.INT),
            Field("gated", "gated", FieldType.INT),
            Field("hr_bpm", "hr_bpm"),
            Field("rmssd_ms", "rmssd_ms"),
        ),
    ),
    Measurement(
        "episodes",
        "episode",
        "onset_t",
        (Tag("user", "user"),),
        (
            Field("amplitude", "amplitude"),
            Field("id", "id", FieldType.STR),
            *_f("peak_t", "end_t", "peak_score", "peak_a", "amplitude_a", "duration_s", "recovery_s"),
            *_f("t50_s", "area_a_s"),
            Field("n_prompts", "json_array_length(prompt_ids)", FieldType.INT),
            Field("exertion", "exertion", FieldType.INT),
        ),
    ),
    Measurement(
        "prompts",
        "prompt",
        "t",
        (Tag("user", "user"), Tag("kind", "kind")),
        (
            Field("duration_s", "duration_s"),
            Field("id", "id", FieldType.STR),
            Field("template_id", "template_id", FieldType.STR),
            Field("title", "title", FieldType.STR),
            Field("reason_episode_id", "reason_episode_id", FieldType.STR),
            Field("reason_score", "reason_score"),
            Field("delivered_via", "delivered_via", FieldType.STR),
            Field("outcome", _OUTCOME, FieldType.STR),
            Field("outcome_t", "outcome_t"),
            Field("d_score", "d_score"),
            Field("d_ln_rmssd", "d_ln_rmssd"),
            Field("d_hr_bpm", "d_hr_bpm"),
            Field("helped", "helped", FieldType.INT),
            Field("feedback_helped", "feedback_helped", FieldType.INT),
            *_f("osc_freq_hz", "osc_amplitude_bpm", "osc_power_share"),
            Field("d_a", "d_a"),
            Field("came_down", "came_down", FieldType.INT),
            Field("helped_basis", "helped_basis", FieldType.STR),
            Field("n_reference", "n_reference", FieldType.INT),
        ),
    ),
    Measurement(
        "controls",
        "control",
        "t",
        (Tag("user", "user"), Tag("kind", "basis")),
        (
            Field("stage", "stage", FieldType.STR),
            Field("id", "id", FieldType.STR),
            Field("reason_episode_id", "reason_episode_id", FieldType.STR),
            Field("reason_score", "reason_score"),
            Field("a_at", "a_at"),
            Field("outcome_t", "outcome_t"),
            *_f("d_score", "d_ln_rmssd", "d_hr_bpm", "d_a"),
        ),
    ),
    Measurement(
        "baseline",
        "baseline",
        "t",
        (Tag("user", "user"), Tag("kind", "bin")),
        (
            *_f("ln_rmssd", "ln_rmssd_sd", "hr_bpm", "hr_sd"),
            Field("ln_rmssd_lo", "ln_rmssd - ln_rmssd_sd"),
            Field("ln_rmssd_hi", "ln_rmssd + ln_rmssd_sd"),
            Field("n_windows", "n_windows", FieldType.INT),
            Field("source", "source", FieldType.STR),
        ),
    ),
    Measurement(
        "device_status",
        "strap",
        "t",
        (Tag("user", "user"), Tag("device", "device")),
        (
            Field("has_battery", "battery_pct IS NOT NULL", FieldType.INT),
            Field("battery_pct", "battery_pct"),
            Field("connected", "connected", FieldType.INT),
        ),
    ),
    Measurement(
        "gaps",
        "gap",
        "start_t",
        (Tag("user", "user"), Tag("device", "device"), Tag("kind", "reason")),
        (Field("duration_s", "end_t - start_t"), Field("end_t", "end_t")),
    ),
    Measurement(
        "motion",
        "motion",
        "t",
        (Tag("user", "user"), Tag("device", "device")),
        (Field("intensity", "intensity"),),
    ),
    Measurement(
        "weekly_progress",
        "weekly",
        "week_start_t",
        (Tag("user", "user"),),
        (
            Field("week", "week", FieldType.STR),
            Field("hours_worn", "hours_worn"),
            Field("episodes", "episodes", FieldType.INT),
            *_f("episodes_per_hour", "median_amplitude", "median_t50_s", "median_recovery_s"),
            *_f("resting_ln_rmssd", "resting_ln_rmssd_lo", "resting_ln_rmssd_hi", "resting_hr_bpm"),
            Field("prompts_sent", "prompts_sent", FieldType.INT),
            Field("prompts_helped", "prompts_helped", FieldType.INT),
            Field("helped_share", "helped_share"),
        ),
    ),
    Measurement(
        "practice",
        "practice",
        "start_t",
        (Tag("user", "user"),),
        (
            Field("minutes", "minutes"),
            Field("id", "id", FieldType.STR),
            Field("origin", "origin", FieldType.STR),
            Field("completed", "completed", FieldType.INT),
            Field("n_beats", "n_beats", FieldType.INT),
            *_f(
                "end_t",
                "breaths_per_min",
                "osc_freq_hz",
                "osc_amplitude_bpm",
                "osc_power_share",
                "hr_change_bpm",
            ),
        ),
    ),
)

for _m in MEASUREMENTS:
    if not {t.key for t in _m.tags} <= ALLOWED_TAGS:
        raise AssertionError(f"{_m.name}: tags must be among {sorted(ALLOWED_TAGS)}")


def measurement_for(table: str) -> Measurement:
    for m in MEASUREMENTS:
        if m.table == table:
            return m
    raise KeyError(table)
