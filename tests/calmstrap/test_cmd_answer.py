"""``calmstrap feedback``, ``snooze`` and ``practice`` against a running ``calmstrap run --source sim``."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

from tests.support.http_receiver import Receiver

REPO = Path(__file__).resolve().parents[2]


def env_with(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALMSTRAP_")}
    env.update(
        PYTHONPATH=str(REPO),
        CALMSTRAP_POLICY__QUIET_HOURS="0:00-0:00",
        CALMSTRAP_POLICY__CONTROL_PROBABILITY="0",
        # personal after 5 minutes (default 30): the sim's first episode (seed 1, minute 21) then prompts,
        # not only its second (minute 45); what is tested is the CLI reaching the service, not the baseline
        CALMSTRAP_PROCESSING__BASELINE_MIN_MINUTES="5",
        # no recovery message: it closes a prompted episode whatever the snooze, and at 100x it can come
        # in the middle of the practice (a second push, a prompt row): what is tested is snooze and practice
        CALMSTRAP_POLICY__DISABLED_KINDS="recovery",
        **extra,
    )
    return env


def cli(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "calmstrap", *args, "--data-dir", str(data)],
        env=env_with(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def rows(data: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(data / "archive.db", timeout=10) as db:
        return db.execute(sql).fetchall()


def wait_for(pred: object, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():  # type: ignore[operator]
            return True
        time.sleep(0.2)
    return False


def test_feedback_snooze_and_practice_reach_a_running_service(tmp_path: Path) -> None:
    """The CLI finds the service by its address file: feedback lands on the latest prompt, snooze is
    applied, a practice is one stored session with one push and no prompt."""
    data = tmp_path / "d"
    args = ["run", "--source", "sim", "--seed", "1", "--speed", "100", "--web", "127.0.0.1:0"]
    with Receiver() as r:
        service = subprocess.Popen(
            [sys.executable, "-m", "calmstrap", *args, "--data-dir", str(data)],
            env=env_with(CALMSTRAP_NOTIFY__URLS=r.url),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            address = data / "web.json"
            assert wait_for(address.is_file, 60.0), "the service wrote no address file"
            assert stat.S_IMODE(address.stat().st_mode) == 0o600
            answerable = "SELECT id FROM prompts WHERE kind != 'recovery' ORDER BY t DESC LIMIT 1"
            assert wait_for(lambda: rows(data, answerable), 90.0), "no prompt from the sim"
            latest = rows(data, answerable)
            fb = cli(data, "feedback", "helped")
            sn = cli(data, "snooze", "60")
            n_prompts = len(rows(data, "SELECT id FROM prompts"))
            pushes_before = len(r.messages())
            pr = cli(data, "practice", "--minutes", "1")
            assert wait_for(lambda: rows(data, "SELECT 1 FROM practice"), 30.0), pr.stderr
            practice = rows(
                data, "SELECT minutes, origin, completed, n_beats, osc_amplitude_bpm FROM practice"
            )
            pushes = r.wait_for(pushes_before + 1, 5.0)[pushes_before:]
            after_prompts = len(rows(data, "SELECT id FROM prompts"))
            answered = rows(data, "SELECT t, kind FROM prompts WHERE feedback_helped = 1")
            (seen_t,) = rows(data, f"SELECT t FROM prompts WHERE id = '{latest[0][0]}'")
        finally:
            service.send_signal(signal.SIGINT)
            _out, err = service.communicate(timeout=60)
    assert fb.returncode == 0, fb.stderr
    # the latest prompt one can answer when the CLI asked (a recovery message asks nothing; at 100x a newer
    # prompt may have come after the test looked)
    assert len(answered) == 1 and answered[0][1] != "recovery" and answered[0][0] >= seen_t[0]
    assert sn.returncode == 0 and "60 minutes" in sn.stdout, sn.stderr
    assert pr.returncode == 0, pr.stderr
    assert practice[0][:3] == (1.0, "cli", 1) and int(practice[0][3]) > 40  # type: ignore[call-overload]
    assert practice[0][4] is not None
    assert after_prompts == n_prompts  # a practice adds nothing to "prompts sent"
    assert len(pushes) == 1 and pushes[0].doc["title"] == "Breathing practice"
    assert "Traceback" not in err
    assert not (data / "web.json").exists()  # removed when the service stops


def test_without_a_running_service_the_cli_says_so(tmp_path: Path) -> None:
    """No service: a plain message naming where it looked, and exit code 3."""
    r = subprocess.run(
        [sys.executable, "-m", "calmstrap", "snooze", "30", "--data-dir", str(tmp_path)],
        env=env_with(CALMSTRAP_WEB__LISTEN="127.0.0.1:9"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 3
    assert "no running calmstrap service" in r.stderr and "127.0.0.1:9" in r.stderr
    assert json.dumps({}) not in r.stderr
