"""The person's page in a real headless Chromium, fed by the real pipeline."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path

from processing.episodes import EpisodeOnset
from sensors.simulated import demo_script
from tests.web.conftest import ARTIFACTS, chromium, open_page, served, simulate, wait_until

ONLY_LONG_EXHALE = {"CALMSTRAP_POLICY__DISABLED_KINDS": "breathing sigh orienting grounding urge_surfing"}
SHOWN = "(id) => window.__calmstrap.shown[id] !== undefined"
SPEED = 120.0
MINUTES = 12.0


def test_a_prompt_sent_by_the_pipeline_appears_on_an_open_page_within_a_second(tmp_path: Path) -> None:
    """The simulated strap's first episode makes the policy prompt; the open page shows it within 1 s."""

    async def main() -> tuple[float, str, str]:
        async with served(tmp_path, time_scale=SPEED) as s, chromium() as browser:
            page = await open_page(browser, s.url)
            async with simulate(s, speed=SPEED, minutes=MINUTES, episodes=demo_script(MINUTES)):
                assert await wait_until(lambda: bool(s.probe.decided), 60.0)
                pid, decided = next(iter(s.probe.decided.items()))
                await page.wait_for_function(SHOWN, arg=pid, timeout=5000)
                shown_ms = await page.evaluate("(id) => window.__calmstrap.shown[id]", pid)
                title = await page.inner_text("#prompt-title")
                sent_title = s.session.prompts[0].title
            return shown_ms / 1000.0 - decided, title, sent_title

    latency_s, title, sent_title = asyncio.run(main())
    assert 0.0 <= latency_s < 1.0, latency_s
    assert title == sent_title


def _turning_points(samples: list[list[float]]) -> list[tuple[float, str]]:
    """(time s, 'max' | 'min') where the circle's size stops growing / shrinking."""
    out: list[tuple[float, str]] = []
    direction = 0
    flat_since = samples[0][0]
    for (t0, w0), (t1, w1) in itertools.pairwise(samples):
        d = w1 - w0
        if abs(d) < 0.05:  # under a twentieth of a pixel: flat (the eased ends of a breath)
            continue
        new = 1 if d > 0 else -1
        if direction and new != direction:
            out.append(((flat_since + t0) / 2000.0, "max" if direction > 0 else "min"))
        flat_since = t1
        direction = new
    return out


def test_the_pacer_grows_for_the_inhale_and_shrinks_for_the_exhale_seconds_of_the_prompt(
    tmp_path: Path,
) -> None:
    """Only "long exhale" left on: the policy's prompt is 4 s in, 8 s out; the circle follows within 10 %."""

    async def main() -> tuple[float, float, list[list[float]]]:
        async with served(tmp_path, ONLY_LONG_EXHALE, time_scale=SPEED) as s, chromium() as browser:
            page = await open_page(browser, s.url)
            async with simulate(s, speed=SPEED, minutes=MINUTES, episodes=demo_script(MINUTES)):
                assert await wait_until(lambda: bool(s.probe.decided), 60.0)
            prompt = s.session.prompts[0]
            assert prompt.inhale_s is not None and prompt.exhale_s is not None
            await page.wait_for_function("() => window.__calmstrap.pacer !== null", timeout=5000)
            cycle_ms = 1000.0 * (prompt.inhale_s + (prompt.hold_s or 0.0) + prompt.exhale_s)
            samples = await page.evaluate(
                """(ms) => new Promise((done) => {
                    const el = document.getElementById("pacer-circle");
                    const out = [];
                    const t0 = performance.now();
                    const f = (now) => {
                        out.push([now - t0, el.getBoundingClientRect().width]);
                        if (now - t0 < ms) requestAnimationFrame(f); else done(out);
                    };
                    requestAnimationFrame(f);
                })""",
                2.6 * cycle_ms,
            )
            return prompt.inhale_s, prompt.exhale_s, samples

    inhale_s, exhale_s, samples = asyncio.run(main())
    assert (inhale_s, exhale_s) == (4.0, 8.0)
    widths = [w for _, w in samples]
    assert max(widths) > 1.8 * min(widths)  # it really breathes
    turns = _turning_points(samples)
    grow = [b[0] - a[0] for a, b in itertools.pairwise(turns) if (a[1], b[1]) == ("min", "max")]
    shrink = [b[0] - a[0] for a, b in itertools.pairwise(turns) if (a[1], b[1]) == ("max", "min")]
    assert grow and shrink, turns
    for g in grow:
        assert abs(g - inhale_s) <= 0.1 * inhale_s, (grow, shrink)
    for d in shrink:
        assert abs(d - exhale_s) <= 0.1 * exhale_s, (grow, shrink)


def test_helped_on_the_page_lands_in_the_archive_and_reaches_the_prompt_chooser(tmp_path: Path) -> None:
    """A tap on "It helped": the prompt's row says so and its kind's posterior gains the feedback weight."""

    async def main() -> tuple[list[tuple[object, ...]], float, float]:
        async with served(tmp_path) as s, chromium() as browser:
            page = await open_page(browser, s.url)
            now = time.time()
            prompt = s.session.policy.on_onset(EpisodeOnset("ep", "me", now - 60.0, now, 95.0))
            assert prompt is not None
            await s.session.deliver(prompt)
            await page.wait_for_function(SHOWN, arg=prompt.id, timeout=5000)
            before = s.session.policy.learner.stats[prompt.kind].helped
            await page.click("#helped")
            await page.wait_for_function(
                "() => document.getElementById('answer-note').textContent.length > 0"
            )
            rows = s.archive.query("SELECT feedback_helped FROM prompts WHERE id = ?", (prompt.id,))
            gained = s.session.policy.learner.stats[prompt.kind].helped - before
            return rows, gained, s.session.policy.config.feedback_weight

    rows, gained, weight = asyncio.run(main())
    assert rows == [(1,)]
    assert gained == weight > 0


def test_screenshots_on_a_phone_and_a_desktop_viewport_are_kept_as_artefacts(tmp_path: Path) -> None:
    """With a live state, today's timeline and a prompt, the page is photographed at 390x844 and 1280x900."""

    async def main() -> list[Path]:
        async with served(tmp_path, ONLY_LONG_EXHALE, time_scale=SPEED) as s, chromium() as browser:
            phone = await open_page(browser, s.url, viewport=(390, 844))
            desk = await open_page(browser, s.url, viewport=(1280, 900))
            async with simulate(s, speed=SPEED, minutes=MINUTES, episodes=demo_script(MINUTES)):
                assert await wait_until(lambda: bool(s.probe.decided), 60.0)
                await asyncio.sleep(1.5)  # mid-breath, with some timeline after the prompt
            ARTIFACTS.mkdir(exist_ok=True)
            out = [ARTIFACTS / "page-phone.png", ARTIFACTS / "page-desktop.png"]
            await phone.screenshot(path=str(out[0]), full_page=True)
            await desk.screenshot(path=str(out[1]), full_page=True)
            assert await phone.locator("#timeline .prompt-mark").count() >= 1
            assert await phone.locator("#timeline .episode").count() >= 1
            return out

    for path in asyncio.run(main()):
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
