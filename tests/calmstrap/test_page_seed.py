"""The page starts with today's rows from the archive (a restart keeps the person's day)."""

from __future__ import annotations

import time
from pathlib import Path

from alerts.catalog import by_id
from calmstrap.config import load_config
from calmstrap.page import seed_from_archive
from calmstrap.pipeline import new_session
from processing.arousal import Arousal, ArousalState
from processing.episodes import EpisodeOnset
from processing.outcomes import HrOscillation
from storage.archive import Archive
from storage.practice import PracticeRecord, add_practice
from web.live import LiveHub


def test_todays_arousal_prompts_and_this_weeks_practice_come_from_the_archive(tmp_path: Path) -> None:
    """Arousal every 5 s for 10 minutes, one prompt, one 2-minute practice: the hub's snapshot has the
    samples thinned to one per 20 s, the prompt with its feedback, and 2 practice minutes."""
    cfg = load_config(None, env={"CALMSTRAP_POLICY__QUIET_HOURS": "0:00-0:00"})
    now = time.time()
    t0 = max(now - 600.0, now - (now % 86400) + 1.0)  # today (UTC midnight or later)
    with Archive.in_dir(tmp_path) as archive:
        for i in range(int((now - t0) // 5)):
            x = Arousal(t0 + 5.0 * i, 30.0, -0.5, 0.0, 0.0, ArousalState.CALM, False, hr_bpm=62.0)
            archive.add_arousal("me", x)
        session = new_session(cfg, archive, [], user="me", device="d")
        p = session.policy.on_onset(EpisodeOnset("ep", "me", now - 120.0, now - 60.0, 95.0))
        assert p is not None
        archive.add_prompt(p, "console")
        archive.set_prompt_feedback(p.id, True)
        add_practice(
            archive,
            PracticeRecord(
                "pr",
                "me",
                now - 300.0,
                now - 180.0,
                2.0,
                6.0,
                "page",
                True,
                130,
                HrOscillation(0.1, 9.0, 0.6),
                -2.0,
            ),
        )
        archive.commit()
        hub = LiveHub()
        seed_from_archive(hub, archive, "me", now)
        snap = hub.snapshot("me")
    n_rows = int((now - t0) // 5)
    assert 0 < len(snap["timeline"]) <= n_rows // 4 + 1
    assert [q["id"] for q in snap["prompts"]] == [p.id]
    assert snap["prompts"][0]["feedback_helped"] is True
    assert snap["prompts"][0]["title"] == by_id(p.template_id).title
    assert snap["practice_week_min"] == 2.0
