"""The README's import examples ("Connect your strap") run as written, on every format it names."""

from __future__ import annotations

import re
import shlex
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.calmstrap.conftest import cli_env

REPO = Path(__file__).resolve().parents[2]


def readme_commands(prefix: str) -> list[list[str]]:
    """Command lines of the README's "Connect your strap" section that start with ``prefix``."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Connect your strap", 1)[1].split("\n## ", 1)[0]
    out = []
    for block in re.findall(r"```sh\n(.*?)```", section, flags=re.S):
        for line in block.splitlines():
            if line.startswith(prefix):
                out.append(shlex.split(line, comments=True))
    return out


def _run(argv: list[str], cwd: Path, data: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    assert argv[0] == "calmstrap"
    return subprocess.run(
        [sys.executable, "-m", "calmstrap", *argv[1:]],
        cwd=cwd,
        env=cli_env({"CALMSTRAP_GENERAL__DATA_DIR": str(data), "CALMSTRAP_GENERAL__USER": "ana"}),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _csv_rows(n: int, fmt: str, t0: float = 1_760_000_000.0) -> list[str]:
    from datetime import UTC, datetime

    rows, t = [], t0
    for i in range(n):
        rr = 780 + (i % 40)
        t += rr / 1000.0
        stamp = {
            "s": f"{t:.3f}",
            "ms": str(round(t * 1000)),
            "us": str(round(t * 1_000_000)),
            "iso": datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds"),
        }[fmt]
        rows.append(f"{stamp}|{rr}")
    return rows


def _samples() -> dict[str, str]:
    rr = [str(780 + (i % 40)) for i in range(300)]
    return {
        "kubios ms": "# Kubios HRV RR\n# unit: ms\n" + "\n".join(rr) + "\n",
        "kubios s (Elite HRV)": "\n".join(f"{int(v) / 1000:.3f}" for v in rr) + "\n",
        "csv one column": "\n".join(f"{v}," for v in rr) + "\n",
        "csv one column, rr header": "rr\n" + "\n".join(rr) + "\n",
        "csv epoch s": "\n".join(r.replace("|", ",") for r in _csv_rows(300, "s")) + "\n",
        "csv epoch ms, semicolon": "\n".join(r.replace("|", ";") for r in _csv_rows(300, "ms")) + "\n",
        "csv epoch us, tab": "\n".join(r.replace("|", "\t") for r in _csv_rows(300, "us")) + "\n",
        "csv ISO 8601": "\n".join(r.replace("|", ",") for r in _csv_rows(300, "iso")) + "\n",
        "Polar Sensor Logger": "Phone timestamp;RR-interval [ms]\n"
        + "\n".join(r.replace("|", ";") for r in _csv_rows(300, "iso"))
        + "\n",
        "HRV Logger": "date,rr\n" + "\n".join(r.replace("|", ",") for r in _csv_rows(300, "s")) + "\n",
    }


SAMPLES = _samples()


def test_the_readme_has_the_import_and_replay_examples() -> None:
    """The section names `calmstrap import session.txt --user ana` and a replay of the same file."""
    assert readme_commands("calmstrap import") == [["calmstrap", "import", "session.txt", "--user", "ana"]]
    assert [c[:3] for c in readme_commands("calmstrap run --source replay:")] == [
        ["calmstrap", "run", "--source"]
    ]


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_the_readme_import_line_reads_every_named_format(tmp_path: Path, name: str) -> None:
    """The README's import line, as written, imports each format it names: all 300 beats, for ana."""
    (tmp_path / "session.txt").write_text(SAMPLES[name], encoding="utf-8")
    (cmd,) = readme_commands("calmstrap import")
    res = _run(cmd, tmp_path, tmp_path / "data")
    assert res.returncode == 0, res.stderr
    assert "imported 300 beats" in res.stdout
    con = sqlite3.connect(tmp_path / "data" / "archive.db")
    try:
        assert con.execute("SELECT COUNT(*) FROM beats WHERE user = 'ana'").fetchone() == (300,)
    finally:
        con.close()


def test_the_readme_import_line_fails_on_a_bad_line_with_nothing_imported(tmp_path: Path) -> None:
    """As the README says: a bad line fails with its line number and nothing is imported."""
    lines = SAMPLES["kubios ms"].splitlines()
    lines[40] = "8l0"
    (tmp_path / "session.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (cmd,) = readme_commands("calmstrap import")
    res = _run(cmd, tmp_path, tmp_path / "data")
    assert res.returncode == 1
    assert "line 41" in res.stderr and "nothing imported" in res.stderr
    assert not (tmp_path / "data" / "archive.db").exists() or sqlite3.connect(
        tmp_path / "data" / "archive.db"
    ).execute("SELECT COUNT(*) FROM beats").fetchone() == (0,)


def test_the_readme_replay_line_streams_the_file(tmp_path: Path) -> None:
    """The README's replay line, as written, streams session.txt into the archive and ends with the file."""
    (tmp_path / "session.txt").write_text(SAMPLES["kubios ms"], encoding="utf-8")
    (cmd,) = readme_commands("calmstrap run --source replay:")
    res = _run(cmd, tmp_path, tmp_path / "data", timeout=60)
    assert res.returncode == 0, res.stderr
    con = sqlite3.connect(tmp_path / "data" / "archive.db")
    try:
        assert con.execute("SELECT COUNT(*) FROM beats WHERE user = 'ana'").fetchone() == (300,)
    finally:
        con.close()
