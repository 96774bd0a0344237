"""Private output files: staged in a hidden folder inside the output directory, moved into place at the end.

Every file is created with mode 0600 (heart data is health data). Nothing appears in the output directory
until the whole export succeeded: on any error the staging folder is removed and the directory is as it was
(a directory the export created is removed again).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from types import TracebackType
from typing import IO

from exports.errors import OutputNotWritable

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(text: str) -> str:
    """A file-name-safe form of a label or device name."""
    return _UNSAFE.sub("_", text).strip("._") or "export"


class Staging:
    """A context manager: ``open_text(name)`` files in a staging folder, moved into ``out_dir`` on success."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self._stage: Path | None = None
        self._names: list[str] = []
        self._created = False

    def __enter__(self) -> Staging:
        self._created = not self.out_dir.exists()
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._stage = Path(tempfile.mkdtemp(prefix=".calmstrap-export-", dir=self.out_dir))
        except OSError as exc:
            raise OutputNotWritable(str(self.out_dir), exc.strerror or str(exc)) from None
        return self

    def path(self, name: str) -> Path:
        assert self._stage is not None
        if name in self._names:
            raise ValueError(f"file {name!r} written twice")
        self._names.append(name)
        return self._stage / name

    def open_text(self, name: str) -> IO[str]:
        """A new private (0600) text file, UTF-8, ``\\n`` line ends."""
        p = self.path(name)
        fd = os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        return os.fdopen(fd, "w", encoding="utf-8", newline="\n")

    def open_binary(self, name: str) -> IO[bytes]:
        p = self.path(name)
        fd = os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        return os.fdopen(fd, "wb")

    def __exit__(
        self, typ: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._stage is not None
        try:
            if typ is None:
                for name in self._names:
                    src = self._stage / name
                    os.chmod(src, 0o600)
                    os.replace(src, self.out_dir / name)
        except OSError as err:
            raise OutputNotWritable(str(self.out_dir), err.strerror or str(err)) from None
        finally:
            shutil.rmtree(self._stage, ignore_errors=True)
            if typ is not None and self._created:
                with contextlib.suppress(OSError):
                    self.out_dir.rmdir()  # only when empty: a folder this export made and left unused

    @property
    def written(self) -> list[Path]:
        return [self.out_dir / n for n in self._names]
