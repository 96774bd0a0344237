"""The asyncio pipeline: the only place that knows every stage.

source bytes -> decoder -> beat clock -> stream processor -> policy -> notifiers, with every event written
to the archive first. One :class:`StrapSession` per strap; sessions run as named tasks.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import tzinfo

from alerts.catalog import Prompt, PromptKind
from alerts.notify import Notifier, StrapStatus
from alerts.policy import PolicyConfig as PolicyParams
from alerts.policy import PromptPolicy
from calmstrap.commit_group import COMMIT_EVERY_S as COMMIT_EVERY_S  # re-exported: the benchmarks' name
from calmstrap.commit_group import CommitGroup as CommitGroup
from calmstrap.config import Config, zone
from calmstrap.session_state import dump_session, restore_session
from processing.arousal import Arousal
from processing.baseline import BASELINE_BINS
from processing.episodes import Episode, EpisodeOnset
from processing.outcomes import ControlMoment, ControlOutcome, PromptOutcome, Stage
from processing.snapshot import SnapshotError
from processing.stream import StreamConfig, StreamProcessor, WindowResult
from sensors.beats import BeatClock, Gap
from sensors.heart_rate import MalformedMeasurement, parse_measurement
from storage.archive import Archive
from storage.progress import ProgressUpdater

log = logging.getLogger("calmstrap.pipeline")

MIN_RR_MS = 300.0
MAX_RR_MS = 2000.0
"""Range gate: an RR outside this is physiologically impossible; it is archived flagged, never changed."""
MOTION_FULL_SCALE_MG = 1000.0 / 3.0
"""Motion intensity in mg (mean | |a| - 1 g | per second) maps to processing's 0..1 scale by this full scale
(clipped): the processor's "moving" threshold 0.3 is then 100 mg, the usual cut point for moderate activity
in acceleration-magnitude (ENMO-like) metrics."""
BASELINE_SAVE_EVERY_S = 600.0
"""Stream time between periodic baseline saves (a crash loses at most this much of the baseline's updates)."""
CHECKPOINT_EVERY_S = 600.0
"""Stream time between periodic session-state checkpoints (also saved after every prompt and at exit)."""
PROGRESS_EVERY_S = 3600.0
"""Stream time between refreshes of the weekly progress (also refreshed as each episode ends)."""


def stream_config(cfg: Config) -> StreamConfig:
    p = cfg.processing
    return StreamConfig(
        fast_window_s=p.fast_window_s,
        fast_step_s=p.fast_step_s,
        slow_window_s=p.slow_window_s,
        slow_step_s=p.slow_step_s,
        max_artifact_pct=p.max_artifact_pct,
        baseline_min_minutes=p.baseline_min_minutes,
        tau_s=p.ema_tau_s,
        elevated_a=p.elevated_a,
        high_a=p.high_a,
        # the baseline's time of day in the person's zone; None (no [general] timezone) is the system's
        utc_offset_s=zone(cfg.general.timezone) if cfg.general.timezone else None,
    )


def policy_params(
    cfg: Config, *, ignore_quiet_hours: bool = False, hold_back_first: bool = False
) -> PolicyParams:
    p = cfg.policy
    quiet = p.quiet_hours
    return PolicyParams(
        cooldown_s=60.0 * p.cooldown_min,
        max_per_hour=p.max_per_hour,
        escalate_after_s=p.escalate_after_s,
        quiet_start=quiet.start,
        quiet_end=quiet.start if ignore_quiet_hours else quiet.end,
        expiry_s=p.expiry_s,
        recovery_message=p.recovery_message,
        disabled_kinds=frozenset(PromptKind(k) for k in p.disabled_kinds),
        control_probability=p.control_probability,
        hold_back_first=hold_back_first,
    )


@dataclass(slots=True)
class SessionStats:
    notifications: int = 0
    malformed: int = 0
    beats: int = 0
    gaps: int = 0
    prompts: int = 0
    episodes: int = 0
    error: str | None = None
    """Why the session's source stopped on an error (the service then exits non-zero)."""


@dataclass
class PipelineObserver:
    """Optional callbacks for a user interface (the CLI's status line and summary)."""

    on_arousal: Callable[[str, Arousal], None] | None = None
    on_prompt: Callable[[Prompt, str], None] | None = None
    on_episode: Callable[[Episode], None] | None = None
    on_outcome: Callable[[PromptOutcome], None] | None = None
    on_control: Callable[[ControlMoment], None] | None = None


@dataclass(frozen=True, slots=True)
class PracticeRun:
    """A guided practice in progress (one at a time per user): its task, when its last breath ends."""

    task: asyncio.Task[None]
    end_t: float


@dataclass
class StrapSession:
    """Everything one strap's stream needs, from bytes to prompts."""

    user: str
    device: str
    archive: Archive
    notifiers: Sequence[Notifier]
    processor: StreamProcessor
    policy: PromptPolicy
    observer: PipelineObserver = field(default_factory=PipelineObserver)
    stats: SessionStats = field(default_factory=SessionStats)
    clock: BeatClock = field(init=False)
    strap_status: StrapStatus | None = None
    practice: PracticeRun | None = None
    prompts: list[Prompt] = field(default_factory=list)
    episodes: list[Episode] = field(default_factory=list)
    outcomes: list[PromptOutcome] = field(default_factory=list)
    controls: list[ControlMoment] = field(default_factory=list)
    control_outcomes: list[ControlOutcome] = field(default_factory=list)
    baseline_save_every_s: float = BASELINE_SAVE_EVERY_S
    commits: CommitGroup | None = None
    """Grouped commits shared by the sessions of one archive; None: commit after every notification."""
    checkpoint_every_s: float = CHECKPOINT_EVERY_S
    resumed_t: float | None = None
    """Stream time of the checkpoint this session resumed from (None: a fresh session)."""
    tz: tzinfo | None = None
    """The person's time zone: weekly progress is kept per ISO week of their local days."""
    progress_every_s: float = PROGRESS_EVERY_S
    _next_baseline_save_t: float | None = field(default=None, init=False)
    _next_progress_t: float | None = field(default=None, init=False)
    _saved_baseline: dict[str, object] = field(default_factory=dict, init=False)
    _next_checkpoint_t: float | None = field(default=None, init=False)
    _next_due_t: float = field(default=-math.inf, init=False)
    """At most the earliest of the three next times above (-inf while any is unset): before it no periodic
    save is due, and :meth:`handle` skips their tests. Whatever sets one of them outside :meth:`_periodic`
    lowers it to match (:meth:`checkpoint`) or resets it to -inf (a restored state)."""

    def __post_init__(self) -> None:
        self.clock = BeatClock(device=self.device, user=self.user)

    async def handle(self, arrival_t: float, data: bytes) -> None:
        """One notification: decode, place beats, process, prompt; archive everything."""
        self.stats.notifications += 1
        try:
            m = parse_measurement(data)
        except MalformedMeasurement as exc:
            self.stats.malformed += 1
            log.warning(
                "%s: skipped a malformed notification (%s); %d so far",
                self.device,
                exc.reason,
                self.stats.malformed,
            )
            return
        beats, gap = self.clock.push(m, arrival_t)
        if gap is not None:
            self.on_gap(gap)
        if not beats:
            return
        self.archive.queue_beats(beats, [not (MIN_RR_MS <= b.rr_ms <= MAX_RR_MS) for b in beats])
        self.stats.beats += len(beats)
        for b in beats:
            outs = self.processor.push(b)
            if outs:
                for out in outs:
                    await self._dispatch(out)
        flagged = self.processor.take_artifact_times()
        if flagged:
            self.archive.queue_flags(self.user, self.device, flagged)
        t = beats[-1].t
        if t >= self._next_due_t:
            self._periodic(t)
        if self.commits is None:
            self.archive.commit()
        elif self.commits.tick():
            await self.commits.send_committed()

    def _periodic(self, t: float) -> None:
        """The saves due by stream time ``t`` (baseline, weekly progress, checkpoint), in that order; then
        :attr:`_next_due_t`: the earliest of their next times (none is due before it)."""
        if self._next_baseline_save_t is None:
            self._next_baseline_save_t = t + self.baseline_save_every_s
        elif t >= self._next_baseline_save_t:
            self._next_baseline_save_t = t + self.baseline_save_every_s
            self.save_baseline(t, only_changed=True)
        if self._next_progress_t is None:
            self._next_progress_t = t + self.progress_every_s
        elif t >= self._next_progress_t:
            self._next_progress_t = t + self.progress_every_s
            self.refresh_progress()
        if self._next_checkpoint_t is None:
            self._next_checkpoint_t = t + self.checkpoint_every_s
        elif t >= self._next_checkpoint_t:
            self.checkpoint(t)
        self._next_due_t = min(self._next_baseline_save_t, self._next_progress_t, self._next_checkpoint_t)

    def checkpoint(self, t: float | None = None) -> None:
        """Save the session's state (calmstrap.session_state) in the archive's current transaction."""
        if t is None:
            t = self.processor.last_t
        if not math.isfinite(t):
            return
        self._next_checkpoint_t = t + self.checkpoint_every_s
        if self._next_checkpoint_t < self._next_due_t:  # a prompt dated before the last checkpoint
            self._next_due_t = self._next_checkpoint_t
        self.archive.save_checkpoint(self.user, self.device, t, dump_session(self, t))

    def on_motion(
        self, t: float, intensity_mg: float, gravity_mg: tuple[float, float, float] | None = None
    ) -> None:
        """One second of motion from the strap: archived as reported (mg), and given to processing (0..1,
        with the second's mean acceleration vector for posture changes)."""
        self.archive.add_motion(self.user, self.device, t, intensity_mg)
        self.processor.motion(t, min(1.0, max(0.0, intensity_mg / MOTION_FULL_SCALE_MG)), gravity_mg)

    def save_baseline(self, t: float, *, only_changed: bool = False) -> int:
        """Save the personal baseline of every time-of-day bin (``only_changed``: bins changed since the last
        save); returns how many rows were written."""
        n = 0
        for bin_name, stats in self.processor.baseline.snapshot():
            if only_changed and self._saved_baseline.get(bin_name) == stats:
                continue
            self.archive.save_baseline(self.user, t, stats, bin_name)
            self._saved_baseline[bin_name] = stats
            n += 1
        return n

    def refresh_progress(self) -> None:
        """Bring this user's weekly progress rows up to date (the dashboard's progress panels read them): only
        the weeks rows written since the last refresh can change, whoever wrote them (storage.progress)."""
        ProgressUpdater.of(self.archive, self.tz).update(self.user)

    def on_gap(self, gap: Gap) -> None:
        self.archive.add_gap(gap)
        self.processor.gap(gap)
        self.stats.gaps += 1

    def mark_disconnect(self, t: float) -> None:
        self.clock.mark_disconnect(t)

    async def finish(self) -> None:
        for out in self.processor.flush():
            await self._dispatch(out)
        self.save_baseline(time.time())
        self.refresh_progress()
        self.checkpoint()
        if self.commits is None:
            self.archive.commit()
        else:
            self.commits.flush()
            await self.commits.send_committed()

    async def _dispatch(self, out: object) -> None:
        match out:
            case WindowResult():
                self.archive.add_window(out)
            case Arousal():
                self.archive.add_arousal(self.user, out)
                if self.observer.on_arousal:
                    self.observer.on_arousal(self.user, out)
                for n in self.notifiers:
                    await n.publish_state(self.user, out, self.strap_status)
                decision = self.policy.on_arousal(out)
                if decision is not None:  # None: nothing to carry out, no coroutine made for it
                    await self._decided(decision, Stage.ESCALATION)
            case EpisodeOnset():
                for n in self.notifiers:
                    await n.publish_episode(self.user, out)
                await self._decided(self.policy.on_onset(out), Stage.ONSET)
            case Episode():
                ep = dataclasses.replace(out, prompt_ids=self.policy.prompt_ids_for(out.id))
                self.archive.add_episode(ep)
                self.episodes.append(ep)
                self.stats.episodes += 1
                if self.observer.on_episode:
                    self.observer.on_episode(ep)
                for n in self.notifiers:
                    await n.publish_episode(self.user, ep)
                self.refresh_progress()
                recovery = self.policy.on_episode_end(ep, self.processor.last_t)
                if recovery is not None:
                    await self._send(recovery, track_outcome=False)
            case PromptOutcome():
                self.archive.set_prompt_outcome(out)
                self.policy.on_outcome(out)
                self.outcomes.append(out)
                if self.observer.on_outcome:
                    self.observer.on_outcome(out)
            case ControlOutcome():
                self.archive.add_control(out.moment)  # a matched stretch is stored only now
                self.archive.set_control_outcome(out)
                self.control_outcomes.append(out)
            case _:
                raise TypeError(f"unexpected processing output {type(out).__name__}")

    async def _decided(self, decision: Prompt | ControlMoment | None, stage: Stage) -> None:
        """Carry out the policy's decision: send the prompt, or record the held-back control."""
        match decision:
            case Prompt():
                await self._send(decision, stage=stage)
            case ControlMoment():  # nothing is sent: durable with the notification's other rows
                self.archive.add_control(decision)
                self.processor.note_control(decision)
                self.controls.append(decision)
                if self.observer.on_control:
                    self.observer.on_control(decision)

    async def deliver(self, prompt: Prompt) -> None:
        """Send a prompt decided outside the arousal path (no outcome is measured for it)."""
        await self._send(prompt, track_outcome=False)

    async def _send(self, prompt: Prompt, *, track_outcome: bool = True, stage: Stage = Stage.ONSET) -> None:
        """Archive first, with the session's checkpoint (a restart knows the prompt was decided: cooldown,
        never sent twice); send once that is committed: with grouped commits at the group's next commit (at
        most ``COMMIT_EVERY_S`` later), else at once after a commit of its own."""
        self.archive.add_prompt(prompt, "none")
        if track_outcome:
            cycle_s = (prompt.inhale_s or 0.0) + (prompt.hold_s or 0.0) + (prompt.exhale_s or 0.0)
            paced_hz = 1.0 / cycle_s if cycle_s > 0 else None
            self.processor.note_prompt(prompt.id, prompt.t, paced_breath_hz=paced_hz, stage=stage)
        self.checkpoint(prompt.t)
        if self.commits is not None:
            self.commits.defer(self, prompt)
            return
        self.archive.commit()
        await self.deliver_archived(prompt)

    async def deliver_archived(self, prompt: Prompt) -> None:
        """Send a prompt whose row is committed: every side channel (the page, phone pushes:
        ``side_channel = True``) gets it, and the other notifiers in order until one delivers (MQTT, else the
        console); the row then records which one did."""
        via = "none"
        for n in self.notifiers:
            if getattr(n, "side_channel", False):
                try:
                    await n.send_prompt(prompt)
                except Exception:  # a notifier must never stop the pipeline
                    log.exception("notifier %s failed", n.name)
        for n in self.notifiers:
            if getattr(n, "side_channel", False):
                continue
            try:
                ok = await n.send_prompt(prompt)
            except Exception:  # a notifier must never stop the pipeline
                log.exception("notifier %s failed", n.name)
                ok = False
            if ok:
                via = n.name
                break
        self.archive.set_prompt_delivery(prompt.id, via)
        self.prompts.append(prompt)
        self.stats.prompts += 1
        if self.observer.on_prompt:
            self.observer.on_prompt(prompt, via)


def new_session(
    cfg: Config,
    archive: Archive,
    notifiers: Sequence[Notifier],
    *,
    user: str,
    device: str,
    seed: int = 0,
    observer: PipelineObserver | None = None,
    restore_baseline: bool = True,
    ignore_quiet_hours: bool = False,
    commits: CommitGroup | None = None,
    resume: bool = False,
    hold_back_first: bool = False,
) -> StrapSession:
    """A session for one strap; ``resume``: continue from the archive's checkpoint of (user, device)."""
    processor = StreamProcessor(user=user, device=device, config=stream_config(cfg))
    if restore_baseline:
        for bin_name in BASELINE_BINS:
            saved = archive.load_baseline(user, bin_name)
            if saved is not None:
                processor.baseline.restore(saved, bin_name)
    tz = cfg.tz()
    policy = PromptPolicy(
        user=user,
        config=policy_params(cfg, ignore_quiet_hours=ignore_quiet_hours, hold_back_first=hold_back_first),
        tz=tz,
        seed=seed,
    )
    for stage, basis, d_a, a_at in archive.load_control_changes(user):  # the references survive a restart
        processor.restore_reference(stage, basis, d_a, a_at)
    session = StrapSession(
        user=user,
        device=device,
        archive=archive,
        notifiers=notifiers,
        processor=processor,
        policy=policy,
        observer=observer or PipelineObserver(),
        commits=commits,
        tz=tz,
    )
    if resume:
        checkpoint = archive.load_checkpoint(user, device)
        if checkpoint is not None and checkpoint[0] > time.time() + 60.0:
            log.info(
                "%s (%s): saved state is ahead of the clock (accelerated run); not resumed", device, user
            )
        elif checkpoint is not None:
            try:
                session.resumed_t = restore_session(session, checkpoint[1])
            except (SnapshotError, ValueError) as exc:
                log.warning("%s (%s): saved state not resumed (%s); starting fresh", device, user, exc)
    return session
