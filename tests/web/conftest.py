"""The person's page under test: the real service wiring in this event loop, a real headless Chromium.

:func:`served` runs what ``calmstrap run``/``demo`` run (notifiers, alert services, the page service) for
one user, without a strap; tests feed it with the simulated strap (:func:`simulate`) or the pipeline's own
send path. :func:`chromium` is Debian's chromium driven by Playwright (never a downloaded browser).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from alerts.catalog import Prompt
from alerts.console import ConsoleNotifier
from alerts.notify import StrapStatus
from calmstrap.alerting import alert_services
from calmstrap.cli import notifiers_for
from calmstrap.config import load_config
from calmstrap.page import PagePlan, page_service, plan_page
from calmstrap.pipeline import StrapSession, new_session
from calmstrap.sources import consume_isolated
from processing.arousal import Arousal
from processing.episodes import Episode, EpisodeOnset
from sensors.simulated import ScriptedEpisode, SimulatedStrap
from storage.archive import Archive
from tests.support.mosquitto import require_binary

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class DecisionProbe:
    """A side channel first in line: the wall time each prompt left the pipeline's decision."""

    name: str = "probe"
    side_channel: bool = True
    decided: dict[str, float] = field(default_factory=dict)

    async def send_prompt(self, prompt: Prompt) -> bool:
        self.decided[prompt.id] = time.time()
        return True

    async def publish_state(self, user: str, arousal: Arousal, strap: StrapStatus | None) -> None:
        return None

    async def publish_episode(self, user: str, event: EpisodeOnset | Episode) -> None:
        return None


@dataclass
class Served:
    session: StrapSession
    plan: PagePlan
    archive: Archive
    probe: DecisionProbe
    console: io.StringIO
    data_dir: Path

    @property
    def url(self) -> str:
        return self.plan.public_url


@asynccontextmanager
async def served(
    tmp_path: Path,
    env: Mapping[str, str] | None = None,
    *,
    listen: str = "127.0.0.1:0",
    time_scale: float = 1.0,
    user: str = "me",
) -> AsyncIterator[Served]:
    base = {
        "CALMSTRAP_POLICY__QUIET_HOURS": "0:00-0:00",
        "CALMSTRAP_POLICY__CONTROL_PROBABILITY": "0",
        # a 12-minute simulation: the baseline is personal after 2 minutes (default 30), so episodes prompt
        "CALMSTRAP_PROCESSING__BASELINE_MIN_MINUTES": "2",
    }
    cfg = load_config(None, env={**base, **(env or {})})
    plan = plan_page(cfg, listen, default_on=False)
    assert plan is not None
    data_dir = tmp_path / "data"
    console = io.StringIO()
    probe = DecisionProbe()
    with Archive.in_dir(data_dir) as archive:
        notifiers = [
            probe,
            *notifiers_for(
                cfg, ConsoleNotifier(stream=console), users=(user,), time_scale=time_scale, page=plan
            ),
        ]
        session = new_session(
            cfg,
            archive,
            notifiers,
            user=user,
            device="sim-strap",
            restore_baseline=False,
            ignore_quiet_hours=True,
        )
        async with (
            alert_services([session], time_scale=time_scale),
            page_service(plan, cfg, [session], data_dir=data_dir, time_scale=time_scale, out=io.StringIO()),
        ):
            yield Served(session, plan, archive, probe, console, data_dir)


@asynccontextmanager
async def simulate(
    s: Served, *, speed: float, minutes: float, episodes: tuple[ScriptedEpisode, ...] = (), seed: int = 1
) -> AsyncIterator[SimulatedStrap]:
    """The simulated strap through the session (in accelerated time, ending ``minutes`` from now)."""
    strap = SimulatedStrap(
        seed=seed,
        speed=speed,
        duration_s=60.0 * minutes,
        episodes=episodes,
        start_epoch=float(int(time.time() - 60.0 * minutes)),
    )
    task = asyncio.create_task(consume_isolated(s.session, strap), name="strap:test")
    try:
        yield strap
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def chromium_path() -> str:
    return require_binary("chromium", ("/usr/bin/chromium",))


@asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    """Debian's chromium, headless, through Playwright (its own driver, no browser download)."""
    path = chromium_path()
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def open_page(browser: Any, url: str, *, viewport: tuple[int, int] = (412, 900)) -> Any:
    """A page at ``url`` that has its first snapshot from the stream."""
    ctx = await browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    page = await ctx.new_page()
    await page.goto(url)
    await page.wait_for_function("() => window.__calmstrap && window.__calmstrap.events > 0", timeout=10_000)
    return page


async def wait_until(predicate: Any, timeout_s: float, step_s: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(step_s)
    return bool(predicate())


@pytest.fixture(autouse=True)
def _no_service_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for k in list(os.environ):
        if k.startswith("CALMSTRAP_"):
            monkeypatch.delenv(k)
