"""A strap session's state as a plain snapshot (processing.snapshot): what a restart or a new owner resumes.

The state is the beat clock, the stream processor (beat buffers, window schedule, arousal smoothing,
exercise gate, baseline samples, episode detector, pending prompt outcomes), the prompt policy (cooldown,
hourly cap, snooze, open episode, the learner's posteriors and its random generator), the session
counters and the baseline-save bookkeeping. The wiring (archive, notifiers, observer) is not state.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from alerts.policy import PromptPolicy
from processing import snapshot
from processing.arousal import BaselineStats
from processing.stream import StreamProcessor
from sensors.beats import BeatClock

if TYPE_CHECKING:
    from calmstrap.pipeline import SessionStats, StrapSession

KIND = "calmstrap.session"


class SessionStateError(ValueError):
    """A snapshot that belongs to another strap session (user or device differ)."""


@dataclass(slots=True)
class SessionState:
    user: str
    device: str
    t: float
    """Stream time (epoch s of the newest beat) the state covers."""
    clock: BeatClock
    processor: StreamProcessor
    policy: PromptPolicy
    stats: SessionStats
    next_baseline_save_t: float | None
    saved_baseline: dict[str, BaselineStats]


def state_of(session: StrapSession, t: float) -> SessionState:
    """The session's state at stream time ``t`` (its live objects: dump it before the session goes on)."""
    return SessionState(
        user=session.user,
        device=session.device,
        t=t,
        clock=session.clock,
        processor=session.processor,
        policy=session.policy,
        stats=session.stats,
        next_baseline_save_t=session._next_baseline_save_t,
        saved_baseline=session._saved_baseline,  # type: ignore[arg-type]
    )


@contextlib.contextmanager
def without_config_tz(sessions: Iterable[StrapSession]) -> Iterator[None]:
    """While dumping: the policies' time zone is configuration (put back from the config on restore), and a
    machine's ``/etc/localtime`` zone has no name another machine could load."""
    saved = [(s.policy, s.policy.tz) for s in sessions]
    for policy, _tz in saved:
        policy.tz = None
    try:
        yield
    finally:
        for policy, tz in saved:
            policy.tz = tz


def dump_session(session: StrapSession, t: float) -> bytes:
    """The session's state at stream time ``t`` as snapshot bytes."""
    with without_config_tz([session]):
        return snapshot.dump(state_of(session, t), kind=KIND)


def load_session(data: bytes) -> SessionState:
    """Read snapshot bytes written by :func:`dump_session` (raises ``snapshot.SnapshotError``)."""
    state = snapshot.load(data, kind=KIND)
    if not isinstance(state, SessionState):
        raise snapshot.SnapshotError("", f"a {type(state).__name__}, expected a SessionState")
    return state


def restore_session(session: StrapSession, data: bytes) -> float:
    """Put a saved state into ``session`` (same user and device); returns the stream time it covers.

    The configuration in force now wins: the policy keeps its state under the current policy settings,
    and a processor saved under other processing settings is not resumed (the session's fresh one, with
    the baseline from the archive, stays).
    """
    return apply_state(session, load_session(data))


def apply_state(session: StrapSession, state: SessionState) -> float:
    """Put a loaded state into ``session`` (see :func:`restore_session`); returns the stream time it covers."""
    if (state.user, state.device) != (session.user, session.device):
        raise SessionStateError(
            f"state of {state.user}/{state.device} cannot resume session {session.user}/{session.device}"
        )
    session.clock = state.clock
    if state.processor.config == session.processor.config:
        session.processor = state.processor
    state.policy.config = session.policy.config
    state.policy.tz = session.policy.tz
    session.policy = state.policy
    session.stats = state.stats
    session._next_baseline_save_t = state.next_baseline_save_t
    session._next_due_t = -math.inf  # the periodic saves' tests run again at the next notification
    session._saved_baseline = dict(state.saved_baseline)
    return state.t
