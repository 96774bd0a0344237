"""`calmstrap run --source sim` writes to user `sim` (or `--user`), never into the configured person's rows."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from tests.calmstrap.conftest import cli_env

REPO = Path(__file__).resolve().parents[2]
TABLES = (
    "beats",
    "windows",
    "arousal",
    "episodes",
    "prompts",
    "baseline",
    "device_status",
    "weekly_progress",
)


def _counts(db: Path, user: str) -> dict[str, int]:
    with sqlite3.connect(db) as con:
        return {
            t: con.execute(f"SELECT COUNT(*) FROM {t} WHERE user = ?", (user,)).fetchone()[0] for t in TABLES
        }


def _total_arousal(db: Path) -> int:
    """Arousal rows of every user (0 before the archive exists)."""
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db) as con:
            return int(con.execute("SELECT COUNT(*) FROM arousal").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def _run_sim(data_dir: Path, env: dict[str, str], *extra: str) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "calmstrap",
            "run",
            "--source",
            "sim",
            "--speed",
            "200",
            "--data-dir",
            str(data_dir),
            *extra,
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    db = data_dir / "archive.db"
    n0 = _total_arousal(db)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            time.sleep(0.3)
            if _total_arousal(db) > n0 + 20:
                break
        else:
            raise AssertionError("the simulated strap archived nothing within 60 s")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0, proc.stderr.read() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()


def test_sim_leaves_the_configured_users_rows_untouched(tmp_path: Path) -> None:
    """With user ana configured and her recording archived, a sim run adds rows for `sim` and none for ana."""
    env = {**cli_env(), "CALMSTRAP_GENERAL__USER": "ana"}
    data = tmp_path / "d"
    rr = np.load(REPO / "tests" / "fixtures" / "SampleNNISeriesLong.npy")[:600]
    f = tmp_path / "rr.txt"
    f.write_text("\n".join(str(int(x)) for x in rr) + "\n", encoding="utf-8")
    rep = subprocess.run(
        [
            sys.executable,
            "-m",
            "calmstrap",
            "run",
            "--source",
            f"replay:{f}",
            "--speed",
            "100000",
            "--data-dir",
            str(data),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert rep.returncode == 0, rep.stderr
    before = _counts(data / "archive.db", "ana")
    assert before["beats"] == len(rr)
    _run_sim(data, env)
    assert _counts(data / "archive.db", "ana") == before
    sim = _counts(data / "archive.db", "sim")
    assert sim["beats"] > 0 and sim["arousal"] > 0


def test_sim_user_option_names_whose_rows(tmp_path: Path) -> None:
    """`--user test_rig` puts the simulated rows under that user instead of `sim`."""
    data = tmp_path / "d"
    _run_sim(data, cli_env(), "--user", "test_rig")
    assert _counts(data / "archive.db", "test_rig")["beats"] > 0
    assert _counts(data / "archive.db", "sim")["beats"] == 0
