"""Archive writes carried as messages: recorded in the worker, applied in the archiver, nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from cluster.errors import BadMessage
from cluster.ops import ArchiveOp, RecordingArchive
from processing import snapshot
from processing.arousal import Arousal, ArousalState
from sensors.beats import Beat
from storage.archive import Archive


def _arousal() -> Arousal:
    return Arousal(
        t=100.0, score=70.0, a=0.6, z_hr=1.0, z_ln_rmssd=-0.2, state=ArousalState.ELEVATED, warming_up=False
    )


def test_recorded_writes_apply_to_a_real_archive(tmp_path: Path) -> None:
    """Beats and an arousal sample written to the recorder arrive in the archive after encode/decode."""
    rec = RecordingArchive()
    rec.add_beats([Beat(1.0, 800.0, "d", "ana"), Beat(1.8, 800.0, "d", "ana")], [False, False])
    rec.add_arousal("ana", _arousal())
    rec.commit()
    ops = [ArchiveOp.decode("calmstrap.out.ana.x", op.encode()) for op in rec.take()]
    assert [op.kind for op in ops] == ["beats", "arousal"]
    with Archive(tmp_path / "a.db") as ar:
        for op in ops:
            op.apply(ar)
        ar.commit()
        assert ar.count("beats", "ana") == 2
        assert ar.query("SELECT t, state FROM arousal") == [(100.0, "elevated")]


def test_an_unknown_archive_method_is_an_error_not_a_silent_drop() -> None:
    """A write the table does not name raises AttributeError in the worker's session."""
    with pytest.raises(AttributeError, match="drop_everything"):
        RecordingArchive().drop_everything()


def test_a_message_naming_another_method_is_refused() -> None:
    """An op that is not a forwarded archive write is a BadMessage for the archiver."""
    data = snapshot.dump(ArchiveOp("delete_user", ("ana",)), kind="calmstrap.archive-op")
    with pytest.raises(BadMessage):
        ArchiveOp.decode("calmstrap.out.ana.beats", data)


def test_garbage_on_the_results_stream_is_a_bad_message() -> None:
    """Bytes that are no op raise BadMessage (counted and skipped by the archiver)."""
    with pytest.raises(BadMessage):
        ArchiveOp.decode("calmstrap.out.ana.beats", b"{}")
