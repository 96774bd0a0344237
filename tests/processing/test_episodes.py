"""Episode detection on the arousal composite A (issue 4, point 6)."""

from __future__ import annotations

import pytest

from processing.arousal import Arousal, ArousalState, score_from_a
from processing.episodes import Episode, EpisodeDetector, EpisodeOnset


def _feed(
    profile: list[tuple[float, float]] | list[tuple[float, float, str]], step_s: float = 5.0
) -> list[EpisodeOnset | Episode]:
    """Feed a piecewise-constant A profile [(duration s, A[, flag]), ...] sampled every ``step_s``; flag is
    ``gated``, ``settling`` or ``exertion``."""
    det = EpisodeDetector(user="u")
    out: list[EpisodeOnset | Episode] = []
    t = 0.0
    for dur, a, *flag in profile:
        end = t + dur
        flags = {f: True for f in flag}
        while t < end:
            x = Arousal(t, score_from_a(a), a, 0.0, 0.0, ArousalState.CALM, warming_up=False, **flags)  # type: ignore[arg-type]
            out.extend(det.update(x))
            t += step_s
    out.extend(det.flush())
    return out


def _episodes(out: list[EpisodeOnset | Episode]) -> list[Episode]:
    return [o for o in out if isinstance(o, Episode)]


def test_onset_needs_sixty_seconds_above_one_and_a_half() -> None:
    """A held at 2.0 for 45 s is no episode; for 90 s it is."""
    assert not _episodes(_feed([(300, 0.0), (45, 2.0), (600, 0.0)]))
    assert len(_episodes(_feed([(300, 0.0), (90, 2.0), (600, 0.0)]))) == 1


def test_onset_is_dated_back_to_the_last_upcrossing_of_half() -> None:
    """Onset is when A last rose through 0.5, not when the hold was complete."""
    out = _feed([(300, 0.0), (60, 1.0), (120, 2.0), (600, 0.0)])
    onset = next(o for o in out if isinstance(o, EpisodeOnset))
    assert onset.onset_t == pytest.approx(300.0)
    assert onset.detected_t == pytest.approx(300.0 + 60.0 + 60.0)


def test_end_is_start_of_120_s_below_half_and_metrics() -> None:
    """End at the start of the first 120 s run below 0.5; duration, t50, recovery follow from it."""
    (ep,) = _episodes(_feed([(300, 0.0), (120, 3.0), (60, 1.0), (30, 0.2), (30, 0.8), (600, 0.0)]))
    assert ep.onset_t == pytest.approx(300.0)
    assert ep.end_t == pytest.approx(540.0)
    assert ep.duration_s == pytest.approx(240.0)
    assert ep.peak_a == pytest.approx(3.0)
    assert ep.t50_s == pytest.approx(120.0)  # peak at 300 s, first A <= 1.5 at 420 s
    assert ep.recovery_s == pytest.approx(240.0)
    assert ep.amplitude == pytest.approx(score_from_a(3.0) - 50.0)


def test_episodes_less_than_three_minutes_apart_merge() -> None:
    """Two bursts 2.5 minutes apart are one episode; 10 minutes apart they are two."""
    burst = [(90, 2.0)]
    assert len(_episodes(_feed([(300, 0.0), *burst, (150, 0.0), *burst, (600, 0.0)]))) == 1
    assert len(_episodes(_feed([(300, 0.0), *burst, (600, 0.0), *burst, (600, 0.0)]))) == 2


def test_active_stretch_is_never_an_episode() -> None:
    """A held high while gated (``active``) or ``settling`` never starts an episode."""
    for flag in ("gated", "settling"):
        assert not _feed([(300, 0.0), (600, 2.5, flag), (600, 0.0)])


def test_physical_work_ends_an_open_episode_and_flags_it() -> None:
    """An episode that runs into physical work ends there, kept and flagged ``exertion``."""
    (ep,) = _episodes(_feed([(300, 0.0), (120, 2.0), (600, 2.5, "gated"), (600, 0.0)]))
    assert ep.exertion and ep.end_t == pytest.approx(420.0, abs=5.0)


def test_onset_waits_while_exertion_is_undecided() -> None:
    """While HR is in the range of work (``exertion``) the onset waits; if it was not work, the episode
    starts, dated back to the rise, and is flagged."""
    out = _feed([(300, 0.0), (150, 2.0, "exertion"), (120, 2.0), (600, 0.0)])
    onset = next(o for o in out if isinstance(o, EpisodeOnset))
    assert onset.detected_t >= 450.0 and onset.onset_t == pytest.approx(300.0) and onset.exertion
    (ep,) = _episodes(out)
    assert ep.exertion


def test_undecided_exertion_that_becomes_work_is_no_episode() -> None:
    """Exertion that turns out to be sustained work (then ``active``) gives no episode at all."""
    assert not _feed([(300, 0.0), (180, 2.5, "exertion"), (900, 2.5, "gated"), (600, 0.0)])
