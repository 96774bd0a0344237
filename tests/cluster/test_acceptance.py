"""Issue 14 acceptance: 20 users through collect -> 3 workers -> archive on a 3-node cluster, with a worker
killed (kill -9) and a NATS node stopped mid-run, give exactly what ``calmstrap run`` gives per user."""

from __future__ import annotations

import re
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from calmstrap import cli
from tests.cluster.conftest import NO_QUIET_HOURS, Proc, wait_for, write_recording
from tests.support.nats import NatsCluster

USERS = [f"u{i}" for i in range(20)]
MINUTES = 12.0
SPEED = 30.0
COMPARED = {
    "beats": "SELECT device, t, rr_ms, artifact FROM beats WHERE user = ? ORDER BY device, t",
    "gaps": "SELECT device, start_t, end_t, reason FROM gaps WHERE user = ? ORDER BY start_t",
    "windows": "SELECT device, channel, t, window_s, n_beats, artifact_pct, mean_hr_bpm, rmssd_ms, sdnn_ms,"
    " lf_ms2, hf_ms2, dfa_a1, valid FROM windows WHERE user = ? ORDER BY channel, t",
    "arousal": "SELECT t, score, a, z_hr, z_ln_rmssd, state, warming_up, gated FROM arousal WHERE user = ?"
    " ORDER BY t",
    "episodes": "SELECT id, onset_t, peak_t, end_t, peak_score, amplitude, duration_s, recovery_s, t50_s,"
    " prompt_ids FROM episodes WHERE user = ? ORDER BY id",
    "prompts": "SELECT id, t, kind, template_id, title, body, expires_t, reason_episode_id, reason_score,"
    " outcome_t, d_ln_rmssd, d_hr_bpm, d_score, helped FROM prompts WHERE user = ? ORDER BY id",
}


def _rows(db: Path, user: str) -> dict[str, list[tuple[object, ...]]]:
    con = sqlite3.connect(db)
    try:
        return {name: con.execute(sql, (user,)).fetchall() for name, sql in COMPARED.items()}
    finally:
        con.close()


def _count(db: Path, sql: str) -> int:
    if not db.exists():
        return 0
    con = sqlite3.connect(db)
    try:
        return int(con.execute(sql).fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        con.close()


def _single_runs(
    tmp_path: Path, files: dict[str, Path], start: float, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """One ``calmstrap run --source replay:FILE`` per user (in this process), all into one reference archive."""
    ref = tmp_path / "reference"
    for k, v in NO_QUIET_HOURS.items():
        monkeypatch.setenv(k, v)
    for user, f in files.items():
        monkeypatch.setenv("CALMSTRAP_GENERAL__USER", user)
        args = [
            "run",
            "--source",
            f"replay:{f}",
            "--speed",
            "2000",
            "--start",
            repr(start),
            "--data-dir",
            str(ref),
        ]
        assert cli.main(args) == 0
    return ref / "archive.db"


@pytest.mark.slow
def test_cluster_gives_what_run_gives_through_a_worker_kill_and_a_node_stop(
    tmp_path: Path,
    nats_cluster: NatsCluster,
    spawn: Callable[..., Proc],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every user's beats, gaps, windows, arousal, episodes and prompts equal a single run's; prompts once."""
    files = {u: write_recording(tmp_path / f"{u}.txt", seed=i, minutes=MINUTES) for i, u in enumerate(USERS)}
    start = float(int(time.time()))
    service = nats_cluster.service_env() | {"CALMSTRAP_NATS__CHECKPOINT_EVERY_S": "1"}
    workers = [spawn(f"worker{i}", "worker", env=service) for i in range(3)]
    archive_dir = tmp_path / "clinic"
    archiver = spawn("archiver", "archive", "--data-dir", str(archive_dir), env=service)
    db = archive_dir / "archive.db"
    wait_for(
        lambda: all("took partition" in w.stderr() for w in workers), 300, "three workers with partitions"
    )

    collectors = [
        spawn(
            f"collect-{u}",
            "collect",
            "--source",
            f"replay:{f}",
            "--speed",
            str(SPEED),
            "--start",
            repr(start),
            "--data-dir",
            str(tmp_path / f"edge-{u}"),
            env=nats_cluster.edge_env(u) | {"CALMSTRAP_GENERAL__USER": u},
        )
        for u, f in files.items()
    ]
    run_s = MINUTES * 60.0 / SPEED
    wait_for(lambda: all("collecting:" in c.stderr() for c in collectors), 240, "every collector to start")
    # the single-process reference runs in this process while the cluster replays in real time (every
    # subprocess has been started: nothing reads the environment the reference runs set meanwhile)
    with ThreadPoolExecutor(1, thread_name_prefix="reference") as pool:
        reference_runs = pool.submit(_single_runs, tmp_path, files, start, monkeypatch)
        time.sleep(run_s * 0.3)
        workers[0].kill9()
        time.sleep(run_s * 0.2)
        nats_cluster.nodes[2].stop()
        for c in collectors:
            assert c.wait(timeout_s=600) == 0, c.stderr()[-2000:]
        reference = reference_runs.result()
    expected_beats = _count(reference, "SELECT COUNT(*) FROM beats")
    expected_episodes = _count(reference, "SELECT COUNT(*) FROM episodes")
    wait_for(
        lambda: (
            _count(db, "SELECT COUNT(*) FROM beats") == expected_beats
            and _count(db, "SELECT COUNT(*) FROM episodes") == expected_episodes
        ),
        600,
        "the clinic archive to catch up",
    )
    time.sleep(3.0)  # anything still in flight would arrive now (and must not: it would be a duplicate)
    assert archiver.stop() == 0
    for w in workers[1:]:
        assert w.stop() == 0

    took_over = [w for w in workers[1:] if "consuming from stream sequence" in w.stderr()]
    assert took_over, "the surviving workers took over the killed worker's partitions"
    n_prompts = 0
    for u in USERS:
        got, want = _rows(db, u), _rows(reference, u)
        for table in COMPARED:
            assert got[table] == want[table], f"{u}: {table} differs"
        n_prompts += len(want["prompts"])
    assert n_prompts >= 20, "the recordings must prompt for the comparison to mean something"

    delivered = Counter(re.findall(r"prompt (\S+) delivered via (\S+)", archiver.stderr()))
    ids = [r[0] for u in USERS for r in _rows(reference, u)["prompts"]]
    assert sorted(i for i, _via in delivered) == sorted(ids), "each prompt delivered"
    assert max(delivered.values()) == 1, "no prompt delivered twice"
    assert not re.findall(r"prompt \S+ expired", archiver.stderr()), "no prompt lost within its expiry"
    assert set(re.findall(r"prompts delivered, (\d+) expired", archiver.stderr())) == {"0"}, (
        "archiver's count"
    )
