"""Words for the person: what the page says about a state, declared once.

No diagnosis words and no alarm: the arousal states are named as a person would say them, and the page
never shows a red 100. ``active`` is the state processing reports while the strap sees exercise.
"""

from __future__ import annotations

from dataclasses import dataclass

from alerts.catalog import STOP_IF_WORSE


@dataclass(frozen=True, slots=True)
class StateWords:
    state: str
    """The processing state (``processing.arousal.ArousalState`` value)."""
    word: str
    line: str


STATE_WORDS: tuple[StateWords, ...] = (
    StateWords("calm", "calm", "Your body seems settled."),
    StateWords("elevated", "activated", "A little activated. That's okay; it often passes by itself."),
    StateWords(
        "high", "very activated", "Your body is working hard right now. A slow out-breath can help it settle."
    ),
    StateWords("active", "active", "You're moving. The readings rest while you're active."),
    StateWords(
        "settling", "settling", "You just changed position. Your heart takes a minute or two to settle."
    ),
)
WARMING_UP_LINE = "Still learning your usual rhythm, so the words are a first guess for now."
__all__ = ["STATE_WORDS", "STOP_IF_WORSE", "WARMING_UP_LINE", "StateWords", "words_for"]


def words_for(state: str) -> StateWords:
    for w in STATE_WORDS:
        if w.state == state:
            return w
    return StateWords(state, state, "")
