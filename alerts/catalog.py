"""The prompt catalog: a declarative table of short somatic down-regulation prompts.

Wording rules: warm, short, no diagnosis words, no shaming, no promises. Each entry carries a one-line
evidence note for the curious (and for the therapist export).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from alerts.errors import CatalogError
from processing.outcomes import PromptOutcome

STOP_IF_WORSE = "Stop if this feels worse, and breathe the way that feels natural."
"""Said with every breathing prompt and practice (the page, pushes)."""


class PromptKind(StrEnum):
    BREATHING = "breathing"
    SIGH = "sigh"
    EXHALE = "exhale"
    ORIENTING = "orienting"
    GROUNDING = "grounding"
    URGE_SURFING = "urge_surfing"
    RECOVERY = "recovery"
    CHECK_IN = "check_in"
    """Asks instead of assuming: a rise that may be physical work (no motion data to tell)."""


@dataclass(frozen=True, slots=True)
class PromptTemplate:
    id: str
    kind: PromptKind
    title: str
    body: str
    duration_s: int
    evidence: str
    inhale_s: float | None = None
    hold_s: float | None = None
    exhale_s: float | None = None


@dataclass(frozen=True, slots=True)
class Prompt:
    """A prompt sent to a person; ``outcome`` is filled in a few minutes later."""

    id: str
    user: str
    t: float
    kind: PromptKind
    title: str
    body: str
    duration_s: int
    template_id: str
    expires_t: float
    reason_episode_id: str | None = None
    reason_score: float | None = None
    inhale_s: float | None = None
    hold_s: float | None = None
    exhale_s: float | None = None
    outcome: PromptOutcome | None = None
    feedback_helped: bool | None = None


CATALOG: tuple[PromptTemplate, ...] = (
    PromptTemplate(
        id="slow-breathing-6",
        kind=PromptKind.BREATHING,
        title="Slow breathing",
        body="Let's slow the breath together: in through the nose for 4, out gently for 6. About a minute.",
        duration_s=60,
        evidence="Breathing near 6 per minute amplifies the ~0.1 Hz heart-rate oscillation (resonance "
        "breathing; Lehrer & Gevirtz 2014).",
        inhale_s=4.0,
        hold_s=0.0,
        exhale_s=6.0,
    ),
    PromptTemplate(
        id="cyclic-sigh",
        kind=PromptKind.SIGH,
        title="Physiological sigh",
        body="Two breaths in through the nose, the second a small top-up, then one long slow breath out. "
        "Repeat a few times.",
        duration_s=60,
        evidence="Five minutes a day of cyclic sighing improved mood and lowered respiratory rate more than "
        "mindfulness (Balban et al. 2023, Cell Reports Medicine).",
        inhale_s=3.0,
        hold_s=0.0,
        exhale_s=6.0,
    ),
    PromptTemplate(
        id="long-exhale",
        kind=PromptKind.EXHALE,
        title="Longer out-breath",
        body="Breathe in for 4, and let the out-breath be longer, 8 if that's comfortable. Shoulders soft.",
        duration_s=90,
        evidence="Exhale-weighted breathing raises vagally mediated HRV in short lab sessions "
        "(e.g. Laborde et al. 2022 meta-analysis).",
        inhale_s=4.0,
        hold_s=0.0,
        exhale_s=8.0,
    ),
    PromptTemplate(
        id="orienting-54321",
        kind=PromptKind.ORIENTING,
        title="5-4-3-2-1",
        body="Look around slowly. Name 5 things you see, 4 you can touch, 3 you hear, 2 you smell, 1 you taste.",
        duration_s=90,
        evidence="Sensory orienting is a common grounding practice in trauma-informed care; it shifts "
        "attention to the present surroundings.",
    ),
    PromptTemplate(
        id="feet-on-floor",
        kind=PromptKind.GROUNDING,
        title="Where you are held",
        body="Notice where your body touches something solid: your feet, the seat, the bed or the floor. "
        "Let your weight rest there for a few breaths.",
        duration_s=60,
        evidence="Interoceptive grounding through contact and weight is a core somatic-therapy exercise.",
    ),
    PromptTemplate(
        id="sit-with-the-wave",
        kind=PromptKind.URGE_SURFING,
        title="Let the wave pass",
        body="This feeling is a wave, and waves pass. Give it ten minutes before acting on the urge.",
        duration_s=600,
        evidence="Urge surfing: noticing an urge rise and fall without acting on it (Marlatt; Bowen et al. "
        "2009).",
    ),
)

RECOVERY_MESSAGES: tuple[PromptTemplate, ...] = (
    PromptTemplate(
        id="recovery-settled",
        kind=PromptKind.RECOVERY,
        title="Settling",
        body="Your body is settling again. Nice work staying with it.",
        duration_s=10,
        evidence="Positive reinforcement of a completed down-regulation.",
    ),
)

CHECK_IN_MESSAGES: tuple[PromptTemplate, ...] = (
    PromptTemplate(
        id="moving-or-something-up",
        kind=PromptKind.CHECK_IN,
        title="Moving, or is something up?",
        body="Your heart has been quick for a while. If you are on the move, carry on. If something is up, "
        "let one breath out be slow and long.",
        duration_s=30,
        evidence="Without motion data a fast heart can be effort or feeling; asking keeps the person the judge.",
    ),
)


def validate_catalog(entries: tuple[PromptTemplate, ...]) -> None:
    """Raise :class:`CatalogError` for an entry that is not well formed."""
    seen: set[str] = set()
    banned = ("disorder", "diagnos", "panic attack", "patholog", "you should", "guarantee", "cure")
    for e in entries:
        if e.id in seen:
            raise CatalogError(e.id, "duplicate id")
        seen.add(e.id)
        if not e.title or not e.body:
            raise CatalogError(e.id, "title and body are required")
        if e.duration_s <= 0:
            raise CatalogError(e.id, "duration_s must be > 0")
        low = e.body.lower()
        for word in banned:
            if word in low:
                raise CatalogError(e.id, f"wording contains {word!r}")
        if (e.inhale_s is None) != (e.exhale_s is None):
            raise CatalogError(e.id, "a breathing pattern needs both inhale_s and exhale_s")


def by_id(template_id: str) -> PromptTemplate:
    for e in CATALOG + RECOVERY_MESSAGES + CHECK_IN_MESSAGES:
        if e.id == template_id:
            return e
    raise CatalogError(template_id, "no such prompt")
