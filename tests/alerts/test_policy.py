"""The prompt policy: sustained episodes only, cooldown, hourly cap, quiet hours, snooze, escalation,
recovery, and which prompt (Thompson sampling learned from outcomes and feedback)."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, time

from alerts.catalog import CATALOG, Prompt, PromptKind
from alerts.policy import PolicyConfig, PromptPolicy, held_back
from processing.arousal import Arousal, ArousalState, score_from_a
from processing.episodes import Episode, EpisodeDetector, EpisodeOnset
from processing.outcomes import ControlBasis, ControlMoment, HelpedBasis, PromptOutcome, Stage

DAY0 = datetime(2026, 11, 2, tzinfo=UTC).timestamp()
STEP_S = 5.0
NO_CONTROLS = PolicyConfig(control_probability=0.0)
"""The rules of when to prompt, without prompts held back as controls (tested on their own below)."""
NEVER_QUIET = PolicyConfig(quiet_start=time(0, 0), quiet_end=time(0, 0), control_probability=0.0)


def hours(h: float) -> float:
    return DAY0 + h * 3600.0


def sample(t: float, a: float) -> Arousal:
    state = ArousalState.HIGH if a >= 1.5 else ArousalState.ELEVATED if a >= 0.5 else ArousalState.CALM
    return Arousal(t, score_from_a(a), a, a, -a, state, False)


def run_day(
    levels: list[tuple[float, float, float]],
    policy: PromptPolicy,
    *,
    seed: int = 3,
    end_h: float = 24.0,
    on_prompt: Callable[[Prompt], None] | None = None,
) -> tuple[list[Prompt], list[Episode]]:
    """Feed A every 5 s (baseline noise plus ``levels``: (start h, duration s, A)) through the episode
    detector and the policy the way the pipeline does; return the prompts and the finished episodes.
    ``on_prompt``: what the person does when a prompt arrives (e.g. snooze)."""
    rng = random.Random(seed)
    det = EpisodeDetector(user=policy.user, onset_a=1.5, end_a=0.5)
    prompts: list[Prompt] = []
    episodes: list[Episode] = []
    n = int((end_h * 3600.0) / STEP_S)
    for i in range(n):
        t = DAY0 + i * STEP_S
        a = rng.gauss(0.0, 0.15)
        for start_h, dur_s, level in levels:
            if hours(start_h) <= t < hours(start_h) + dur_s:
                a = level + rng.gauss(0.0, 0.1)
        x = sample(t, a)
        p = policy.on_arousal(x)
        if p is not None:
            prompts.append(p)
        for ev in det.update(x):
            if isinstance(ev, EpisodeOnset):
                p = policy.on_onset(ev)
            else:
                episodes.append(ev)
                p = policy.on_episode_end(ev, t)
            if p is not None:
                prompts.append(p)
                if on_prompt is not None:
                    on_prompt(p)
    return prompts, episodes


def test_simulated_day_prompts_once_per_sustained_episode_and_never_in_quiet_hours() -> None:
    """Many short spikes and three sustained episodes: <= 1 prompt + <= 1 escalation each, none at night."""
    spikes = [(h, 40.0, 2.4) for h in [0.5 + 0.45 * k for k in range(52)]]  # 52 spikes of 40 s, day and night
    sustained = [(9.7, 720.0, 2.5), (15.2, 600.0, 2.3), (23.1, 720.0, 2.6)]
    spikes = [s for s in spikes if not any(h - 0.2 < s[0] < h + 0.35 for h, _, _ in sustained)]
    policy = PromptPolicy(user="me", config=NO_CONTROLS, tz=UTC, seed=7)
    prompts, episodes = run_day(spikes + sustained, policy)
    assert len(spikes) >= 45
    assert len(episodes) == 3  # the spikes never make an episode
    by_episode = Counter(p.reason_episode_id for p in prompts if p.kind is not PromptKind.RECOVERY)
    assert set(by_episode) == {episodes[0].id, episodes[1].id}  # daytime episodes each got a prompt
    assert all(n <= 2 for n in by_episode.values())
    for ep_id in by_episode:
        firsts = [p for p in prompts if p.reason_episode_id == ep_id and p.kind is not PromptKind.RECOVERY]
        assert len({p.template_id for p in firsts}) == len(firsts)  # an escalation is a different prompt
    for p in prompts:
        assert time(7, 0) <= datetime.fromtimestamp(p.t, UTC).time() < time(22, 0)
    recoveries = [p for p in prompts if p.kind is PromptKind.RECOVERY]
    assert len(recoveries) == 2


def test_escalation_comes_three_minutes_after_the_first_prompt_and_is_different() -> None:
    """Still high 3 min after the first prompt: one different prompt, then no more."""
    policy = PromptPolicy(user="me", config=NEVER_QUIET, seed=1)
    prompts, _ = run_day([(10.0, 1200.0, 2.5)], policy, end_h=11.0)
    firsts = [p for p in prompts if p.kind is not PromptKind.RECOVERY]
    assert len(firsts) == 2
    assert 180.0 <= firsts[1].t - firsts[0].t <= 180.0 + STEP_S
    assert firsts[0].template_id != firsts[1].template_id


def test_cooldown_blocks_a_second_episode_within_fifteen_minutes() -> None:
    """Two sustained episodes 10 min apart: only the first is prompted; 25 min apart: both."""
    near = PromptPolicy(user="me", config=NEVER_QUIET, seed=1)
    prompts, eps = run_day([(10.0, 150.0, 2.5), (10.0 + 10 / 60, 150.0, 2.5)], near, end_h=11.0)
    assert len(eps) == 2
    assert {p.reason_episode_id for p in prompts if p.kind is not PromptKind.RECOVERY} == {eps[0].id}
    far = PromptPolicy(user="me", config=NEVER_QUIET, seed=1)
    prompts, eps = run_day([(10.0, 150.0, 2.5), (10.0 + 25 / 60, 150.0, 2.5)], far, end_h=11.0)
    assert {p.reason_episode_id for p in prompts if p.kind is not PromptKind.RECOVERY} == {e.id for e in eps}


def test_at_most_two_prompts_per_hour() -> None:
    """Without a cooldown, episodes every 10 minutes still get at most 2 prompts in any hour."""
    cfg = PolicyConfig(cooldown_s=0.0, quiet_start=time(0, 0), quiet_end=time(0, 0), control_probability=0.0)
    policy = PromptPolicy(user="me", config=cfg, seed=1)
    levels = [(10.0 + k / 6, 150.0, 2.5) for k in range(12)]
    prompts, eps = run_day(levels, policy, end_h=12.5)
    sent = sorted(p.t for p in prompts if p.kind is not PromptKind.RECOVERY)
    assert len(eps) == 12 and len(sent) >= 3
    assert all(sum(1 for s in sent if t <= s < t + 3600.0) <= 2 for t in sent)


def test_snooze_suppresses_prompts_until_it_ends() -> None:
    """A 60-minute snooze: no prompt for an episode inside it, a prompt for one after it."""
    policy = PromptPolicy(user="me", config=NEVER_QUIET, seed=1)
    policy.snooze(hours(10.0), 60.0)
    prompts, eps = run_day([(10.3, 200.0, 2.5), (11.5, 200.0, 2.5)], policy, end_h=12.5)
    assert {p.reason_episode_id for p in prompts} == {eps[1].id}


def test_recovery_message_only_after_a_prompted_episode() -> None:
    """An episode that was prompted ends with a recovery message; a suppressed one does not."""
    policy = PromptPolicy(user="me", config=NO_CONTROLS, tz=UTC, seed=1)
    prompts, eps = run_day([(12.0, 200.0, 2.5), (22.5, 200.0, 2.5)], policy)
    rec = [p for p in prompts if p.kind is PromptKind.RECOVERY]
    assert [p.reason_episode_id for p in rec] == [eps[0].id]


def test_no_recovery_message_while_snoozed() -> None:
    """A person who snoozes right after the prompt gets no recovery message when that episode ends."""
    policy = PromptPolicy(user="me", config=NO_CONTROLS, tz=UTC, seed=1)
    prompts, eps = run_day(
        [(12.0, 200.0, 2.5)], policy, end_h=13.0, on_prompt=lambda p: policy.snooze(p.t, 30.0)
    )
    assert len(eps) == 1
    assert [p.kind for p in prompts if p.reason_episode_id == eps[0].id] != []
    assert [p for p in prompts if p.kind is PromptKind.RECOVERY] == []


def _learn(seed: int, helpful: PromptKind, n: int = 150) -> list[PromptKind]:
    """Episodes every 31 min; a prompt of kind ``helpful`` helps 80 % of the time, others 15 %."""
    rng = random.Random(seed + 1000)
    policy = PromptPolicy(user="me", config=NEVER_QUIET, seed=seed)
    chosen: list[PromptKind] = []
    for i in range(n):
        t = DAY0 + i * 31 * 60.0
        p = policy.on_onset(EpisodeOnset(f"ep{i}", "me", t - 60, t, 95.0))
        assert p is not None
        chosen.append(p.kind)
        helped = rng.random() < (0.8 if p.kind is helpful else 0.15)
        policy.on_outcome(PromptOutcome(p.id, t + 180, 0.0, 0.0, 0.0, helped, 10, 10))
    return chosen


def test_learning_converges_on_the_kind_that_helps_this_person() -> None:
    """Thompson sampling picks the helpful kind in most of the late choices, yet keeps exploring."""
    chosen = _learn(seed=5, helpful=PromptKind.GROUNDING)
    late = Counter(chosen[-50:])
    assert late[PromptKind.GROUNDING] >= 35
    assert len(set(chosen)) == len({t.kind for t in CATALOG})  # every kind was tried


def test_learning_is_deterministic_under_a_seed() -> None:
    """The same seed gives the same choices; another seed gives others."""
    assert _learn(11, PromptKind.SIGH, 40) == _learn(11, PromptKind.SIGH, 40)
    assert _learn(11, PromptKind.SIGH, 40) != _learn(12, PromptKind.SIGH, 40)


def test_explicit_feedback_counts_more_than_a_measured_outcome_and_only_once() -> None:
    """Feedback adds feedback_weight to the kind's posterior; a repeat or an unknown id is refused."""
    policy = PromptPolicy(user="me", config=NEVER_QUIET, seed=2)
    p = policy.on_onset(EpisodeOnset("ep", "me", DAY0, DAY0 + 60, 95.0))
    assert p is not None
    before = policy.learner.stats[p.kind].helped
    assert policy.on_feedback(p.id, True) is True
    assert policy.learner.stats[p.kind].helped == before + 2.0
    assert policy.on_feedback(p.id, True) is False
    assert policy.on_feedback("nope", False) is False


def test_a_rise_that_may_be_exertion_gets_a_prompt_that_asks() -> None:
    """An onset flagged as possible exertion (no motion data) gets the check-in prompt, not an exercise."""
    from alerts.catalog import CHECK_IN_MESSAGES

    policy = PromptPolicy(user="u", config=NEVER_QUIET, seed=1)
    p = policy.on_onset(EpisodeOnset("u-1", "u", hours(10), hours(10) + 60, 95.0, exertion=True))
    assert p is not None and p.template_id == CHECK_IN_MESSAGES[0].id and p.kind is PromptKind.CHECK_IN
    assert "?" in p.title
    q = PromptPolicy(user="u", config=NEVER_QUIET, seed=1).on_onset(
        EpisodeOnset("u-2", "u", hours(10), hours(10) + 60, 95.0)
    )
    assert q is not None and q.kind is not PromptKind.CHECK_IN


# -- controls: prompts held back at random ------------------------------------------------------------------


def test_hold_back_draw_is_a_deterministic_function_of_user_and_moment() -> None:
    """The same user and moment always give the same draw; over 4000 moments about 25 % are held back."""
    keys = [f"me-{1_700_000_000 + 37 * i}-{i}/onset" for i in range(4000)]
    draws = [held_back("me", k, 0.25) for k in keys]
    assert draws == [held_back("me", k, 0.25) for k in keys]
    assert 0.23 <= sum(draws) / len(draws) <= 0.27
    assert draws != [held_back("you", k, 0.25) for k in keys]  # per user


def test_probability_zero_never_holds_back_and_one_always_does() -> None:
    """control_probability 0 turns controls off; 1 holds back every moment."""
    keys = [f"ep{i}/onset" for i in range(200)]
    assert not any(held_back("me", k, 0.0) for k in keys)
    assert all(held_back("me", k, 1.0) for k in keys)


def test_held_back_onset_is_a_control_not_a_prompt_and_uses_no_cooldown() -> None:
    """A held-back onset returns a control moment; the next episode 6 minutes later still gets a prompt."""
    cfg = PolicyConfig(
        quiet_start=time(0, 0), quiet_end=time(0, 0), control_probability=0.0, hold_back_first=True
    )
    policy = PromptPolicy(user="me", config=cfg, seed=1)
    first = policy.on_onset(EpisodeOnset("ep1", "me", DAY0, DAY0 + 60, 95.0))
    assert isinstance(first, ControlMoment)
    assert (first.basis, first.stage, first.episode_id, first.t) == (
        ControlBasis.HELD_BACK,
        Stage.ONSET,
        "ep1",
        DAY0 + 60,
    )
    second = policy.on_onset(EpisodeOnset("ep2", "me", DAY0 + 360, DAY0 + 420, 95.0))
    assert isinstance(second, Prompt)


def test_episode_held_back_at_onset_gets_no_escalation() -> None:
    """Still high five minutes after a held-back onset: no escalation prompt (the episode is a control)."""
    cfg = PolicyConfig(quiet_start=time(0, 0), quiet_end=time(0, 0), control_probability=1.0)
    policy = PromptPolicy(user="me", config=cfg, seed=1)
    assert isinstance(policy.on_onset(EpisodeOnset("ep", "me", DAY0, DAY0 + 60, 95.0)), ControlMoment)
    assert all(policy.on_arousal(sample(DAY0 + 60 + 5 * i, 2.5)) is None for i in range(60))


def test_controlled_runs_hold_back_about_a_quarter_of_sustained_episodes() -> None:
    """A day of 20 sustained episodes 40 min apart at the default 0.25: some held back, most prompted."""
    cfg = PolicyConfig(quiet_start=time(0, 0), quiet_end=time(0, 0))
    policy = PromptPolicy(user="me", config=cfg, seed=1)
    levels = [(0.5 + k * 40 / 60, 200.0, 2.5) for k in range(20)]
    decisions, eps = run_day(levels, policy, end_h=14.5)
    controls = [d for d in decisions if isinstance(d, ControlMoment)]
    firsts = {
        d.reason_episode_id for d in decisions if isinstance(d, Prompt) and d.kind is not PromptKind.RECOVERY
    }
    assert len(eps) == 20
    assert 1 <= len(controls) <= 10
    assert {c.episode_id for c in controls}.isdisjoint(firsts)
    assert len(firsts) + len(controls) == 20


def test_learner_learns_only_from_outcomes_compared_with_controls() -> None:
    """An outcome with nothing to compare with (helped None) leaves the posterior as it was."""
    policy = PromptPolicy(user="me", config=NEVER_QUIET, seed=2)
    p = policy.on_onset(EpisodeOnset("ep", "me", DAY0, DAY0 + 60, 95.0))
    assert isinstance(p, Prompt)
    st = policy.learner.stats[p.kind]
    before = (st.helped, st.not_helped)
    policy.on_outcome(PromptOutcome(p.id, DAY0 + 240, 0.3, -5.0, -20.0, None, 24, 25, came_down=True))
    assert (st.helped, st.not_helped) == before
    policy.on_outcome(
        PromptOutcome(
            p.id,
            DAY0 + 240,
            0.3,
            -5.0,
            -20.0,
            False,
            24,
            25,
            came_down=True,
            helped_basis=HelpedBasis.CONTROLS,
        )
    )
    assert (st.helped, st.not_helped) == (before[0], before[1] + 1.0)
