"""Archive commits grouped across the straps of one archive (``calmstrap run``), and the prompts that wait
for them: a prompt leaves only once the commit that holds its row has happened."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from storage.archive import Archive

if TYPE_CHECKING:
    from alerts.catalog import Prompt
    from calmstrap.pipeline import StrapSession

COMMIT_EVERY_S = 0.1
"""Wall time between grouped archive commits across all straps (a kill -9 loses at most this much)."""
FOLD_EVERY_S = 10.0
"""Wall time between folds of the journals of beats, windows and arousal rows into their tables
(storage.event_rows.EventRows.fold_journal): each strap's leaf page of a table's user-keyed index is written
about once per fold instead of once per row. Another process reading the archive file (an export, a sync)
sees those rows at most this much later than their commit (or at once, as opening an archive folds), and so
do InfluxDB and Grafana; this process's own reads fold first (but the weekly progress's, which need not).
Folding less often does not make a row cheaper: at 20,000 straps a folded beat cost 3.7-4.6 us whether the
fold held 10, 30 or 60 s of them, and in the capacity benchmark folds spaced by their own cost (up to 120 s)
took 11.8 us per notification against 8.3 at 10 s, holding the loop up to 34 s (BENCHMARKS.md, session 13)."""
WAL_CHECKPOINT_EVERY_S = 30.0
"""Wall time between WAL checkpoints after a grouped commit (fsyncs the WAL: with SQLite's
``synchronous=NORMAL`` a power cut loses at most the commits since the last one; a kill -9 loses only the
last commit interval either way)."""


@dataclass(slots=True)
class CommitGroup:
    """Archive commits grouped across every strap that shares one archive: at most one per ``every_s``.

    Sessions call :meth:`tick` after each notification; :meth:`run` (a background task) commits what is
    pending when notifications pause, so nothing waits longer than about ``every_s`` to be durable. A prompt
    decided meanwhile waits for the commit that makes its row and its session's checkpoint durable
    (:meth:`defer`), then :meth:`send_committed` sends it: never sent before it is archived, and no commit of
    its own.
    """

    archive: Archive
    every_s: float = COMMIT_EVERY_S
    wal_checkpoint_every_s: float = WAL_CHECKPOINT_EVERY_S
    fold_every_s: float = FOLD_EVERY_S
    commits: int = 0
    wal_checkpoints: int = 0
    folds: int = 0
    fold_s: float = 0.0
    """Wall time spent folding the journals, all folds together."""
    longest_flush_s: float = 0.0
    """The longest a flush (commit, fold included) has held the loop: what a prompt may wait for its commit."""
    _last: float = field(default_factory=time.monotonic)
    _last_fold: float = field(default_factory=time.monotonic)
    _last_wal_checkpoint: float = field(default_factory=time.monotonic)
    _waiting: list[tuple[StrapSession, Prompt]] = field(default_factory=list)
    """Prompts archived in the open transaction, in the order they were decided."""
    _committed: list[tuple[StrapSession, Prompt]] = field(default_factory=list)
    """Prompts a commit made durable, not sent yet."""

    def tick(self) -> bool:
        """Commit when ``every_s`` has passed since the last commit; True when it did."""
        now = time.monotonic()
        if now - self._last >= self.every_s:
            self.flush(now)
            return True
        return False

    def __post_init__(self) -> None:
        self.archive.journal_rows = True

    def flush(self, now: float | None = None, *, fold: bool = False) -> None:
        """Commit what is pending (folding the journals first when ``fold`` or when it is due)."""
        t = time.monotonic() if now is None else now
        w0 = time.perf_counter()
        if fold or t - self._last_fold >= self.fold_every_s:
            self.archive.fold_journal()
            self._last_fold = t
            self.folds += 1
            self.fold_s += time.perf_counter() - w0
        self.archive.commit()
        self.longest_flush_s = max(self.longest_flush_s, time.perf_counter() - w0)
        if self._waiting:
            self._committed += self._waiting
            self._waiting = []
        self._last = time.monotonic() if now is None else now
        self.commits += 1
        if self._last - self._last_wal_checkpoint >= self.wal_checkpoint_every_s:
            self.archive.checkpoint_wal()
            self._last_wal_checkpoint = self._last
            self.wal_checkpoints += 1

    def defer(self, session: StrapSession, prompt: Prompt) -> None:
        """Send ``prompt`` (archived in the open transaction) once a commit has made it durable."""
        self._waiting.append((session, prompt))

    @property
    def unsent(self) -> int:
        """Prompts decided and not sent yet (waiting for a commit, or committed)."""
        return len(self._waiting) + len(self._committed)

    async def send_committed(self) -> None:
        """Send the prompts the commits so far made durable, in the order they were decided."""
        while self._committed:
            batch, self._committed = self._committed, []
            for session, prompt in batch:
                await session.deliver_archived(prompt)

    async def run(self) -> None:
        """Commit every ``every_s`` until cancelled (and once more when cancelled), sending what they make
        durable."""
        try:
            while True:
                await asyncio.sleep(self.every_s)
                if self.tick() or self._committed:
                    await self.send_committed()
        finally:
            self.flush(fold=True)
            if self._committed:
                await self.send_committed()
