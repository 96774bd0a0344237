"""processing.snapshot's encoders: a value to the JSON document :func:`processing.snapshot.dump` writes.

:class:`_Encoder` is the plain one (it keeps the path to each value, for its errors); :class:`_FastEncoder`
writes the same document faster and falls back to it on any error. Both write a non-empty sequence of
instances of one dataclass, or of tuples of one length, as columns (:func:`_rows`), and a column of exact
floats (and a numpy array) as byte-shuffled base64 (:func:`_packed`): float64 bits, not decimal text.
"""

from __future__ import annotations

import array
import base64
import dataclasses
import datetime as dt
import enum
import functools
import math
import random
import sys
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

Json = Any


class SnapshotError(ValueError):
    """A value cannot be saved, or bytes are not a snapshot this version can read."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"snapshot {path or '<root>'}: {reason}")


_isfinite = math.isfinite
_INT = {int}
_FLOAT = {float}


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
        t = type(items[0])
        if t is int:
            return list(items) if set(map(type, items)) == _INT else None
        if t is float and set(map(type, items)) == _FLOAT and _isfinite(sum(items)):  # type: ignore[arg-type]
            return list(items)
        return None

    def _items(self, items: Sequence[object] | deque[object], path: str) -> Json:
        """A list, deque or tuple's items: plain numbers, columns (:func:`_rows`) or item by item."""
        plain = self._plain(items)
        if plain is not None:
            return plain
        rows = _rows(self, items, path)
        if rows is not None:
            return rows
        return [self.enc(v, f"{path}[{i}]") for i, v in enumerate(items)]

    def _column(self, values: list[Any], path_of: Callable[[int], str]) -> Json:
        """One column of :func:`_rows`: exact floats packed, else as :meth:`_items` (without columns)."""
        if values and all(type(v) is float for v in values):
            return _packed(values)
        return self._plain(values) or [self.enc(v, path_of(i)) for i, v in enumerate(values)]

    def enc(self, x: object, path: str) -> Json:
        t = type(x)  # the exact common types first (a subclass, e.g. an enum of str, takes the long way)
        if isinstance(x, float) and t is float:
            return x if _isfinite(x) else {"$f": repr(x)}
        if t is str or t is int or t is bool or x is None:
            return x
        if isinstance(x, list) and t is list:
            return self._items(x, path)
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
            return _array(x)
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
            return {"$rng": _rng_state(x) or self.enc(x.getstate(), path), "$id": n}
        if dataclasses.is_dataclass(x) and not isinstance(x, type):
            n, seen = self._shared(x)
            if seen:
                return {"$ref": n}
            fields = {f.name: self.enc(getattr(x, f.name), f"{path}.{f.name}") for f in dataclasses.fields(x)}
            return {"$dc": _type_name(type(x)), "$id": n, "f": fields}
        if isinstance(x, deque):
            return {"$dq": self._items(x, path), "maxlen": x.maxlen}
        if isinstance(x, OrderedDict):
            return {"$od": [[self.enc(k, path), self.enc(v, f"{path}[{k!r}]")] for k, v in x.items()]}
        if isinstance(x, dict):
            return {"$d": [[self.enc(k, path), self.enc(v, f"{path}[{k!r}]")] for k, v in x.items()]}
        if isinstance(x, list):
            return [self.enc(v, f"{path}[{i}]") for i, v in enumerate(x)]
        if isinstance(x, tuple):
            return {"$t": self._items(x, path)}
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


def _rng_state(x: random.Random) -> Json:
    """A Mersenne Twister state (``getstate()``: version 3, 625 words, the cached Gaussian) as
    ``{"mt": base64 of the words as little-endian uint32, "g": gauss}``; None for any other state."""
    version, words, gauss = x.getstate()
    if version != 3 or not (gauss is None or type(gauss) is float) or _WORD.itemsize != 4:
        return None
    try:
        packed = array.array(_WORD.typecode, words)
    except (OverflowError, TypeError):
        return None
    if sys.byteorder == "big":
        packed.byteswap()
    g = gauss if gauss is None or _isfinite(gauss) else {"$f": repr(gauss)}
    return {"mt": base64.b64encode(packed.tobytes()).decode("ascii"), "g": g}


_WORD = array.array("I")


def _field_names(cls: type) -> tuple[str, ...]:
    """A dataclass's field names, in ``dataclasses.fields`` order (kept per class)."""
    names = _FIELD_NAMES.get(cls) if dataclasses.fields is _DATACLASS_FIELDS else None
    if names is None:
        names = tuple(f.name for f in dataclasses.fields(cls))
        if dataclasses.fields is _DATACLASS_FIELDS:  # (not while a test stands in for it)
            _FIELD_NAMES[cls] = names
    return names


def _shuffled(arr: np.ndarray[Any, Any]) -> str:
    """A C-contiguous array's bytes as base64, byte-shuffled: every value's first byte, then every second
    byte, ... (the like bytes of like numbers side by side: a float64 clock's high bytes compress away)."""
    raw = arr.reshape(-1).view(np.uint8).reshape(-1, arr.dtype.itemsize).T.tobytes()
    return base64.b64encode(raw).decode("ascii")


def _packed(values: list[float]) -> str:
    """Exact floats as their little-endian float64 bits (:func:`_shuffled`): every bit pattern kept (NaN,
    infinities, -0.0), and cheaper to write and read than their shortest decimal text."""
    return _shuffled(np.array(values, dtype="<f8"))


def _array(x: np.ndarray[Any, Any]) -> Json:
    """A numpy array: dtype, shape and its bytes (byte-shuffled when its items are wider than a byte)."""
    arr = np.ascontiguousarray(x)
    doc: dict[str, Json] = {"$nd": arr.dtype.str, "shape": list(arr.shape)}
    if arr.dtype.itemsize > 1:
        doc["s"] = _shuffled(arr)
    else:
        doc["b"] = base64.b64encode(arr.tobytes()).decode("ascii")
    return doc


_NOT_ROWS = (
    enum.Enum,
    bytes,
    int,
    float,
    np.integer,
    np.floating,
    np.ndarray,
    dt.time,
    ZoneInfo,
    dt.timezone,
)
_ROW_CLASSES: dict[type, bool] = {}


def _row_class(cls: type) -> bool:
    """Whether instances of ``cls`` are encoded as dataclasses (the encoders test enums etc. first)."""
    known = _ROW_CLASSES.get(cls)
    if known is None:
        known = dataclasses.is_dataclass(cls) and not issubclass(cls, _NOT_ROWS)
        _ROW_CLASSES[cls] = known
    return known


def _tuple_path(path: str, j: int, i: int) -> str:
    return f"{path}[{i}][{j}]"


def _field_path(path: str, at: list[int], name: str, k: int) -> str:
    return f"{path}[{at[k]}].{name}"


def _rows(e: _Encoder | _FastEncoder, items: Sequence[object] | deque[object], path: str) -> Json:
    """Two or more items all of one dataclass (exact type), or all tuples of one length, as columns; else
    None. Dataclasses: ``{"$dcs": type, "$id": first id, "n": rows, "names": [...], "cols": [...], "refs": [[i, id]]}``,
    the items met before (shared) as references at their places, the others numbered in order (before
    their fields are written); a column of exact floats is :func:`_packed`. Tuples: ``{"$tr": [...]}``."""
    if len(items) < 2:
        return None
    first = items[0]
    cls = type(first)
    if cls is tuple:
        width = len(first)  # type: ignore[arg-type]
        if not width or not all(type(v) is tuple and len(v) == width for v in items):
            return None
        columns = zip(*items, strict=True)
        return {
            "$tr": [
                e._column(list(c), functools.partial(_tuple_path, path, j)) for j, c in enumerate(columns)
            ]
        }
    if not _row_class(cls) or not all(type(v) is cls for v in items):
        return None
    refs: list[list[int]] = []
    fresh: list[object] = []
    at: list[int] = []
    first_id = -1
    for i, v in enumerate(items):
        n, seen = e._shared(v)
        if seen:
            refs.append([i, n])
            continue
        if first_id < 0:
            first_id = n
        fresh.append(v)
        at.append(i)
    names = _field_names(cls)
    cols = [
        e._column([getattr(v, name) for v in fresh], functools.partial(_field_path, path, at, name))
        for name in names
    ]
    return {
        "$dcs": _type_name(cls),
        "$id": first_id,
        "n": len(fresh),
        "names": list(names),
        "cols": cols,
        "refs": refs,
    }


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

    def _items(self, items: Sequence[object] | deque[object]) -> Json:
        plain = _Encoder._plain(items)
        if plain is not None:
            return plain
        rows = _rows(self, items, "")
        if rows is not None:
            return rows
        return [self.enc(v) for v in items]

    def _column(self, values: list[Any], path_of: Callable[[int], str]) -> Json:
        if values and all(type(v) is float for v in values):
            return _packed(values)
        return _Encoder._plain(values) or [self.enc(v) for v in values]

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
        names = _field_names(cls)
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
        return {"$rng": _rng_state(x) or self.enc(x.getstate()), "$id": n}


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


def _enc_array(e: _FastEncoder, x: np.ndarray[Any, Any]) -> Json:
    if x.dtype.hasobject:
        return _enc_other(e, x)  # (raises)
    return _array(x)


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
    elif issubclass(t, np.ndarray):
        h = _enc_array
    elif issubclass(t, dt.time | ZoneInfo | dt.timezone):
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
