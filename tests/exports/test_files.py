"""Staging of output files: private modes, all or nothing."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from exports.dataset import ExportRange
from exports.files import Staging, safe_name


def test_files_move_into_place_private(tmp_path: Path) -> None:
    """Files written through the stage appear in the output directory with mode 0600, no staging left."""
    out = tmp_path / "out"
    with Staging(out) as stage:
        with stage.open_text("a.txt") as f:
            f.write("x\n")
        with stage.open_binary("b.bin") as g:
            g.write(b"\x00")
    assert sorted(p.name for p in out.iterdir()) == ["a.txt", "b.bin"]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in out.iterdir())


def test_failure_leaves_nothing(tmp_path: Path) -> None:
    """An error half-way through removes the staged files and the directory the export created."""
    out = tmp_path / "new"
    with pytest.raises(RuntimeError), Staging(out) as stage:
        with stage.open_text("a.txt") as f:
            f.write("x\n")
        raise RuntimeError("writer failed")
    assert not out.exists()


def test_failure_keeps_an_existing_directory_as_it_was(tmp_path: Path) -> None:
    """In an existing directory an error leaves the files that were there and adds none."""
    (tmp_path / "old.txt").write_text("keep")
    with pytest.raises(RuntimeError), Staging(tmp_path) as stage:
        stage.open_text("new.txt").close()
        raise RuntimeError("writer failed")
    assert [p.name for p in tmp_path.iterdir()] == ["old.txt"]


def test_label_replaces_only_the_id_prefix() -> None:
    """With a label, ids that start with the user id get the label; other text is left alone."""
    r = ExportRange("me", 0.0, 1.0, label="client")
    assert r.relabel("me-1700000000-1") == "client-1700000000-1"
    assert r.relabel("time-me") == "time-me"
    assert ExportRange("me", 0.0, 1.0).relabel("me-1") == "me-1"
    assert safe_name("a b/c:d") == "a_b_c_d"
