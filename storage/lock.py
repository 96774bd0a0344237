"""One service per data dir: an exclusive ``flock`` on ``<data-dir>/lock`` with the holder's pid in it.

``calmstrap run`` and ``calmstrap demo`` hold it for as long as they run; a second one on the same dir gets
:class:`DataDirLocked` naming the running process. The kernel drops a ``flock`` when its process ends, however
it ends (``kill -9`` included), so a lock file left by a dead process is simply taken over: the pid in it is
only what the message shows. ``import``, ``export`` and ``sync`` do not take it: they work beside the
service through SQLite's own locking (short write transactions, a busy timeout with retries).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from storage.errors import StorageError

LOCK_NAME = "lock"


class DataDirLocked(StorageError):
    """Another process holds the data dir's service lock."""

    def __init__(self, data_dir: str, pid: int | None) -> None:
        self.data_dir = data_dir
        self.pid = pid
        who = f"process {pid}" if pid is not None else "another process"
        super().__init__(
            f"another calmstrap service ({who}) is already running on {data_dir}; stop it first "
            "(one service per data dir), or use another --data-dir"
        )


def _read_pid(fd: int) -> int | None:
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 64).decode("ascii", errors="replace").strip()
    return int(text) if text.isdigit() else None


class DataDirLock:
    """``with DataDirLock(dir):`` -- the exclusive service lock of one data dir (raises DataDirLocked)."""

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        if self._fd is not None:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            raise DataDirLocked(str(self.data_dir), pid) from None
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        os.fsync(fd)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        os.ftruncate(fd, 0)  # no stale pid for the next reader
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def held_by(self) -> int | None:
        """The pid of the process holding the lock now, or None when nobody does."""
        if not self.path.exists():
            return None
        fd = os.open(self.path, os.O_RDONLY)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return _read_pid(fd)
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)

    def __enter__(self) -> DataDirLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
