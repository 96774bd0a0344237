"""Prompt outcomes (issue 4, point 7) and the paced-breathing HR oscillation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from processing.arousal import Arousal, ArousalState
from processing.outcomes import hr_oscillation, measure_outcome
from processing.stream import StreamConfig, StreamProcessor
from sensors.simulated import RRGenerator
from tests.processing.conftest import T0, drive


def _rr_from_hr(duration_s: float, hr: object) -> np.ndarray:
    out, t = [], 0.0
    while t < duration_s:
        rr = 60000.0 / hr(t)  # type: ignore[operator]
        out.append(rr)
        t += rr / 1000.0
    return np.asarray(out)


def test_hr_oscillation_amplitude_and_frequency() -> None:
    """HR = 70 ± 5 bpm at 0.1 Hz reads as 10 bpm peak-to-trough (within 10 %) at 0.1 Hz (within 1/90 Hz)."""
    rr = _rr_from_hr(90.0, lambda t: 70.0 + 5.0 * math.sin(2 * math.pi * 0.1 * t))
    osc = hr_oscillation(rr, target_hz=0.1)
    assert osc.amplitude_bpm == pytest.approx(10.0, rel=0.10)
    assert osc.freq_hz == pytest.approx(0.1, abs=1 / 90)
    assert osc.power_share > 0.8


def test_hr_oscillation_small_without_paced_rhythm() -> None:
    """Fast breathing (0.25 Hz) leaves little power near 0.1 Hz."""
    rr = _rr_from_hr(90.0, lambda t: 70.0 + 5.0 * math.sin(2 * math.pi * 0.25 * t))
    assert hr_oscillation(rr, target_hz=0.1).power_share < 0.1


def _samples(t0: float, n: int, hr: float, rmssd: float) -> list[Arousal]:
    return [
        Arousal(t0 + 5 * i, 60.0, 0.3, 0, 0, ArousalState.CALM, False, False, hr, rmssd) for i in range(n)
    ]


def test_came_down_needs_rmssd_rise_and_hr_drop() -> None:
    """Came down after: ln RMSSD up by more than half the resting SD and HR down by at least 2 bpm."""
    before = _samples(-120.0, 24, 80.0, 30.0)
    good = before + _samples(60.0, 25, 76.0, 30.0 * math.exp(0.2))
    hr_only = before + _samples(60.0, 25, 76.0, 30.0 * math.exp(0.05))
    assert measure_outcome("p", 0.0, good, resting_ln_rmssd_sd=0.3).came_down
    assert not measure_outcome("p", 0.0, hr_only, resting_ln_rmssd_sd=0.3).came_down


def test_no_reference_leaves_helped_unknown() -> None:
    """Without any control or matched stretch, a prompt that came down is not called helped: unknown."""
    before = _samples(-120.0, 24, 80.0, 30.0)
    good = before + _samples(60.0, 25, 76.0, 30.0 * math.exp(0.2))
    o = measure_outcome("p", 0.0, good, resting_ln_rmssd_sd=0.3)
    assert o.helped is None and o.helped_basis == "none yet" and o.n_reference == 0


def test_paced_prompt_outcome_carries_oscillation() -> None:
    """A paced-breathing prompt's outcome reports the HR oscillation; another prompt's does not."""
    proc = StreamProcessor(
        "u", "sim", StreamConfig(utc_offset_s=0.0, baseline_min_minutes=5.0)
    )  # personal before the episode at 10 min
    gen = RRGenerator(seed=3)
    drive(gen, 600.0, proc)
    proc.note_prompt("paced", proc.last_t, paced_breath_hz=0.1)
    proc.note_prompt("plain", proc.last_t)
    from processing.outcomes import PromptOutcome

    outs = [o for o in drive(gen, 300.0, proc, start_t=T0) if isinstance(o, PromptOutcome)]
    by_id = {o.prompt_id: o for o in outs}
    assert by_id["paced"].oscillation is not None and math.isfinite(by_id["paced"].oscillation.amplitude_bpm)
    assert by_id["plain"].oscillation is None


# -- helped against the person's controls ------------------------------------------------------------------


def test_prompt_that_does_nothing_is_helped_at_most_a_fifth_of_the_time() -> None:
    """Prompt and control changes from one distribution: helped in <= 20 % (+ sampling margin) of 4000 trials,
    for 4, 9 and 40 controls (the conformal rank rule)."""
    from processing.outcomes import compare_with_references

    rng = np.random.default_rng(2)
    for n in (4, 9, 40):
        helped = 0
        for _ in range(4000):
            v = compare_with_references(float(rng.normal()), True, controls_d_a=rng.normal(size=n))
            helped += bool(v.helped)
            assert v.basis == ("controls" if n >= 5 else "matched stretches")
        assert helped / 4000 <= 0.2 + 0.02


def test_prompt_clearly_better_than_every_control_helped() -> None:
    """A prompt whose A fell 1.5 SD against controls around +0.3 helped; one that did not come down did not."""
    from processing.outcomes import compare_with_references

    ctl = [0.2, 0.5, 0.1, 0.4, 0.3, 0.6]
    assert compare_with_references(-1.5, True, controls_d_a=ctl).helped is True
    assert compare_with_references(-1.5, False, controls_d_a=ctl).helped is False
    assert compare_with_references(0.35, True, controls_d_a=ctl).helped is False


def test_few_references_need_a_margin_over_every_one() -> None:
    """With 1-3 references the prompt's A must fall 0.75 SD more than at each of them."""
    from processing.outcomes import compare_with_references

    assert compare_with_references(-0.5, True, controls_d_a=[0.3]).helped is True
    assert compare_with_references(-0.4, True, controls_d_a=[0.3]).helped is False
    v = compare_with_references(-1.0, True, controls_d_a=[], matched_d_a=[0.3, -0.2])
    assert v.helped is True and v.basis == "matched stretches" and v.n_reference == 2


def test_controls_alone_once_there_are_five() -> None:
    """Five controls or more: matched stretches are no longer used (basis 'controls', n = the controls)."""
    from processing.outcomes import compare_with_references

    v = compare_with_references(-2.0, True, controls_d_a=[0.1] * 5, matched_d_a=[-3.0] * 10)
    assert v.basis == "controls" and v.n_reference == 5 and v.helped is True


def _episode_stream(seed: int, proc: StreamProcessor) -> list[object]:
    from sensors.simulated import ScriptedEpisode

    gen = RRGenerator(seed=seed, episodes=(ScriptedEpisode(start_s=600.0, plateau_s=150.0),))
    return drive(gen, 1200.0, proc)


def test_unprompted_episode_onset_becomes_a_matched_stretch() -> None:
    """An episode onset with no prompt or control noted gives one matched-stretch control outcome."""
    from processing.episodes import EpisodeOnset
    from processing.outcomes import ControlOutcome

    proc = StreamProcessor(
        "u", "sim", StreamConfig(utc_offset_s=0.0, baseline_min_minutes=5.0)
    )  # personal before the episode at 10 min
    outs = _episode_stream(5, proc)
    onsets = [o for o in outs if isinstance(o, EpisodeOnset)]
    ctl = [o for o in outs if isinstance(o, ControlOutcome)]
    assert len(onsets) == 1
    assert [c.moment.basis for c in ctl] == ["matched stretch"]
    assert ctl[0].moment.t == onsets[0].detected_t and ctl[0].change.complete
    assert proc.reference_counts() == (0, 1)


def test_prompted_onset_is_no_matched_stretch_and_is_judged_against_restored_controls() -> None:
    """A prompt noted at the onset: no matched stretch, and its outcome uses the controls restored before."""
    from processing.episodes import EpisodeOnset
    from processing.outcomes import ControlBasis, ControlOutcome, PromptOutcome, Stage
    from sensors.beats import Beat
    from sensors.simulated import ScriptedEpisode

    proc = StreamProcessor(
        "u", "sim", StreamConfig(utc_offset_s=0.0, baseline_min_minutes=5.0)
    )  # personal before the episode at 10 min
    for d in (0.4, 0.2, 0.5, 0.3, 0.6):
        proc.restore_reference(Stage.ONSET, ControlBasis.HELD_BACK, d)
    gen = RRGenerator(seed=5, episodes=(ScriptedEpisode(start_s=600.0, plateau_s=150.0),))
    outs: list[object] = []
    while gen.t_s < 1200.0:
        t_s, rr, _ = gen.next_rr()
        for o in proc.push(Beat(T0 + t_s, rr, "sim", "u")):
            outs.append(o)
            if isinstance(o, EpisodeOnset):
                proc.note_prompt("p1", o.detected_t)  # as the pipeline does, before the next beat
    assert not [o for o in outs if isinstance(o, ControlOutcome)]
    (po,) = [o for o in outs if isinstance(o, PromptOutcome)]
    assert po.helped_basis == "controls" and po.n_reference == 5 and po.helped is not None
