"""A practice started on the page: one session, the pacer on the page, no push and no prompt."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.support.http_receiver import Receiver
from tests.web.conftest import chromium, open_page, served, simulate, wait_until

SCALE = 20.0  # a one-minute practice takes 3 wall seconds


def test_a_one_minute_practice_from_the_page_is_one_stored_session_and_no_prompt(tmp_path: Path) -> None:
    """Practice now, 1 minute: the pacer runs, one practice row with minutes and HR oscillation, no push,
    nothing added to the prompts, and the week's practice minutes say 1."""

    async def main(r: Receiver) -> tuple[list[tuple[object, ...]], int, bool, str, str]:
        env = {"CALMSTRAP_NOTIFY__URLS": r.url}
        async with (
            served(tmp_path, env, time_scale=SCALE) as s,
            chromium() as browser,
            simulate(s, speed=SCALE, minutes=30.0),
        ):
            page = await open_page(browser, s.url)
            assert await wait_until(lambda: s.session.stats.beats > 100, 30.0)
            await page.select_option("#practice-min", "1")
            await page.click("#practice-start")
            await page.wait_for_function("() => window.__calmstrap.pacer !== null", timeout=5000)
            pacer_ran = True
            assert await wait_until(lambda: bool(s.archive.query("SELECT 1 FROM practice")), 30.0)
            await page.wait_for_function(
                "() => document.getElementById('practice-live').textContent.startsWith('Done')",
                timeout=5000,
            )
            done_text = await page.inner_text("#practice-live")
            week = await page.inner_text("#week-min")
            rows = s.archive.query(
                "SELECT minutes, origin, completed, n_beats, osc_freq_hz, osc_amplitude_bpm FROM practice"
            )
            return rows, s.archive.count("prompts"), pacer_ran, done_text, week

    with Receiver() as r:
        rows, n_prompts, pacer_ran, done_text, week = asyncio.run(main(r))
        pushes = r.messages()
    assert pacer_ran
    ((minutes, origin, completed, n_beats, freq_hz, amplitude_bpm),) = rows
    assert (minutes, origin, completed) == (1.0, "page", 1)
    assert isinstance(n_beats, int) and n_beats > 40
    assert isinstance(freq_hz, float) and isinstance(amplitude_bpm, float) and amplitude_bpm > 0
    assert n_prompts == 0 and pushes == []
    assert "1 minute logged" in done_text and week == "1"
