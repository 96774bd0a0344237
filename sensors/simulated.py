"""A simulated chest strap: 0x2A37 notification bytes from a physiological RR model.

The RR series is built beat by beat:

* a resting heart rate with a slow random walk;
* respiratory sinus arrhythmia at the current breathing rate (RR longer on the out-breath);
* Mayer waves near 0.1 Hz (baroreflex);
* beat-to-beat noise;
* rare ectopic beats (a premature beat followed by a compensatory pause) and missed beats (two RRs
  merged, as when a strap misses an R peak);
* a script of arousal episodes: heart rate up, RSA (and so RMSSD) down, faster breathing, then an
  exponential recovery over minutes.

About once per simulated second a notification is emitted carrying the RR intervals that ended since the
previous one, encoded exactly as a strap does (flags, uint8 HR, RR in 1/1024 s), so the simulated path goes
through the same decoder as a real strap. Everything is driven by one seed: the same seed gives the same
bytes.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field

from sensors.heart_rate import encode_measurement, ms_to_ticks
from sensors.source import BatteryLevel


@dataclass(frozen=True, slots=True)
class ScriptedEpisode:
    """One arousal episode in the script: times in simulated seconds from the start."""

    start_s: float
    rise_s: float = 60.0
    plateau_s: float = 150.0
    recover_tau_s: float = 60.0
    intensity: float = 1.0

    def level(self, t_s: float) -> float:
        """Intensity profile in [0, intensity]."""
        x = t_s - self.start_s
        if x < 0:
            return 0.0
        if x < self.rise_s:
            return self.intensity * (0.5 - 0.5 * math.cos(math.pi * x / self.rise_s))
        x -= self.rise_s
        if x < self.plateau_s:
            return self.intensity
        x -= self.plateau_s
        return self.intensity * math.exp(-x / self.recover_tau_s)


@dataclass(frozen=True, slots=True)
class SimulatedSegment:
    """A span of exercise (physical load) in the script: HR up without an arousal cause."""

    start_s: float
    duration_s: float
    hr_rise_bpm: float = 60.0
    ramp_s: float = 120.0

    def level(self, t_s: float) -> float:
        x = t_s - self.start_s
        if x < 0:
            return 0.0
        if x < self.ramp_s:
            return x / self.ramp_s
        if x < self.duration_s:
            return 1.0
        return math.exp(-(x - self.duration_s) / 90.0)


@dataclass(frozen=True, slots=True)
class StrapModel:
    """Parameters of the physiological model (units in names)."""

    rest_hr_bpm: float = 64.0
    rest_breath_per_min: float = 13.0
    rsa_ms: float = 45.0
    mayer_ms: float = 18.0
    mayer_hz: float = 0.1
    noise_ms: float = 9.0
    hr_walk_bpm: float = 1.5
    hr_walk_tau_s: float = 120.0
    ectopic_prob: float = 0.002
    missed_prob: float = 0.001
    arousal_hr_bpm: float = 16.0
    arousal_rsa_drop: float = 0.65
    arousal_breath_per_min: float = 9.0


DEMO_CONTROL_MIN_MINUTES = 20.0
"""Shorter demos have no room for a held-back episode and a later prompt with its outcome window."""


def demo_script(minutes: float, *, control_first: bool = False) -> tuple[ScriptedEpisode, ...]:
    """The demo's episodes: two, placed after the warm-up, scaled to the session length.

    ``control_first``: the demo holds the first back as a control and prompts the second, so the two are of
    the same shape (the comparison is the point), far enough apart not to merge into one, and the second early
    enough for its prompt's outcome window (3 minutes) to end inside the session (20 minutes or more).
    """
    total = minutes * 60.0
    if control_first:
        plateau_s = min(120.0, 0.08 * total)
        return (
            ScriptedEpisode(start_s=0.22 * total, plateau_s=plateau_s, recover_tau_s=45.0),
            ScriptedEpisode(start_s=0.68 * total, plateau_s=plateau_s, recover_tau_s=45.0),
        )
    return (
        ScriptedEpisode(start_s=0.28 * total, plateau_s=min(120.0, 0.10 * total), recover_tau_s=45.0),
        ScriptedEpisode(
            start_s=0.75 * total, plateau_s=min(60.0, 0.05 * total), recover_tau_s=40.0, intensity=0.8
        ),
    )


def random_script(
    duration_s: float, rng: random.Random, *, every_s: float = 1800.0
) -> tuple[ScriptedEpisode, ...]:
    """Episodes scattered about every ``every_s`` seconds (for open-ended simulated runs)."""
    out: list[ScriptedEpisode] = []
    t = rng.uniform(0.6, 1.4) * every_s
    while t < duration_s:
        out.append(
            ScriptedEpisode(start_s=t, plateau_s=rng.uniform(90, 240), intensity=rng.uniform(0.6, 1.1))
        )
        t += rng.uniform(0.6, 1.4) * every_s
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Practice:
    """The simulated person follows a prompt from ``start_s`` (simulated seconds) for ``duration_s``.

    Episodes that began before it settle with time constant ``settle_tau_s`` from then on (a prompt that
    helps); with ``breath_per_min`` the breathing is paced at that rate while it lasts, which deepens the
    respiratory sinus arrhythmia (slow breathing near 6/min is close to the resonance of the baroreflex).
    """

    start_s: float
    duration_s: float
    breath_per_min: float | None = None
    settle_tau_s: float = 75.0

    def settle_factor(self, t_s: float, episode_start_s: float) -> float:
        if t_s <= self.start_s or episode_start_s > self.start_s:
            return 1.0
        return math.exp(-(t_s - self.start_s) / self.settle_tau_s)

    def pacing(self, t_s: float) -> float | None:
        if self.breath_per_min is not None and self.start_s <= t_s < self.start_s + self.duration_s:
            return self.breath_per_min
        return None


@dataclass(slots=True)
class RRGenerator:
    """Beat-by-beat RR model; ``next_rr`` returns (beat end time s, rr ms, is_artifact)."""

    seed: int
    model: StrapModel = field(default_factory=StrapModel)
    episodes: Sequence[ScriptedEpisode] = ()
    exercise: Sequence[SimulatedSegment] = ()
    t_s: float = 0.0
    practices: list[Practice] = field(default_factory=list)
    _rng: random.Random = field(default_factory=random.Random)
    _walk: float = 0.0
    _breath_phase: float = 0.0
    _mayer_phase: float = 0.0
    _pending_compensation: float = 0.0

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._mayer_phase = self._rng.uniform(0, 2 * math.pi)
        self._breath_phase = self._rng.uniform(0, 2 * math.pi)

    def follow(self, practice: Practice) -> None:
        """The person starts following a prompt (see :class:`Practice`)."""
        self.practices.append(practice)

    def arousal_level(self, t_s: float) -> float:
        total = 0.0
        for e in self.episodes:
            level = e.level(t_s)
            for p in self.practices:
                level *= p.settle_factor(t_s, e.start_s)
            total += level
        return min(1.5, total)

    def exercise_level(self, t_s: float) -> float:
        return min(1.0, sum(s.level(t_s) for s in self.exercise))

    def _clean_rr(self) -> float:
        m = self.model
        t = self.t_s
        e = self.arousal_level(t)
        x = self.exercise_level(t)
        hr = m.rest_hr_bpm + self._walk + e * m.arousal_hr_bpm
        hr += sum(s.hr_rise_bpm * s.level(t) for s in self.exercise)
        breath_hz = (m.rest_breath_per_min + e * m.arousal_breath_per_min + x * 14.0) / 60.0
        rsa = m.rsa_ms * (1.0 - m.arousal_rsa_drop * min(e, 1.0)) * (1.0 - 0.8 * x)
        paced = next((r for p in self.practices if (r := p.pacing(t)) is not None), None)
        if paced is not None:
            breath_hz = paced / 60.0
            rsa *= 1.0 + min(1.0, m.rest_breath_per_min / paced - 1.0)
        # RR shrinks with HR; RSA scales roughly with the RR length
        base = 60000.0 / hr
        scale = base / (60000.0 / m.rest_hr_bpm)
        rr = base + scale * (
            rsa * math.sin(self._breath_phase)
            + m.mayer_ms * (1 - 0.5 * min(e, 1)) * math.sin(self._mayer_phase)
        )
        rr += self._rng.gauss(0.0, m.noise_ms * scale)
        dt = rr / 1000.0
        self._breath_phase = (self._breath_phase + 2 * math.pi * breath_hz * dt) % (2 * math.pi)
        self._mayer_phase = (self._mayer_phase + 2 * math.pi * m.mayer_hz * dt) % (2 * math.pi)
        a = math.exp(-dt / m.hr_walk_tau_s)
        self._walk = a * self._walk + math.sqrt(1 - a * a) * self._rng.gauss(0.0, m.hr_walk_bpm)
        return max(rr, 250.0)

    def next_rr(self) -> tuple[float, float, bool]:
        if self._pending_compensation:
            rr = self._pending_compensation
            self._pending_compensation = 0.0
            artifact = True
        else:
            rr = self._clean_rr()
            artifact = False
            u = self._rng.random()
            if u < self.model.ectopic_prob:
                premature = rr * 0.65
                self._pending_compensation = 2 * rr - premature
                rr, artifact = premature, True
            elif u < self.model.ectopic_prob + self.model.missed_prob:
                rr, artifact = rr + self._clean_rr(), True
        self.t_s += rr / 1000.0
        return self.t_s, rr, artifact


@dataclass(frozen=True, slots=True)
class Notification:
    """One notification as the strap sends it: simulated seconds since start and the 0x2A37 bytes."""

    t_s: float
    data: bytes


def notifications(
    gen: RRGenerator, *, duration_s: float | None = None, interval_s: float = 1.0, contact: bool = True
) -> Iterator[Notification]:
    """Yield notifications about every ``interval_s``, each with the RRs that ended since the last one."""
    next_send = interval_s
    pending: list[int] = []
    last_rr = 900.0
    jitter = random.Random(gen.seed ^ 0x5EED)
    held: tuple[float, float] | None = None  # (end s, rr ms) of a beat that ends after the next send
    while duration_s is None or next_send <= duration_s:
        # only beats that have ended by the send time go out, as on a strap; a later one waits
        while True:
            if held is None:
                end_s, rr, _ = gen.next_rr()
                held = (end_s, rr)
            if held[0] > next_send:
                break
            pending.append(ms_to_ticks(held[1]))
            last_rr = held[1]
            held = None
        hr = max(30, min(250, round(60000.0 / last_rr)))
        # a strap holds at most a handful of RRs per notification; keep the newest
        data = encode_measurement(hr, pending[-9:], contact=contact)
        pending = []
        yield Notification(t_s=next_send + jitter.uniform(0.0, 0.03), data=data)
        next_send += interval_s


@dataclass(slots=True)
class SimulatedStrap:
    """An async source of (arrival epoch s, payload) pairs, paced by ``speed`` (1 = real time).

    ``start_epoch`` is the wall-clock time of simulated second 0. With speed > 1 the simulated clock runs
    ahead of the wall clock; arrival times are always on the simulated clock.
    """

    seed: int = 0
    speed: float = 1.0
    duration_s: float | None = None
    episodes: Sequence[ScriptedEpisode] = ()
    exercise: Sequence[SimulatedSegment] = ()
    model: StrapModel = field(default_factory=StrapModel)
    start_epoch: float | None = None
    device: str = "sim-strap"
    battery_start_pct: float = 87.0
    battery_drain_pct_per_h: float = 0.25
    battery_every_s: float = 600.0
    _gen: RRGenerator | None = None
    _start: float | None = None

    def generator(self) -> RRGenerator:
        return RRGenerator(seed=self.seed, model=self.model, episodes=self.episodes, exercise=self.exercise)

    def follow(self, at_epoch: float, duration_s: float, breath_per_min: float | None = None) -> None:
        """The simulated person follows a prompt given at ``at_epoch`` (after a few seconds to react)."""
        if self._gen is None or self._start is None:
            return
        reaction_s = 5.0
        self._gen.follow(Practice(at_epoch - self._start + reaction_s, duration_s, breath_per_min))

    def battery_pct(self, t_s: float) -> int:
        """The simulated coin cell: ``battery_start_pct`` draining ``battery_drain_pct_per_h``."""
        return max(0, round(self.battery_start_pct - self.battery_drain_pct_per_h * t_s / 3600.0))

    async def stream(self) -> AsyncIterator[tuple[float, bytes] | BatteryLevel]:
        """Notifications on the simulated clock, and a Battery Level reading every ``battery_every_s``."""
        start = self.start_epoch if self.start_epoch is not None else time.time()
        wall0 = time.monotonic()
        self._gen = gen = self.generator()
        self._start = start
        next_battery_s = 0.0
        for n in notifications(gen, duration_s=self.duration_s):
            due = wall0 + n.t_s / self.speed
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                await asyncio.sleep(0)
            yield start + n.t_s, n.data
            if n.t_s >= next_battery_s:
                # read half a second after the notification, as a collector's GATT read would come after it
                # (never at the same instant as the link's "connected" row: InfluxDB would merge the two)
                yield BatteryLevel(start + n.t_s + 0.5, self.battery_pct(n.t_s))
                next_battery_s += self.battery_every_s
