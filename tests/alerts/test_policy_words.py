"""The person's choices in the policy: kinds switched off, and a recovery message only when it is true."""

from __future__ import annotations

import dataclasses
from datetime import UTC

from alerts.catalog import CATALOG, PromptKind, by_id
from alerts.policy import PromptPolicy
from processing.arousal import ArousalState
from processing.episodes import EpisodeDetector
from tests.alerts.test_policy import NEVER_QUIET, hours, run_day, sample


def test_switched_off_kinds_are_never_chosen() -> None:
    """With every kind but "exhale" off, every prompt of a day of episodes is the long exhale."""
    off = frozenset(k for k in PromptKind if k not in (PromptKind.EXHALE, PromptKind.RECOVERY))
    cfg = dataclasses.replace(NEVER_QUIET, disabled_kinds=off, cooldown_s=0.0, max_per_hour=50)
    policy = PromptPolicy(user="me", config=cfg, tz=UTC, seed=4)
    levels = [(h, 400.0, 2.5) for h in (1.0, 3.0, 5.0, 7.0, 9.0, 11.0)]
    prompts, _ = run_day(levels, policy, end_h=13.0)
    kinds = {p.kind for p in prompts if p.kind is not PromptKind.RECOVERY}
    assert kinds == {PromptKind.EXHALE}
    assert all(p.template_id == "long-exhale" for p in prompts if p.kind is PromptKind.EXHALE)


def test_recovery_switched_off_sends_no_settling_message() -> None:
    """``recovery`` in disabled_kinds: a prompted episode ends without a message."""
    cfg = dataclasses.replace(NEVER_QUIET, disabled_kinds=frozenset({PromptKind.RECOVERY}))
    prompts, eps = run_day([(12.0, 200.0, 2.5)], PromptPolicy(user="me", config=cfg, tz=UTC, seed=1))
    assert eps and prompts
    assert all(p.kind is not PromptKind.RECOVERY for p in prompts)


def test_no_settling_message_when_a_run_ends_while_arousal_is_still_high() -> None:
    """An episode closed by the end of a recording at its peak gets no "your body is settling" message."""
    policy = PromptPolicy(user="me", config=NEVER_QUIET, tz=UTC, seed=1)
    det = EpisodeDetector(user="me", onset_a=1.5, end_a=0.5)
    sent = []
    t = hours(12.0)
    for i in range(60):  # five minutes high
        x = sample(t + 5.0 * i, 2.5)
        assert x.state is ArousalState.HIGH
        policy.on_arousal(x)
        for ev in det.update(x):
            p = policy.on_onset(ev)  # type: ignore[arg-type]
            if p is not None:
                sent.append(p)
    assert sent  # the episode was prompted
    (ep,) = det.flush()
    assert policy.on_episode_end(ep, ep.end_t) is None


def test_grounding_text_does_not_assume_a_posture() -> None:
    """The grounding prompt names feet, seat, bed or floor, never only a chair or sitting."""
    tpl = by_id("feet-on-floor")
    text = (tpl.title + " " + tpl.body).lower()
    assert "chair" not in text and "sit" not in text
    assert all("chair" not in t.body.lower() for t in CATALOG)
