"""``calmstrap export``: formats, private files, label, progress bar, and clear errors that write nothing."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

from tests.exports.conftest import FORBIDDEN, LABEL, Exported, Month, run_cli


def _export(
    month: Month, out: Path, *extra: str, user: str | None = None
) -> subprocess.CompletedProcess[str]:
    return run_cli(
        "export",
        "--data-dir",
        str(month.data_dir),
        "--user",
        user or month.user,
        "--out",
        str(out),
        *extra,
    )


def test_all_formats_written_private(exported: Exported) -> None:
    """--format all writes Kubios, CSV (+README), PDF and FHIR files, each mode 0600, in a 0700 directory."""
    names = [p.name for p in exported.out.iterdir()]
    assert any(n.endswith("_report.pdf") for n in names)
    assert any(n.endswith("_fhir.json") for n in names)
    assert any("_rr_" in n for n in names)
    assert {
        f"{LABEL}_{s}.csv" for s in ("beats", "windows", "episodes", "prompts", "weekly_progress")
    } <= set(names)
    assert f"{LABEL}_csv_README.txt" in names
    assert not [n for n in names if n.startswith(".")]
    for p in exported.out.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p.name
    assert stat.S_IMODE(exported.out.stat().st_mode) == 0o700


def test_label_replaces_user_id_everywhere(exported: Exported, month: Month) -> None:
    """With --label no file name or file content names the user id (PDF checked through its text)."""
    for p in exported.out.iterdir():
        assert month.user not in p.name
        if p.suffix == ".pdf":
            text = subprocess.run(
                ["pdftotext", str(p), "-"], capture_output=True, text=True, check=True
            ).stdout
            info = subprocess.run(["pdfinfo", str(p)], capture_output=True, text=True, check=True).stdout
            assert LABEL in text and month.user not in text and month.user not in info
        else:
            assert month.user not in p.read_text(encoding="utf-8"), p.name


def test_progress_bar_on_long_ranges(exported: Exported) -> None:
    """A month-long range shows a progress bar on stderr that reaches 100%."""
    assert "export [" in exported.proc.stderr
    assert "100%" in exported.proc.stderr
    assert "files in" in exported.proc.stdout


def test_single_format(month: Month, tmp_path: Path) -> None:
    """--format fhir writes only the FHIR bundle, named after the user id when no label is given."""
    out = tmp_path / "fhir"
    proc = _export(month, out, "--from", month.first_day, "--to", month.first_day, "--format", "fhir")
    assert proc.returncode == 0, proc.stderr
    assert [p.name for p in out.iterdir()] == [f"{month.user}_fhir.json"]
    assert "export [" not in proc.stderr


def test_empty_range_exits_nonzero_and_writes_nothing(month: Month, tmp_path: Path) -> None:
    """A range without data: exit 1, a message saying so, and no output directory."""
    out = tmp_path / "empty"
    proc = _export(month, out, "--from", "2025-01-01", "--to", "2025-01-31")
    assert proc.returncode == 1
    assert "no beats" in proc.stderr and "nothing to export" in proc.stderr
    assert not out.exists()


def test_unknown_user(month: Month, tmp_path: Path) -> None:
    """An unknown user: exit 1, the message names the user, nothing written."""
    out = tmp_path / "nobody"
    proc = _export(month, out, "--from", month.first_day, "--to", month.last_day, user="bob")
    assert proc.returncode == 1
    assert "no data for user 'bob'" in proc.stderr
    assert not out.exists()


def test_unwritable_directory(month: Month, tmp_path: Path) -> None:
    """An output path that cannot be a directory (a file is in the way): exit 1 with the reason."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = _export(
        month, blocker / "out", "--from", month.first_day, "--to", month.first_day, "--format", "csv"
    )
    assert proc.returncode == 1
    assert "cannot write to" in proc.stderr
    assert blocker.read_text() == "x"


def test_bad_dates_are_usage_errors(month: Month, tmp_path: Path) -> None:
    """A malformed date or --to before --from: exit 2 with a message, nothing written."""
    out = tmp_path / "x"
    bad = _export(month, out, "--from", "5 Oct", "--to", month.last_day)
    assert bad.returncode == 2 and "not a date" in bad.stderr
    backwards = _export(month, out, "--from", month.last_day, "--to", month.first_day)
    assert backwards.returncode == 2 and "before" in backwards.stderr
    assert not out.exists()


def test_help_lists_common_options() -> None:
    """export --help documents --data-dir, --config and every format."""
    proc = run_cli("export", "--help")
    assert proc.returncode == 0
    for word in ("--data-dir", "--config", "--label", "kubios", "csv", "pdf", "fhir", "all"):
        assert word in proc.stdout


def test_no_diagnosis_words_in_any_text_file(exported: Exported) -> None:
    """Kubios headers, the CSV README and the FHIR bundle use wellness words only."""
    texts = [
        p.read_text(encoding="utf-8").lower() for p in exported.out.iterdir() if p.suffix in (".txt", ".json")
    ]
    assert [w for w in FORBIDDEN for t in texts if w in t] == []


def test_cli_start_does_not_load_the_writers() -> None:
    """Building the command line (every `calmstrap` call) imports no export writer, so no matplotlib."""
    probe = "import sys, calmstrap.cli; calmstrap.cli.build_parser(); print(sorted(m for m in sys.modules if m.startswith(('matplotlib', 'exports.pdf'))))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
