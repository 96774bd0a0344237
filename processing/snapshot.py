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
import math
import random
import zlib
from collections import OrderedDict, deque
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

FORMAT = "calmstrap.snapshot"
VERSION = 1
MAGIC = b"CSNP"
DEFAULT_PACKAGES: tuple[str, ...] = ("processing", "sensors", "alerts", "calmstrap", "cluster")

Json = Any


class SnapshotError(ValueError):
    """A value cannot be saved, or bytes are not a snapshot this version can read."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"snapshot {path or '<root>'}: {reason}")


_isfinite = math.isfinite


def _type_name(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


class _Encoder:
    def __init__(self) -> None:
        self._ids: dict[int, int] = {}
        self._keep: list[object] = []  # keeps encoded objects alive so their id() is not reused

    def _shared(self, x: object) -> tuple[int, bool]:
        key = id(x)
        if key in self._ids:
            return self._ids[key], True
        n = len(self._ids)
        self._ids[key] = n
        self._keep.append(x)
        return n, False

    @staticmethod
    def _plain(items: Sequence[object] | deque[object]) -> list[Any] | None:
        """A non-empty sequence of exact ints, or of finite exact floats, as the list JSON writes for it,
        else None (the caller then encodes item by item: the same document, only slower). One sum tests
        finiteness: a finite sum means no NaN or infinity; an overflowing sum of finite floats falls back."""
        if not items:
            return None
        if type(items[0]) is int:
            return list(items) if all(type(v) is int for v in items) else None
        if all(type(v) is float for v in items) and _isfinite(sum(items)):  # type: ignore[arg-type]
            return list(items)
        return None

    def enc(self, x: object, path: str) -> Json:
        t = type(x)  # the exact common types first (a subclass, e.g. an enum of str, takes the long way)
        if isinstance(x, float) and t is float:
            return x if _isfinite(x) else {"$f": repr(x)}
        if t is str or t is int or t is bool or x is None:
            return x
        if isinstance(x, list) and t is list:
            return self._plain(x) or [self.enc(v, f"{path}[{i}]") for i, v in enumerate(x)]
        if isinstance(x, enum.Enum):  # before str: a StrEnum is a str
            return {"$e": _type_name(type(x)), "v": self.enc(x.value, path)}
        if x is None or isinstance(x, bool | str):
            return x
        if isinstance(x, bytes):
            return {"$b": base64.b64encode(x).decode("ascii")}
        if isinstance(x, int | np.integer):
            return int(x)
        if isinstance(x, float | np.floating):
            f = float(x)
            return f if math.isfinite(f) else {"$f": repr(f)}
        if isinstance(x, np.ndarray):
            if x.dtype.hasobject:
                raise SnapshotError(path, "numpy arrays of objects are not supported")
            arr = np.ascontiguousarray(x)
            return {
                "$nd": arr.dtype.str,
                "shape": list(arr.shape),
                "b": base64.b64encode(arr.tobytes()).decode("ascii"),
            }
        if isinstance(x, dt.time):
            if x.tzinfo is not None:
                raise SnapshotError(path, "times with a time zone are not supported")
            return {"$time": x.isoformat()}
        if isinstance(x, ZoneInfo):
            return {"$zone": x.key}
        if isinstance(x, dt.timezone):
            off = x.utcoffset(None)
            return {"$utcoff": off.total_seconds()}
        if isinstance(x, random.Random):
            n, seen = self._shared(x)
            if seen:
                return {"$ref": n}
            return {"$rng": self.enc(x.getstate(), path), "$id": n}
        if dataclasses.is_dataclass(x) and not isinstance(x, type):
            n, seen = self._shared(x)
            if seen:
                return {"$ref": n}
            fields = {f.name: self.enc(getattr(x, f.name), f"{path}.{f.name}") for f in dataclasses.fields(x)}
            return {"$dc": _type_name(type(x)), "$id": n, "f": fields}
        if isinstance(x, deque):
            items = self._plain(x) or [self.enc(v, f"{path}[{i}]") for i, v in enumerate(x)]
            return {"$dq": items, "maxlen": x.maxlen}
        if isinstance(x, OrderedDict):
            return {"$od": [[self.enc(k, path), self.enc(v, f"{path}[{k!r}]")] for k, v in x.items()]}
        if isinstance(x, dict):
            return {"$d": [[self.enc(k, path), self.enc(v, f"{path}[{k!r}]")] for k, v in x.items()]}
        if isinstance(x, list):
            return [self.enc(v, f"{path}[{i}]") for i, v in enumerate(x)]
        if isinstance(x, tuple):
            return {"$t": self._plain(x) or [self.enc(v, f"{path}[{i}]") for i, v in enumerate(x)]}
        if isinstance(x, frozenset):
            return {"$fs": [self.enc(v, path) for v in sorted(x, key=repr)]}
        if isinstance(x, set):
            return {"$s": [self.enc(v, path) for v in sorted(x, key=repr)]}
        raise SnapshotError(path, f"a {type(x).__name__} cannot be saved")


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}
"""The dataclass field names of each class met (``dataclasses.fields`` order), for :class:`_FastEncoder`."""
_DATACLASS_FIELDS = dataclasses.fields
_TYPE_NAMES: dict[type, str] = {}
_ENUM_DOCS: dict[int, tuple[enum.Enum, Json]] = {}
"""The document of each enum member met whose value is a plain scalar (``{"$e": ..., "v": ...}``), by the
member's id: the same every time (json.dumps only reads it, however often it appears)."""


class _FastEncoder:
    """:class:`_Encoder`'s document, without the paths it keeps for its errors: one handler per exact type,
    chosen once by :class:`_Encoder`'s own order of tests, and the scalar fields of a dataclass written in
    line. :func:`dump` falls back to :class:`_Encoder` on any error, so errors name their paths as before."""

    __slots__ = ("_ids", "_keep")

    def __init__(self) -> None:
        self._ids: dict[int, int] = {}
        self._keep: list[object] = []

    def enc(self, x: object) -> Json:
        t = type(x)
        if t is float:
            return x if _isfinite(x) else {"$f": repr(x)}  # type: ignore[arg-type]
        if t is str or t is int or t is bool or x is None:
            return x
        h = _HANDLERS.get(t)
        if h is None:
            h = _handler_for(t)
        return h(self, x)

    def _items(self, items: Sequence[object] | deque[object]) -> list[Any]:
        return _Encoder._plain(items) or [self.enc(v) for v in items]

    def _shared(self, x: object) -> tuple[int, bool]:
        key = id(x)
        n = self._ids.get(key)
        if n is not None:
            return n, True
        n = len(self._ids)
        self._ids[key] = n
        self._keep.append(x)
        return n, False

    def _dataclass(self, x: object) -> Json:
        n, seen = self._shared(x)
        if seen:
            return {"$ref": n}
        cls = type(x)
        names = _FIELD_NAMES.get(cls) if dataclasses.fields is _DATACLASS_FIELDS else None
        if names is None:
            names = tuple(f.name for f in dataclasses.fields(x))  # type: ignore[arg-type]
            if dataclasses.fields is _DATACLASS_FIELDS:  # (not while a test stands in for it)
                _FIELD_NAMES[cls] = names
        fields: dict[str, Json] = {}
        for name in names:
            v = getattr(x, name)
            t = type(v)
            if t is float:
                fields[name] = v if _isfinite(v) else {"$f": repr(v)}
            elif t is str or t is int or t is bool or v is None:
                fields[name] = v
            else:
                fields[name] = self.enc(v)
        type_name = _TYPE_NAMES.get(cls)
        if type_name is None:
            type_name = _TYPE_NAMES[cls] = _type_name(cls)
        return {"$dc": type_name, "$id": n, "f": fields}

    def _rng(self, x: random.Random) -> Json:
        n, seen = self._shared(x)
        if seen:
            return {"$ref": n}
        return {"$rng": self.enc(x.getstate()), "$id": n}


def _enc_list(e: _FastEncoder, x: list[Any]) -> Json:
    return e._items(x)


def _enc_enum(e: _FastEncoder, x: enum.Enum) -> Json:
    known = _ENUM_DOCS.get(id(x))
    if known is not None:
        return known[1]
    doc = {"$e": _type_name(type(x)), "v": e.enc(x.value)}
    if type(doc["v"]) in (str, int, bool) or (type(doc["v"]) is float and _isfinite(doc["v"])):
        _ENUM_DOCS[id(x)] = (x, doc)  # x kept: its id is never another object's
    return doc


def _enc_self(e: _FastEncoder, x: object) -> Json:
    return x


def _enc_bytes(e: _FastEncoder, x: bytes) -> Json:
    return {"$b": base64.b64encode(x).decode("ascii")}


def _enc_int(e: _FastEncoder, x: int) -> Json:
    return int(x)


def _enc_float(e: _FastEncoder, x: float) -> Json:
    f = float(x)
    return f if math.isfinite(f) else {"$f": repr(f)}


def _enc_other(e: _FastEncoder, x: object) -> Json:
    """The rarer types, as :class:`_Encoder` writes them (no shared objects among them)."""
    return _Encoder().enc(x, "")


def _enc_deque(e: _FastEncoder, x: deque[Any]) -> Json:
    return {"$dq": e._items(x), "maxlen": x.maxlen}


def _enc_odict(e: _FastEncoder, x: OrderedDict[Any, Any]) -> Json:
    return {"$od": [[e.enc(k), e.enc(v)] for k, v in x.items()]}


def _enc_dict(e: _FastEncoder, x: dict[Any, Any]) -> Json:
    return {"$d": [[e.enc(k), e.enc(v)] for k, v in x.items()]}


def _enc_list_subclass(e: _FastEncoder, x: list[Any]) -> Json:
    return [e.enc(v) for v in x]


def _enc_tuple(e: _FastEncoder, x: tuple[Any, ...]) -> Json:
    return {"$t": e._items(x)}


def _enc_frozenset(e: _FastEncoder, x: frozenset[Any]) -> Json:
    return {"$fs": [e.enc(v) for v in sorted(x, key=repr)]}


def _enc_set(e: _FastEncoder, x: set[Any]) -> Json:
    return {"$s": [e.enc(v) for v in sorted(x, key=repr)]}


_Handler = Any
_HANDLERS: dict[type, _Handler] = {}


def _handler_for(t: type) -> _Handler:
    """The handler for values of exact type ``t``: :meth:`_Encoder.enc`'s tests, in its order (each depends
    on the type alone); a type it cannot save gets none (:func:`dump` then lets :class:`_Encoder` raise)."""
    h: _Handler
    if issubclass(t, float) and t is float:
        h = _enc_float
    elif t is str or t is int or t is bool or t is type(None):
        h = _enc_self
    elif issubclass(t, list) and t is list:
        h = _enc_list
    elif issubclass(t, enum.Enum):
        h = _enc_enum
    elif issubclass(t, bool | str):
        h = _enc_self
    elif issubclass(t, bytes):
        h = _enc_bytes
    elif issubclass(t, int | np.integer):
        h = _enc_int
    elif issubclass(t, float | np.floating):
        h = _enc_float
    elif issubclass(t, np.ndarray | dt.time | ZoneInfo | dt.timezone):
        h = _enc_other
    elif issubclass(t, random.Random):
        h = _FastEncoder._rng
    elif dataclasses.is_dataclass(t):
        h = _FastEncoder._dataclass
    elif issubclass(t, deque):
        h = _enc_deque
    elif issubclass(t, OrderedDict):
        h = _enc_odict
    elif issubclass(t, dict):
        h = _enc_dict
    elif issubclass(t, list):
        h = _enc_list_subclass
    elif issubclass(t, tuple):
        h = _enc_tuple
    elif issubclass(t, frozenset):
        h = _enc_frozenset
    elif issubclass(t, set):
        h = _enc_set
    else:
        raise SnapshotError("", f"a {t.__name__} cannot be saved")
    _HANDLERS[t] = h
    return h


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
            raw = base64.b64decode(j["b"])
            return np.frombuffer(raw, dtype=np.dtype(j["$nd"])).reshape(j["shape"]).copy()
        if "$time" in j:
            return dt.time.fromisoformat(j["$time"])
        if "$zone" in j:
            return ZoneInfo(j["$zone"])
        if "$utcoff" in j:
            return dt.timezone(dt.timedelta(seconds=float(j["$utcoff"])))
        if "$rng" in j:
            rng = random.Random()
            self._objs[int(j["$id"])] = rng
            rng.setstate(_tuples(self.dec(j["$rng"], path)))
            return rng
        if "$dc" in j:
            return self._dataclass(j, path)
        if "$dq" in j:
            return deque((self.dec(v, path) for v in j["$dq"]), maxlen=j["maxlen"])
        if "$od" in j:
            return OrderedDict((self.dec(k, path), self.dec(v, path)) for k, v in j["$od"])
        if "$d" in j:
            return {self.dec(k, path): self.dec(v, path) for k, v in j["$d"]}
        if "$t" in j:
            return tuple(self.dec(v, f"{path}[{i}]") for i, v in enumerate(j["$t"]))
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
            if f.name in stored:
                value = self.dec(stored[f.name], fpath)
            elif f.default is not dataclasses.MISSING:
                value = f.default
            elif f.default_factory is not dataclasses.MISSING:
                value = f.default_factory()
            else:
                raise SnapshotError(fpath, "missing from the snapshot and without a default")
            object.__setattr__(obj, f.name, value)
        return obj


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
    if doc.get("version") != VERSION:
        raise SnapshotError("", f"format version {doc.get('version')!r}; this build reads {VERSION}")
    if doc.get("kind") != kind:
        raise SnapshotError("", f"a {doc.get('kind')!r} snapshot, expected {kind!r}")
    return _Decoder(packages).dec(doc["state"], "")


def round_trip(obj: object, *, kind: str = "test") -> Any:
    """``load(dump(obj))`` (tests and checks)."""
    return load(dump(obj, kind=kind), kind=kind)
