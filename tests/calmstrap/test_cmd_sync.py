"""`calmstrap demo`/`run` writing to a real InfluxDB as they go, and `calmstrap sync` (backfill)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage.archive import Archive
from storage.influx import MEASUREMENTS
from tests.support.influxdb import InfluxServer, running_influxdb

REPO = Path(__file__).resolve().parents[2]
DB = "calmstrap"
CORE = ("beat", "hrv", "arousal", "episode", "prompt", "baseline")


@pytest.fixture
def influxdb(tmp_path: Path) -> Iterator[InfluxServer]:
    root = tmp_path / "influxdb"
    root.mkdir()
    with running_influxdb(root) as server:
        server.create_database(DB)
        yield server


def env_for(server: InfluxServer | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALMSTRAP_")}
    env["PYTHONPATH"] = str(REPO)
    if server is not None:
        env.update(
            CALMSTRAP_INFLUX__URL=server.url,
            CALMSTRAP_INFLUX__API="v1",
            CALMSTRAP_INFLUX__DATABASE=DB,
            CALMSTRAP_INFLUX__FLUSH_INTERVAL_S="0.2",
        )
    env.update(extra)
    return env


def calmstrap(
    *args: str, env: dict[str, str], cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """The CLI in a subprocess, run from ``cwd`` (a test's empty tmp dir: no stray ./calmstrap.toml)."""
    return subprocess.run(
        [sys.executable, "-m", "calmstrap", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )


def archive_vs_influx(data_dir: Path, server: InfluxServer) -> dict[str, tuple[int, int]]:
    with Archive.in_dir(data_dir) as a:
        return {m.name: (a.count(m.table), server.count(m.name, DB)) for m in MEASUREMENTS}


def assert_counts_equal(data_dir: Path, server: InfluxServer) -> None:
    counts = archive_vs_influx(data_dir, server)
    assert {k: v[0] for k, v in counts.items()} == {k: v[1] for k, v in counts.items()}
    for name in CORE:
        assert counts[name][0] > 0, f"the demo wrote no {name} rows"


def test_demo_writes_every_row_to_influxdb(tmp_path: Path, influxdb: InfluxServer) -> None:
    """After `calmstrap demo` with api v1, every measurement has exactly the archive's row count."""
    data = tmp_path / "data"
    out = calmstrap(
        "demo",
        "--data-dir",
        str(data),
        "--minutes",
        "20",
        "--speed",
        "600",
        env=env_for(influxdb),
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert_counts_equal(data, influxdb)


def test_a_second_demo_replaces_the_first_in_influxdb_too(tmp_path: Path, influxdb: InfluxServer) -> None:
    """The demo replaces its previous run in the archive and in InfluxDB: counts still match after two."""
    data = tmp_path / "data"
    for seed in ("1", "2"):
        args = ("demo", "--data-dir", str(data), "--minutes", "8", "--speed", "2000", "--seed", seed)
        out = calmstrap(*args, env=env_for(influxdb), cwd=tmp_path)
        assert out.returncode == 0, out.stderr
    counts = archive_vs_influx(data, influxdb)
    assert {k: v[0] for k, v in counts.items()} == {k: v[1] for k, v in counts.items()}
    assert counts["beat"][0] > 0


def test_demo_survives_an_influxdb_restart_midway(tmp_path: Path, influxdb: InfluxServer) -> None:
    """InfluxDB stopped and started again during the demo: the demo finishes and the counts still match."""
    data = tmp_path / "data"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "calmstrap",
            "demo",
            "--data-dir",
            str(data),
            "--minutes",
            "20",
            "--speed",
            "150",
        ],
        env=env_for(influxdb),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 30
        while influxdb.count("beat", DB) == 0:
            assert time.monotonic() < deadline and proc.poll() is None, "no beats reached InfluxDB"
            time.sleep(0.1)
        influxdb.stop()
        time.sleep(2.0)
        assert proc.poll() is None, "the demo must keep running while InfluxDB is down"
        influxdb.start()
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert "unavailable" in stderr  # the outage was noticed (once) and survived
    assert "not in InfluxDB yet" not in stderr
    assert_counts_equal(data, influxdb)


def test_demo_reports_what_it_could_not_write(tmp_path: Path, influxdb: InfluxServer) -> None:
    """With InfluxDB down for good, the demo still succeeds and says how many rows wait in the archive."""
    influxdb.stop()
    data = tmp_path / "data"
    env = env_for(influxdb)
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; import calmstrap.cmd_sync as c; c.FINAL_DRAIN_DEMO_S = 1.0; "
            "from calmstrap.cli import main; sys.exit(main(sys.argv[1:]))",
            *("demo", "--data-dir", str(data), "--minutes", "8", "--speed", "2000"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    with Archive.in_dir(data) as a:
        total = sum(a.count(m.table) for m in MEASUREMENTS)
    assert f"{total} archive rows are not in InfluxDB yet" in out.stderr


def test_sync_backfills_with_a_progress_bar_and_then_has_nothing_left(
    tmp_path: Path, influxdb: InfluxServer
) -> None:
    """`calmstrap sync` pushes an archive written without InfluxDB; a second sync sends nothing."""
    data = tmp_path / "data"
    out = calmstrap(
        "demo", "--data-dir", str(data), "--minutes", "10", "--speed", "2000", env=env_for(None), cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    with Archive.in_dir(data) as a:
        total = sum(a.count(m.table) for m in MEASUREMENTS)
    out = calmstrap("sync", "--data-dir", str(data), env=env_for(influxdb), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert f"] {total}/{total} rows 100%" in out.stderr
    assert f"synced {total} rows" in out.stdout
    assert_counts_equal(data, influxdb)
    again = calmstrap("sync", "--data-dir", str(data), env=env_for(influxdb), cwd=tmp_path)
    assert "synced 0 rows" in again.stdout


def test_sync_span_resends_without_duplicates(tmp_path: Path, influxdb: InfluxServer) -> None:
    """`calmstrap sync --from --to` re-sends only that span, and the counts stay equal to the archive's."""
    data = tmp_path / "data"
    calmstrap(
        "demo",
        "--data-dir",
        str(data),
        "--minutes",
        "10",
        "--speed",
        "2000",
        env=env_for(influxdb),
        cwd=tmp_path,
    )
    with Archive.in_dir(data) as a:
        t0, t1 = a.query("SELECT MIN(t), MAX(t) FROM beats")[0]
        mid = (t0 + t1) / 2
        in_span = a.query("SELECT COUNT(*) FROM beats WHERE t >= ?", (mid,))[0][0]
    out = calmstrap("sync", "--data-dir", str(data), "--from", str(mid), env=env_for(influxdb), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    written = int(out.stdout.split("synced ")[1].split()[0])
    assert written >= in_span > 0
    assert_counts_equal(data, influxdb)


def test_sync_with_the_server_down_fails_and_keeps_the_backlog(
    tmp_path: Path, influxdb: InfluxServer
) -> None:
    """`calmstrap sync` against a stopped server exits 1 and says how many rows wait."""
    data = tmp_path / "data"
    calmstrap(
        "demo", "--data-dir", str(data), "--minutes", "6", "--speed", "2000", env=env_for(None), cwd=tmp_path
    )
    influxdb.stop()
    out = calmstrap("sync", "--data-dir", str(data), env=env_for(influxdb), cwd=tmp_path)
    assert out.returncode == 1
    assert "unavailable" in out.stderr and "rows wait in the archive" in out.stderr


def test_sync_without_influx_url_is_a_config_error(tmp_path: Path) -> None:
    """No [influx] url: exit 2 with a message naming the setting."""
    out = calmstrap("sync", "--data-dir", str(tmp_path), env=env_for(None), cwd=tmp_path)
    assert out.returncode == 2
    assert "CALMSTRAP_INFLUX__URL" in out.stderr


def test_run_writes_as_it_goes_and_drains_on_ctrl_c(tmp_path: Path, influxdb: InfluxServer) -> None:
    """`calmstrap run` writes to InfluxDB while running; after SIGINT the counts match the archive's."""
    data = tmp_path / "data"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "calmstrap",
            "run",
            "--source",
            "sim",
            "--data-dir",
            str(data),
            "--speed",
            "300",
        ],
        env=env_for(influxdb),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 30
        while influxdb.count("beat", DB) == 0:
            assert time.monotonic() < deadline and proc.poll() is None, "no beats reached InfluxDB"
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    counts = archive_vs_influx(data, influxdb)
    assert {k: v[0] for k, v in counts.items()} == {k: v[1] for k, v in counts.items()}


def test_v2_without_a_token_is_a_config_error_naming_the_key(tmp_path: Path) -> None:
    """api v2 needs org, bucket and token: `calmstrap sync` and `calmstrap demo` exit 2 naming influx.token."""
    env = env_for(
        None,
        CALMSTRAP_INFLUX__URL="http://127.0.0.1:9",
        CALMSTRAP_INFLUX__API="v2",
        CALMSTRAP_INFLUX__ORG="o",
    )
    for args in (("sync",), ("demo", "--minutes", "1", "--speed", "2000")):
        out = calmstrap(*args, "--data-dir", str(tmp_path), env=env, cwd=tmp_path)
        assert out.returncode == 2, out.stderr
        assert "influx.token" in out.stderr
