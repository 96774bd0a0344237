"""The simulated month (prompts never followed) against its controls: the share helped stays honest."""

from __future__ import annotations

from storage.archive import Archive
from tests.exports.conftest import Month


def test_month_holds_moments_back_in_their_own_table(month_archive: Archive, month: Month) -> None:
    """Some due prompts were held back: rows of controls, never of prompts; an episode held back at its
    onset got no prompt at all."""
    held = month_archive.query(
        "SELECT id, reason_episode_id FROM controls WHERE user = ? AND basis = 'held back' AND stage = 'onset'",
        (month.user,),
    )
    assert held
    prompt_episodes = {
        r[0]
        for r in month_archive.query(
            "SELECT reason_episode_id FROM prompts WHERE user = ? AND kind != 'recovery'", (month.user,)
        )
    }
    assert prompt_episodes.isdisjoint({r[1] for r in held})


def test_ignored_prompts_of_the_month_are_rarely_helped(month_archive: Archive, month: Month) -> None:
    """No prompt of the month is followed: at most a quarter are 'helped compared with the moments held
    back', fewer than 'came down after' (the raw change, which regression to the mean inflates)."""
    rows = month_archive.query(
        "SELECT helped, came_down FROM prompts WHERE user = ? AND kind != 'recovery' AND outcome_t IS NOT NULL",
        (month.user,),
    )
    assert len(rows) >= 10
    helped = sum(1 for h, _ in rows if h == 1)
    came_down = sum(1 for _, c in rows if c == 1)
    assert helped <= 0.25 * len(rows)
    assert helped < came_down
