"""The collector's outbox: durable, numbered per device, forgets only what was acknowledged."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from cluster.errors import BadUserId
from cluster.outbox import Outbox
from cluster.subjects import EventKind


def test_each_device_numbers_its_events_from_one(tmp_path: Path) -> None:
    """Sequence numbers count per device, in the order events were added."""
    with Outbox.in_dir(tmp_path) as ob:
        seqs = [ob.add("ana", d, EventKind.NOTIFY, float(i), b"\x10") for i, d in enumerate("aabab")]
    assert seqs == [1, 2, 1, 3, 2]


def test_numbering_and_pending_events_survive_a_restart(tmp_path: Path) -> None:
    """A reopened outbox keeps its unacknowledged events, its epoch and continues the numbering."""
    with Outbox.in_dir(tmp_path) as ob:
        ob.add("ana", "d", EventKind.NOTIFY, 1.0, b"x")
        ob.add("ana", "d", EventKind.NOTIFY, 2.0, b"y")
        epoch = ob.epoch
    with Outbox.in_dir(tmp_path) as ob:
        assert ob.epoch == epoch
        assert [e.seq for e in ob.pending()] == [1, 2]
        assert ob.add("ana", "d", EventKind.END, 3.0) == 3


def test_acknowledged_events_are_forgotten_and_only_those(tmp_path: Path) -> None:
    """acked() removes exactly the given events; the rest stay pending in order."""
    with Outbox.in_dir(tmp_path) as ob:
        for i in range(5):
            ob.add("ana", "d", EventKind.NOTIFY, float(i), bytes([i]))
        first = ob.pending()
        ob.acked([first[0].id, first[2].id])
        assert [e.seq for e in ob.pending()] == [2, 4, 5]
        assert ob.count() == 3


def test_message_id_is_device_epoch_and_sequence(tmp_path: Path) -> None:
    """The Nats-Msg-Id names the device, the outbox file and the sequence: a resend is the same id."""
    with Outbox.in_dir(tmp_path) as ob:
        ob.add("ana", "strap-1", EventKind.NOTIFY, 1.0, b"x")
        (e,) = ob.pending()
        assert e.msg_id == f"strap-1:{ob.epoch}:1"
    with Outbox.in_dir(tmp_path / "other") as other:
        assert other.epoch != ob.epoch


def test_outbox_file_is_private(tmp_path: Path) -> None:
    """The outbox holds heart data: mode 0600."""
    with Outbox.in_dir(tmp_path) as ob:
        assert stat.S_IMODE(ob.path.stat().st_mode) == 0o600


def test_a_user_id_that_cannot_be_a_subject_is_refused(tmp_path: Path) -> None:
    """A user id with a dot or a wildcard is an error, and nothing is stored."""
    with Outbox.in_dir(tmp_path) as ob:
        for bad in ("a.b", "a*", ">", "", "a b"):
            with pytest.raises(BadUserId):
                ob.add(bad, "d", EventKind.NOTIFY, 1.0, b"x")
        assert ob.count() == 0
