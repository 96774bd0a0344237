"""Archive writes carried as messages: a worker's session writes to a :class:`RecordingArchive`, each write
becomes an :class:`ArchiveOp` on the results stream, and the archiver applies it to the real archive.

The declarative table :data:`FORWARDED` names every archive write that travels and the results subject
kind it goes under; writes in :data:`LOCAL_ONLY` are the worker's own business (commits, checkpoints,
delivery, which the archiver and the prompt delivery record themselves). Any other method is an error, so
a new archive write in the session code is noticed by the tests, never silently dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cluster.errors import BadMessage
from processing import snapshot

OP_KIND = "calmstrap.archive-op"

FORWARDED: Mapping[str, str] = {
    "add_beats": "beats",
    "queue_beats": "beats",
    "flag_beats": "beats",
    "queue_flags": "beats",
    "add_gap": "gap",
    "add_window": "window",
    "add_arousal": "arousal",
    "add_episode": "episode",
    "add_prompt": "prompt",
    "set_prompt_outcome": "outcome",
    "set_prompt_feedback": "feedback",
    "save_baseline": "baseline",
    "add_device_status": "status",
    "add_motion": "motion",
    "add_control": "control",
    "set_control_outcome": "control",
}
UPDATES: frozenset[str] = frozenset(
    {"flag_beats", "queue_flags", "set_prompt_outcome", "set_prompt_feedback", "set_control_outcome"}
)
"""Writes that change rows earlier writes inserted: the results stream must hold them after those
(:func:`cluster.delivery.publish_all` publishes one only once everything before it is acknowledged)."""
LOCAL_ONLY: frozenset[str] = frozenset({"commit", "rollback", "save_checkpoint", "set_prompt_delivery"})
READS_NONE: frozenset[str] = frozenset({"load_baseline", "load_checkpoint"})
READS_EMPTY: frozenset[str] = frozenset({"load_control_changes"})
"""Reads a worker's session makes when it starts: its state comes from the checkpoint instead."""


@dataclass(frozen=True, slots=True)
class ArchiveOp:
    """One archive write: the method's name and its arguments (processing/sensors/alerts types)."""

    name: str
    args: tuple[Any, ...]
    kwargs: tuple[tuple[str, Any], ...] = ()

    @property
    def kind(self) -> str:
        return FORWARDED[self.name]

    def encode(self) -> bytes:
        return snapshot.dump(self, kind=OP_KIND)

    @classmethod
    def decode(cls, subject: str, data: bytes) -> ArchiveOp:
        try:
            op = snapshot.load(data, kind=OP_KIND)
        except snapshot.SnapshotError as exc:
            raise BadMessage(subject, str(exc)) from None
        if not isinstance(op, ArchiveOp) or op.name not in FORWARDED:
            raise BadMessage(subject, "not an archive write calmstrap forwards")
        return op

    def apply(self, archive: object) -> None:
        """Call the write on ``archive`` (only names in :data:`FORWARDED`)."""
        if self.name not in FORWARDED:
            raise BadMessage(self.name, "not an archive write calmstrap forwards")
        method: Callable[..., object] = getattr(archive, self.name)
        method(*self.args, **dict(self.kwargs))


class RecordingArchive:
    """Stands in for ``storage.archive.Archive`` inside a worker's session: writes are recorded as ops."""

    def __init__(self) -> None:
        self.ops: list[ArchiveOp] = []

    def take(self) -> list[ArchiveOp]:
        out, self.ops = self.ops, []
        return out

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name in FORWARDED:

            def record(*args: Any, **kwargs: Any) -> None:
                self.ops.append(ArchiveOp(name, tuple(args), tuple(sorted(kwargs.items()))))

            return record
        if name in LOCAL_ONLY or name in READS_NONE:
            return lambda *args, **kwargs: None
        if name in READS_EMPTY:
            return lambda *args, **kwargs: []
        raise AttributeError(f"a worker's session has no archive method {name!r}")
