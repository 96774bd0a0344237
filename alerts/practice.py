"""A guided slow-breathing practice: pacing prompts, one per breath, asked for with a ``practice`` command.

At ``breaths_per_min`` (default 6, the resonance range) each breath is 40 % in, 60 % out (4 s in, 6 s out at
6 per minute). Each pacing prompt expires when its breath is over: a late pacing cue is worse than none. Prompt ids are
``<user>-practice-<start in epoch ms>-<breath>``: with one practice at a time per user
(:func:`alerts.commands.check_practice_free`) no two practices share an id.
"""

from __future__ import annotations

from alerts.catalog import Prompt, PromptKind

PRACTICE_TEMPLATE_ID = "practice-pacing"


def practice_prompts(user: str, start_t: float, minutes: float, breaths_per_min: float = 6.0) -> list[Prompt]:
    """The pacing prompts of one practice, the first at ``start_t``, then one per breath."""
    cycle_s = 60.0 / breaths_per_min
    inhale_s = round(0.4 * cycle_s, 1)
    exhale_s = round(cycle_s - inhale_s, 1)
    n = max(1, round(minutes * breaths_per_min))
    out: list[Prompt] = []
    for i in range(n):
        t = start_t + i * cycle_s
        last = i == n - 1
        out.append(
            Prompt(
                id=f"{user}-practice-{round(start_t * 1000)}-{i + 1}",
                user=user,
                t=t,
                kind=PromptKind.BREATHING,
                title="Practice done" if last else f"Breath {i + 1} of {n}",
                body=(
                    "That's the practice. Notice how you feel now."
                    if last
                    else f"Breathe in for {inhale_s:g}, and out slowly for {exhale_s:g}."
                ),
                duration_s=max(1, round(cycle_s)),
                template_id=PRACTICE_TEMPLATE_ID,
                expires_t=t + cycle_s,
                inhale_s=inhale_s,
                hold_s=0.0,
                exhale_s=exhale_s,
            )
        )
    return out
