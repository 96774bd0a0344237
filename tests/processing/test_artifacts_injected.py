"""Artifacts injected into two real recordings: calmstrap side by side with NeuroKit2's kubios method.

What is injected and how it is scored: tests/processing/artifact_injection.py (the same code makes the
table in BENCHMARKS.md). The targets of issue 10: at 2 % of beats, the RMSSD error after correction is at
most 5 % for every class and never more than 2 points worse than NeuroKit2's (mean of four injection
seeds; the spread over six is in BENCHMARKS.md); on the recordings as they are, calmstrap makes no more
detections than NeuroKit2.
"""

from __future__ import annotations

import functools
import statistics

import pytest

from tests.processing import artifact_injection as J

RECORDINGS = tuple(J.recordings())
RMSSD_TARGET_PCT = 5.0
NK_MARGIN_POINTS = 2.0
EXTRA_CLEAN_DETECTIONS = 0
"""Clean-data detections calmstrap may make beyond NeuroKit2's on each recording (issue 10: "at most")."""


@functools.cache
def _base(name: str) -> tuple[J.FloatArray, J.IntArray]:
    base = J.recordings()[name]
    return base, J.native_flags(base)


@functools.cache
def _scores(name: str, kind: str, corrector: str) -> tuple[J.Score, ...]:
    base, avoid = _base(name)
    fn = J.CORRECTORS[corrector]
    return tuple(J.score(base, J.inject(base, kind, 0.02, s, avoid=avoid), fn) for s in J.SEEDS[name])


def _mean(scores: tuple[J.Score, ...], field: str) -> float:
    return statistics.fmean(getattr(s, field) for s in scores)


@pytest.mark.parametrize("name", RECORDINGS)
@pytest.mark.parametrize("kind", J.KINDS)
def test_rmssd_error_at_two_percent_within_five_percent(name: str, kind: str) -> None:
    """At 2 % injected artifacts of one class, corrected RMSSD is within 5 % of the uninjected one."""
    assert _mean(_scores(name, kind, "calmstrap"), "rmssd_error_pct") <= RMSSD_TARGET_PCT


@pytest.mark.parametrize("name", RECORDINGS)
@pytest.mark.parametrize("kind", J.KINDS)
def test_rmssd_error_never_two_points_worse_than_neurokit2(name: str, kind: str) -> None:
    """At 2 %, calmstrap's RMSSD error is at most 2 points above NeuroKit2's on the same injections."""
    ours = _mean(_scores(name, kind, "calmstrap"), "rmssd_error_pct")
    theirs = _mean(_scores(name, kind, "NeuroKit2"), "rmssd_error_pct")
    assert ours <= theirs + NK_MARGIN_POINTS


@pytest.mark.parametrize("name", RECORDINGS)
@pytest.mark.parametrize("kind", J.KINDS)
def test_injected_artifacts_are_found(name: str, kind: str) -> None:
    """At 2 %, at least 95 % of the injected events are flagged and at least 85 % of new detections are real."""
    got = _scores(name, kind, "calmstrap")
    assert _mean(got, "sensitivity") >= 0.95
    assert _mean(got, "precision") >= 0.85


@pytest.mark.parametrize("name", RECORDINGS)
def test_no_more_false_detections_than_neurokit2_on_clean_recordings(name: str) -> None:
    """On a real recording as it is, calmstrap makes no more detections than NeuroKit2 (kubios).

    A detection is a run of consecutive flagged intervals (an ectopic pair or both pieces of an extra
    beat are one), counted the same way for both (``artifact_injection.detections``).
    """
    base, _ = _base(name)
    ours, theirs = J.clean(base, J.calmstrap).detections, J.clean(base, J.neurokit2).detections
    assert ours <= theirs + EXTRA_CLEAN_DETECTIONS
