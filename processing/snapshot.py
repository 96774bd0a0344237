"""Plain, versioned state snapshots: a dataclass tree to bytes and back, never pickle.

:func:`dump` walks an object's dataclass fields (``init=False`` and private ones included) and writes a
JSON document with a format version; :func:`load` rebuilds the objects. Supported values: ``None``,
``bool``, ``int``, finite and non-finite ``float``, ``str``, ``bytes``, enums, dataclasses (frozen or not, slots or
not), numpy arrays (dtype, shape and raw bytes), ``list``, ``tuple``, ``dict`` (any supported keys),
``OrderedDict``, ``set``, ``frozenset``, ``deque`` (with its ``maxlen``), ``random.Random`` (its state),
``datetime.time`` and fixed-offset or IANA time zones. Anything else raises :class:`SnapshotError` naming
the path to the value, so a new field that cannot be saved is found by the round-trip tests, not in
production.

Objects reached twice (a ``random.Random`` shared by a policy and its learner) are written once and come
back shared. Rebuilding never calls ``__init__`` or ``__post_init__``: fields are set as stored. A field
the class has gained since the snapshot was written takes its default (a snapshot from an older version
still loads); a stored field the class no longer has is ignored. Only classes from the allowed packages
(``processing``, ``sensors``, ``alerts``, ``calmstrap``, ``cluster``) are rebuilt, and only dataclasses and
enums among them: a snapshot cannot name arbitrary code.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import enum
import importlib
import json
import random
import zlib
from collections import OrderedDict, deque
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from processing.snapshot_encode import Json, SnapshotError, _Encoder, _FastEncoder

__all__ = ["DEFAULT_PACKAGES", "FORMAT", "MAGIC", "VERSION", "SnapshotError", "dump", "load", "round_trip"]

FORMAT = "calmstrap.snapshot"
VERSION = 2
"""2: sequences of one dataclass or of equal tuples as columns, exact floats there and numpy arrays'
bytes byte-shuffled (``$dcs``, ``$tr``, ``$nd`` with ``s``); 1 (still read) had none of them."""
READS = (1, 2)
MAGIC = b"CSNP"
DEFAULT_PACKAGES: tuple[str, ...] = ("processing", "sensors", "alerts", "calmstrap", "cluster")


class _Decoder:
    def __init__(self, packages: Sequence[str]) -> None:
        self._packages = tuple(packages)
        self._objs: dict[int, object] = {}

    def _cls(self, name: str, path: str) -> type:
        module, _, qual = name.partition(":")
        if not any(module == p or module.startswith(p + ".") for p in self._packages):
            raise SnapshotError(path, f"class {name} is outside the allowed packages")
        try:
            obj: Any = importlib.import_module(module)
            for part in qual.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError):
            raise SnapshotError(path, f"class {name} no longer exists") from None
        if not isinstance(obj, type):
            raise SnapshotError(path, f"{name} is not a class")
        return obj

    def dec(self, j: Json, path: str) -> Any:
        if j is None or isinstance(j, bool | int | float | str):
            return j
        if isinstance(j, list):
            return [self.dec(v, f"{path}[{i}]") for i, v in enumerate(j)]
        if not isinstance(j, dict):
            raise SnapshotError(path, f"unexpected {type(j).__name__}")
        if "$ref" in j:
            try:
                return self._objs[int(j["$ref"])]
            except KeyError:
                raise SnapshotError(path, "reference to an object not yet read") from None
        if "$e" in j:
            cls = self._cls(j["$e"], path)
            if not issubclass(cls, enum.Enum):
                raise SnapshotError(path, f"{j['$e']} is not an enum")
            return cls(self.dec(j["v"], path))
        if "$f" in j:
            return float(j["$f"])
        if "$b" in j:
            return base64.b64decode(j["$b"])
        if "$nd" in j:
            dtype = np.dtype(j["$nd"])
            if "s" in j:
                return _unshuffled(j["s"], dtype).reshape(j["shape"])
            raw = base64.b64decode(j["b"])
            return np.frombuffer(raw, dtype=dtype).reshape(j["shape"]).copy()
        if "$time" in j:
            return dt.time.fromisoformat(j["$time"])
        if "$zone" in j:
            return ZoneInfo(j["$zone"])
        if "$utcoff" in j:
            return dt.timezone(dt.timedelta(seconds=float(j["$utcoff"])))
        if "$rng" in j:
            rng = random.Random()
            self._objs[int(j["$id"])] = rng
            state = j["$rng"]
            if isinstance(state, dict) and "mt" in state:  # packed (processing.snapshot_encode._rng_state)
                words = np.frombuffer(base64.b64decode(state["mt"]), dtype="<u4").tolist()
                rng.setstate((3, tuple(words), self.dec(state["g"], path)))
            else:
                rng.setstate(_tuples(self.dec(state, path)))
            return rng
        if "$dc" in j:
            return self._dataclass(j, path)
        if "$dcs" in j:
            return self._rows(j, path)
        if "$tr" in j:
            columns = [self._column(c, path) for c in j["$tr"]]
            return list(zip(*columns, strict=True))
        if "$dq" in j:
            return deque(self.dec(j["$dq"], path), maxlen=j["maxlen"])
        if "$od" in j:
            return OrderedDict((self.dec(k, path), self.dec(v, path)) for k, v in j["$od"])
        if "$d" in j:
            return {self.dec(k, path): self.dec(v, path) for k, v in j["$d"]}
        if "$t" in j:
            return tuple(self.dec(j["$t"], path))
        if "$fs" in j:
            return frozenset(self.dec(v, path) for v in j["$fs"])
        if "$s" in j:
            return {self.dec(v, path) for v in j["$s"]}
        raise SnapshotError(path, f"unknown tag among {sorted(j)[:3]}")

    def _dataclass(self, j: dict[str, Json], path: str) -> object:
        cls = self._cls(j["$dc"], path)
        if not dataclasses.is_dataclass(cls):
            raise SnapshotError(path, f"{j['$dc']} is not a dataclass")
        obj = object.__new__(cls)
        self._objs[int(j["$id"])] = obj
        stored: dict[str, Json] = j["f"]
        for f in dataclasses.fields(cls):
            fpath = f"{path}.{f.name}"
            value = self.dec(stored[f.name], fpath) if f.name in stored else self._missing(f, fpath)
            object.__setattr__(obj, f.name, value)
        return obj

    def _column(self, col: Json, path: str) -> list[Any]:
        if isinstance(col, str):
            return _unshuffled(col, np.dtype("<f8")).tolist()  # type: ignore[no-any-return]
        return [self.dec(v, path) for v in col]

    def _rows(self, j: dict[str, Json], path: str) -> list[Any]:
        """The items of :func:`processing.snapshot_encode._rows`' columns (fields as in :meth:`_dataclass`)."""
        cls = self._cls(j["$dcs"], path)
        if not dataclasses.is_dataclass(cls):
            raise SnapshotError(path, f"{j['$dcs']} is not a dataclass")
        names: list[str] = j["names"]
        refs: list[list[int]] = j["refs"]
        fresh = [object.__new__(cls) for _ in range(int(j["n"]))]
        first = int(j["$id"])
        for k, obj in enumerate(fresh):
            self._objs[first + k] = obj
        stored = dict(zip(names, (self._column(c, path) for c in j["cols"]), strict=True))
        setattr_ = object.__setattr__
        for f in dataclasses.fields(cls):
            column = stored.get(f.name)
            if column is not None:
                for obj, value in zip(fresh, column, strict=True):
                    setattr_(obj, f.name, value)
                continue
            for obj in fresh:
                setattr_(obj, f.name, self._missing(f, f"{path}.{f.name}"))
        items: list[Any] = list(fresh)
        for i, n in refs:
            try:
                items.insert(i, self._objs[int(n)])
            except KeyError:
                raise SnapshotError(path, "reference to an object not yet read") from None
        return items

    @staticmethod
    def _missing(f: dataclasses.Field[Any], path: str) -> Any:
        """The value of a field the snapshot does not have: its default."""
        if f.default is not dataclasses.MISSING:
            return f.default
        if f.default_factory is not dataclasses.MISSING:
            return f.default_factory()
        raise SnapshotError(path, "missing from the snapshot and without a default")


def _unshuffled(text: str, dtype: np.dtype[Any]) -> np.ndarray[Any, Any]:
    """The flat array :func:`processing.snapshot_encode._shuffled` wrote (a new, writable one)."""
    raw = np.frombuffer(base64.b64decode(text), dtype=np.uint8)
    return raw.reshape(dtype.itemsize, -1).T.copy().view(dtype).reshape(-1)


def _tuples(x: Any) -> Any:
    """``random.Random.setstate`` wants tuples where JSON gave lists."""
    if isinstance(x, list | tuple):
        return tuple(_tuples(v) for v in x)
    return x


def dump(obj: object, *, kind: str) -> bytes:
    """The snapshot of ``obj`` (a dataclass tree) as bytes; ``kind`` names what it is (checked on load)."""
    try:
        state = _FastEncoder().enc(obj)
    except Exception:  # the same error, with its path (or, were the fast encoder wrong, the right document)
        state = _Encoder().enc(obj, "")
    doc = {"format": FORMAT, "version": VERSION, "kind": kind, "state": state}
    # every list and dict of the document is a new one (the encoders return no container of ``obj``), so
    # it has no cycle to look for: the text is the same without the check
    text = json.dumps(doc, separators=(",", ":"), allow_nan=False, check_circular=False)
    return MAGIC + zlib.compress(text.encode("utf-8"), 1)


def load(data: bytes, *, kind: str, packages: Sequence[str] = DEFAULT_PACKAGES) -> Any:
    """Rebuild what :func:`dump` saved; raises :class:`SnapshotError` for anything else."""
    if not data.startswith(MAGIC):
        raise SnapshotError("", "not a calmstrap snapshot (bad magic bytes)")
    try:
        doc = json.loads(zlib.decompress(data[len(MAGIC) :]).decode("utf-8"))
    except (zlib.error, UnicodeDecodeError, ValueError) as exc:
        raise SnapshotError("", f"unreadable ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise SnapshotError("", "not a calmstrap snapshot")
    if doc.get("version") not in READS:
        raise SnapshotError("", f"format version {doc.get('version')!r}; this build reads {READS}")
    if doc.get("kind") != kind:
        raise SnapshotError("", f"a {doc.get('kind')!r} snapshot, expected {kind!r}")
    return _Decoder(packages).dec(doc["state"], "")


def round_trip(obj: object, *, kind: str = "test") -> Any:
    """``load(dump(obj))`` (tests and checks)."""
    return load(dump(obj, kind=kind), kind=kind)
