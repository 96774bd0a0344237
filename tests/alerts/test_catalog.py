"""The prompt catalog as data: complete, well formed, worded by the rules."""

from __future__ import annotations

import dataclasses

import pytest

from alerts.catalog import CATALOG, RECOVERY_MESSAGES, PromptKind, validate_catalog
from alerts.errors import CatalogError


def test_catalog_has_the_six_practices_each_with_an_evidence_note() -> None:
    """At least six prompts covering the six named practices, each with an evidence note."""
    assert len(CATALOG) >= 6
    kinds = {t.kind for t in CATALOG}
    assert kinds >= {
        PromptKind.BREATHING,
        PromptKind.SIGH,
        PromptKind.EXHALE,
        PromptKind.ORIENTING,
        PromptKind.GROUNDING,
        PromptKind.URGE_SURFING,
    }
    assert all(len(t.evidence) >= 30 for t in CATALOG)


def test_catalog_passes_its_own_validation_and_bodies_are_short() -> None:
    """Every entry validates; bodies fit a phone notification (<= 160 characters), titles <= 30."""
    validate_catalog(CATALOG + RECOVERY_MESSAGES)
    assert all(len(t.body) <= 160 and len(t.title) <= 30 for t in CATALOG + RECOVERY_MESSAGES)


def test_slow_breathing_is_near_six_breaths_per_minute() -> None:
    """The slow-breathing pattern is 5.5-6.5 breaths per minute."""
    t = next(t for t in CATALOG if t.kind is PromptKind.BREATHING)
    assert t.inhale_s is not None and t.exhale_s is not None
    assert 5.5 <= 60.0 / (t.inhale_s + (t.hold_s or 0.0) + t.exhale_s) <= 6.5


def test_urge_surfing_prompt_says_ten_minutes() -> None:
    """The wave prompt asks for ten minutes before acting on the urge."""
    t = next(t for t in CATALOG if t.kind is PromptKind.URGE_SURFING)
    assert "ten minutes" in t.body and "urge" in t.body


@pytest.mark.parametrize("body", ["This is a panic attack.", "You should calm down.", "This will cure it."])
def test_validation_rejects_diagnosis_shaming_or_promises(body: str) -> None:
    """Diagnosis words, 'you should' and promises are refused."""
    bad = dataclasses.replace(CATALOG[0], body=body)
    with pytest.raises(CatalogError):
        validate_catalog((bad,))
