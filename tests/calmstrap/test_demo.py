"""The demo as a new user runs it: prompts, an episode summary, a private archive."""

from __future__ import annotations

import sqlite3
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

RunCli = Callable[..., subprocess.CompletedProcess[str]]
DemoRuns = dict[str, tuple[str, Path, str]]


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory: pytest.TempPathFactory) -> DemoRuns:
    """Three demo runs at full speed side by side, logging at INFO: seed 1 twice (two data dirs) and seed 2;
    (stdout, data dir, stderr) of each. The tests below that need ``demo --seed 1 --speed 100000`` read "a"."""
    import sys
    from concurrent.futures import ThreadPoolExecutor

    from tests.calmstrap.conftest import cli_env

    def demo(name: str, seed: int) -> tuple[str, Path, str]:
        d = tmp_path_factory.mktemp(f"demo-{name}")
        args = ["demo", "--seed", str(seed), "--speed", "100000", "--data-dir", str(d)]
        p = subprocess.run(
            [sys.executable, "-m", "calmstrap", *args],
            env=cli_env({"CALMSTRAP_GENERAL__LOG_LEVEL": "INFO"}),
            capture_output=True,
            text=True,
            timeout=120,
            cwd=d,
        )
        assert p.returncode == 0, p.stderr
        return p.stdout, d, p.stderr

    runs = {"a": 1, "b": 1, "c": 2}
    with ThreadPoolExecutor(len(runs)) as pool:
        done = {name: pool.submit(demo, name, seed) for name, seed in runs.items()}
        return {name: f.result() for name, f in done.items()}


def _summary(stdout: str) -> str:
    text = stdout[stdout.index("Summary") :]
    return "\n".join(line for line in text.splitlines() if not line.strip().startswith("archive:"))


def test_demo_prints_prompts_and_episode_summary(demo_runs: DemoRuns) -> None:
    """The demo shows at least one prompt and a summary with episodes, amplitude and recovery."""
    stdout, _, _ = demo_runs["a"]
    assert ">> " in stdout
    assert "Summary" in stdout
    assert "episodes: 2" in stdout
    assert "amplitude" in stdout and "recovery" in stdout


def test_same_seed_same_summary(demo_runs: DemoRuns) -> None:
    """Two runs with seed 1 print the same summary."""
    assert _summary(demo_runs["a"][0]) == _summary(demo_runs["b"][0])


def test_other_seed_other_summary(demo_runs: DemoRuns) -> None:
    """Seed 2 prints a different summary from seed 1."""
    assert _summary(demo_runs["a"][0]) != _summary(demo_runs["c"][0])


def test_archive_after_demo(demo_runs: DemoRuns) -> None:
    """The archive holds >= 1,000 beats, a complete episode and a prompt, is 0600 and passes the integrity check."""
    _, d, _ = demo_runs["a"]
    db = d / "archive.db"
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    con = sqlite3.connect(db)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("SELECT COUNT(*) FROM beats").fetchone()[0] >= 1000
        ep = con.execute("SELECT amplitude, duration_s, recovery_s FROM episodes").fetchall()
        assert ep and all(a > 0 and dur > 0 and rec > 0 for a, dur, rec in ep)
        assert con.execute("SELECT COUNT(*) FROM prompts").fetchone()[0] >= 1
    finally:
        con.close()


def test_demo_replaces_previous_demo_data(run_cli: RunCli, tmp_path: Path) -> None:
    """A second demo in the same data dir replaces the demo user's rows instead of piling up."""
    for _ in range(2):
        p = run_cli("demo", "--minutes", "6", "--speed", "100000", "--data-dir", str(tmp_path / "d"))
        assert p.returncode == 0, p.stderr
    con = sqlite3.connect(tmp_path / "d" / "archive.db")
    n = con.execute("SELECT COUNT(*) FROM beats").fetchone()[0]
    con.close()
    assert 300 < n < 700  # one run's worth of 6 minutes at ~65 bpm


def test_bad_env_value_names_key_and_writes_nothing(run_cli: RunCli, tmp_path: Path) -> None:
    """CALMSTRAP_POLICY__COOLDOWN_MIN=abc fails naming the key and what it expects; no archive is created."""
    d = tmp_path / "data"
    p = run_cli("demo", "--data-dir", str(d), env={"CALMSTRAP_POLICY__COOLDOWN_MIN": "abc"})
    assert p.returncode == 2
    assert "policy.cooldown_min" in p.stderr
    assert "CALMSTRAP_POLICY__COOLDOWN_MIN" in p.stderr
    assert "number" in p.stderr
    assert not d.exists()


@pytest.mark.parametrize("command", ["demo", "run", "scan", "import", "export", "sync"])
def test_every_command_has_help_data_dir_and_config(capsys: pytest.CaptureFixture[str], command: str) -> None:
    """Each command documents --data-dir and --config in its --help (the parser in this process: the
    ``python -m calmstrap X --help`` entry point itself is run by the import, export and scan tests)."""
    from calmstrap.cli import main

    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "--data-dir" in out and "--config" in out


def test_followed_prompt_helps_and_ignored_prompt_does_not(
    demo_runs: DemoRuns, run_cli: RunCli, tmp_path: Path
) -> None:
    """The demo's person follows prompts (arousal came down after); with --ignore-prompts the prompted second
    episode peaks later and no clear change follows the prompt."""
    peaks = {}
    for flag in ("", "--ignore-prompts"):
        if flag:
            d = tmp_path / flag
            args = ["demo", "--seed", "1", "--speed", "100000", "--data-dir", str(d)]
            p = run_cli(*args, flag)
            assert p.returncode == 0, p.stderr
        else:
            d = demo_runs["a"][1]  # demo --seed 1 --speed 100000, the prompts followed
        con = sqlite3.connect(d / "archive.db")
        prompt_t = con.execute("SELECT t FROM prompts WHERE kind != 'recovery'").fetchone()[0]
        # peaks relative to the prompt (the demo's clock starts at the wall-clock time it was run)
        peaks[flag] = [
            round(r[0] - prompt_t, 3) for r in con.execute("SELECT peak_t FROM episodes ORDER BY onset_t")
        ]
        came_down = con.execute("SELECT came_down FROM prompts WHERE kind != 'recovery'").fetchall()
        held_back = con.execute("SELECT COUNT(*) FROM controls WHERE basis = 'held back'").fetchone()[0]
        con.close()
        assert came_down == [(int(flag == ""),)]
        assert held_back == 1
    assert len(peaks[""]) == len(peaks["--ignore-prompts"]) == 2
    assert peaks[""][0] == peaks["--ignore-prompts"][0]  # the first episode is the control in both runs
    assert peaks[""][1] < peaks["--ignore-prompts"][1]


def test_logs_at_info_carry_no_prompt_text_or_heart_data(demo_runs: DemoRuns) -> None:
    """At INFO the log (stderr) holds no prompt text, no RR and no HRV values; the prompts go to stdout."""
    from alerts.catalog import CATALOG

    for stdout, _, stderr in demo_runs.values():
        assert any(t.title in stdout for t in CATALOG)
        for t in CATALOG:
            assert t.body not in stderr and t.title not in stderr
        for word in ("rmssd", "rr_ms", "hr_bpm", "bpm", "ln rmssd"):
            assert word not in stderr.lower()


def test_readme_sample_is_what_the_demo_prints(demo_runs: DemoRuns) -> None:
    """The README's sample summary is, line for line, what `calmstrap demo` (seed 1) prints today."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    start = readme.index("```text\nSummary (") + len("```text\n")
    sample = readme[start : readme.index("```", start)].rstrip("\n")
    assert sample == _summary(demo_runs["a"][0])
