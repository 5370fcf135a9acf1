"""Plain-data encoding of probe arguments and results (no pickle, ever).

Arguments go from the trusted process to the worker; results come back. Both
directions use JSON whose arrays are ``{"dtype", "shape", "b64"}`` records of raw
little-endian bytes, or, in a binary frame (see :func:`frame`), ``{"dtype",
"shape", "off"}`` records whose bytes follow the frame's JSON header as they are
(no base64, no JSON string to scan: most of what a result costs to send and to
read). The decoder on the trusted side accepts only float64,
int64 and bool arrays whose byte count matches their shape, in lists or tuples
nested at most two deep, at most 4,000,000 elements in all, so a hostile worker
can send wrong numbers but nothing else. Results say explicitly whether the
student returned a list or a tuple (see ``encode_result``).

This module is also part of the worker's source (it is shipped verbatim), so
it imports nothing from the grader.
"""
from __future__ import annotations

import base64
import json
import struct
from typing import Any

import numpy as np

ALLOWED_DTYPES = {"float64": np.float64, "int64": np.int64, "bool": np.bool_}
MAX_ELEMENTS = 4_000_000
MAX_DEPTH = 2


class WireError(ValueError):
    """A record that is not a valid encoding (a hostile or broken worker)."""


# --- arrays --------------------------------------------------------------------------------
_NAMES = {np.dtype(np.float64): "float64", np.dtype(np.int64): "int64", np.dtype(np.bool_): "bool"}
_LITTLE = {name: np.dtype(t).newbyteorder("<") for name, t in ALLOWED_DTYPES.items()}
_RECORD_KEYS, _BINARY_KEYS = frozenset(("dtype", "shape", "b64")), frozenset(("dtype", "shape", "off"))


class Chunks:
    """Worker side: the raw bytes of a binary frame's arrays, in the order their records name them."""

    __slots__ = ("parts", "size")

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0

    def add(self, data: bytes) -> int:
        offset = self.size
        self.parts.append(data)
        self.size += len(data)
        return offset

    def reset(self) -> None:
        self.parts, self.size = [], 0


class Blob:
    """Trusted side: the bytes after a binary frame's header, handed out front to back.

    Each array record names its offset; offsets must not go backwards or overlap, so a
    frame's records together decode to at most the bytes it carried (no record can make
    another read the same bytes again). Only :class:`FrameReader` makes one: nothing in a
    frame's JSON can pose as a Blob.
    """

    __slots__ = ("data", "cursor")

    def __init__(self, data: memoryview) -> None:
        self.data, self.cursor = data, 0

    def take(self, offset: Any, nbytes: int) -> memoryview:
        if type(offset) is not int or offset < self.cursor or offset + nbytes > len(self.data):
            raise WireError("array record whose data is not in its frame")
        self.cursor = offset + nbytes
        return self.data[offset:offset + nbytes]


def encode_array(arr: np.ndarray, chunks: Chunks | None = None) -> dict:
    """An array as a record; with ``chunks`` (a binary frame's), its bytes go there, raw."""
    arr = np.asarray(arr)
    if not arr.flags.c_contiguous:
        arr = arr.copy(order="C")  # (ascontiguousarray would turn a 0-d array into 1-d)
    name = _NAMES[arr.dtype]
    data = arr.astype(_LITTLE[name], copy=False).tobytes()
    if chunks is not None:
        return {"dtype": name, "shape": list(arr.shape), "off": chunks.add(data)}
    return {"dtype": name, "shape": list(arr.shape), "b64": base64.b64encode(data).decode("ascii")}


def decode_array(rec: Any, blob: Blob | None = None) -> np.ndarray:
    """Validate and decode an array record; ``off`` records only with the ``blob`` of their frame."""
    if not isinstance(rec, dict):
        raise WireError("malformed array record")
    keys = rec.keys()
    binary = blob is not None and keys == _BINARY_KEYS
    if not binary and keys != _RECORD_KEYS:
        raise WireError("malformed array record")
    dtype, shape = rec["dtype"], rec["shape"]
    if dtype not in ALLOWED_DTYPES or not isinstance(shape, list) or not (binary or isinstance(rec["b64"], str)):
        raise WireError(f"array record with dtype {dtype!r}")
    if len(shape) > 8:
        raise WireError("array record with an invalid shape")
    size = 1
    for n in shape:
        if type(n) is not int or not 0 <= n <= MAX_ELEMENTS:
            raise WireError("array record with an invalid shape")
        size *= n
    if size > MAX_ELEMENTS:
        raise WireError("array record too large")
    want = _LITTLE[dtype]
    if binary:
        raw = blob.take(rec["off"], size * want.itemsize)
    else:
        raw = base64.b64decode(rec["b64"].encode("ascii"), validate=True)
        if len(raw) != size * want.itemsize:
            raise WireError("array record whose data does not match its shape")
    return np.frombuffer(raw, dtype=want).reshape(shape).astype(ALLOWED_DTYPES[dtype])  # a copy of its own


# --- probe arguments (trusted -> worker) -------------------------------------------------
def encode_arg(value: Any, chunks: Chunks | None = None) -> Any:
    """Encode an argument: arrays, numbers, strings, None, lists, rng seeds; with ``chunks``, the
    arrays' bytes go there (a binary job, see ``grader.pipeline.execution``)."""
    if isinstance(value, np.ndarray):
        return {"array": encode_array(value, chunks)}
    if hasattr(value, "seed") and type(value).__name__ == "Rng":
        return {"rng": int(value.seed)}
    if isinstance(value, (list, tuple)):
        return {"list": [encode_arg(v, chunks) for v in value]}
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot send {type(value).__name__} to the worker")


def decode_arg(obj: Any, blob: Blob | None = None) -> Any:
    """Worker side: rebuild an argument (fresh objects for every call); ``blob``: the call's bytes."""
    if isinstance(obj, dict):
        if "array" in obj:
            return decode_array(obj["array"], blob)
        if "rng" in obj:
            return np.random.default_rng(int(obj["rng"]))
        if "list" in obj:
            return [decode_arg(v, blob) for v in obj["list"]]
        raise WireError("unknown argument record")
    return obj


# --- results (worker -> trusted) -------------------------------------------------------------
# A result is a tree. Its nodes say, explicitly, what Python object the student returned:
#   {"value": <array>, "source_dtype": s}                     an ndarray, a numpy scalar, a float, an int
#   {"value": <array>, "source_dtype": s, "container": kind}  a list or tuple (kind "list"/"tuple") of numbers,
#                                                             arrays or nested lists that numpy reads as one
#                                                             regular array, sent as that array
#   {"list": [nodes]} / {"tuple": [nodes]}                    a list or tuple whose items do not form one array
#                                                             (A of shape (o, d) beside c of shape (o,))
# The trusted side decides what a node means where one array, or several results, are expected.
MAX_ITEMS = 64  # items of a list/tuple that is not one array


class ResultTooLarge(ValueError):
    """A result over :data:`MAX_ELEMENTS` elements (in one array or in all together)."""


def encode_result(value: Any, depth: int = 0, _budget: list | None = None, chunks: Chunks | None = None) -> dict:
    """Worker side: a returned object as a result tree (see above); with ``chunks``, the arrays'
    bytes go there (for a binary frame) instead of into the tree.

    Raises TypeError/ValueError for anything that is not numeric, and
    :class:`ResultTooLarge` beyond the element budget: the worker reports
    either as an invalid result.
    """
    budget = [MAX_ELEMENTS] if _budget is None else _budget
    if isinstance(value, (tuple, list)):
        kind = "tuple" if isinstance(value, tuple) else "list"
        arr = _regular(value)
        several = kind == "tuple" and depth < MAX_DEPTH and len(value) <= MAX_ITEMS
        if arr is not None and not (several and arr.ndim > 1):
            return _leaf(arr, str(arr.dtype), budget, value, chunks, container=kind)
        # a tuple of arrays is several results: each item keeps its own dtype
        if depth >= MAX_DEPTH:
            raise TypeError(f"a {kind} nested more than {MAX_DEPTH} deep whose items do not form one array")
        if len(value) > MAX_ITEMS:
            raise TypeError(f"a {kind} of {len(value)} items that do not form one array (items of different "
                            f"shapes or types)")
        return {kind: [encode_result(v, depth + 1, budget, chunks) for v in value]}
    arr = np.asarray(value)
    return _leaf(arr, str(arr.dtype), budget, value, chunks)


def _regular(value: Any) -> np.ndarray | None:
    """The list/tuple as one numeric array, or None when numpy cannot read it as one (ragged, objects)."""
    try:
        arr = np.asarray(value)
    except Exception:  # ragged ("inhomogeneous shape"), or an item whose __array__/__len__ raises
        return None
    if arr.dtype.kind == "O" or arr.ndim == 0:
        return None
    return arr


def _leaf(arr: np.ndarray, source: str, budget: list, original: Any, chunks: Chunks | None,
          container: str = "") -> dict:
    size = int(arr.size)
    if size > MAX_ELEMENTS:
        raise ResultTooLarge(f"an array of {size:,} elements, more than the {MAX_ELEMENTS:,} the grader accepts")
    if size > budget[0]:
        raise ResultTooLarge(f"arrays of more than {MAX_ELEMENTS:,} elements in all, more than the grader accepts")
    budget[0] -= size
    if arr.dtype == np.bool_:
        out = arr.astype(np.bool_)
    elif arr.dtype.kind in "fiu":
        out = arr.astype(np.float64)
    elif arr.dtype.kind == "c":
        raise TypeError(f"complex result ({source})")
    elif arr.dtype.kind == "O" and arr.shape == () and not container:
        out = np.asarray(float(original), dtype=np.float64)
    else:
        raise TypeError(f"result of type {type(original).__name__} with dtype {source}")
    out = np.array(out, copy=True)  # a plain ndarray, never a subclass
    node = {"value": encode_array(out, chunks), "source_dtype": source}
    if container:
        node["container"] = container
    return node


class Decoded:
    """A decoded result: ``value`` as the checks read it, plus what the student returned.

    ``value`` is an ndarray where the result reads as one array (an array, a
    number, a list, a tuple of numbers), otherwise a tuple of values (a tuple
    of arrays, or a list/tuple whose items do not form one array).
    ``container`` is "list" or "tuple" when the student returned one, else "".
    """

    __slots__ = ("value", "source_dtype", "container")

    def __init__(self, value: Any, source_dtype: str, container: str) -> None:
        self.value, self.source_dtype, self.container = value, source_dtype, container


def read_result(obj: Any, blob: Blob | None = None) -> Decoded:
    """Trusted side: validate a result tree from the (untrusted) worker and decode it; ``blob``:
    the bytes of the binary frame it came in, if it did."""
    return _read(obj, 0, [MAX_ELEMENTS], blob)


def _read(obj: Any, depth: int, budget: list, blob: Blob | None) -> Decoded:
    if not isinstance(obj, dict):
        raise WireError("malformed result record")
    for kind in ("tuple", "list"):
        if kind in obj:
            items = obj[kind]
            if set(obj) != {kind} or depth >= MAX_DEPTH or not isinstance(items, list) or len(items) > MAX_ITEMS:
                raise WireError(f"malformed {kind} record")
            parts = tuple(_read(v, depth + 1, budget, blob).value for v in items)
            return Decoded(parts, kind, kind)
    if "value" in obj and set(obj) <= {"value", "source_dtype", "container"}:
        source = obj.get("source_dtype", "")
        source = source[:40] if isinstance(source, str) else ""
        container = obj.get("container", "")
        if container not in ("", "list", "tuple"):
            raise WireError("malformed result record")
        arr = decode_array(obj["value"], blob)
        if arr.size > budget[0]:
            raise WireError("result too large")
        budget[0] -= arr.size
        if container and arr.ndim == 0:
            raise WireError("a list or tuple record holding a 0-d array")
        if container == "tuple" and arr.ndim > 1:
            # a tuple of arrays (or of lists) is several results, not one array; only a tuple of numbers is one
            return Decoded(tuple(arr[i].copy() for i in range(arr.shape[0])), source, container)
        return Decoded(arr, source, container)
    raise WireError("malformed result record")


def decode_result(obj: Any) -> tuple[Any, str]:
    """Trusted side: (value, source dtype); value is an ndarray or a tuple of values (see :class:`Decoded`)."""
    decoded = read_result(obj)
    return decoded.value, decoded.source_dtype


# --- framing -------------------------------------------------------------------------------
# A frame is a 4-byte big-endian length and a payload: JSON, or, for a payload that starts with a
# zero byte (which no JSON does), a binary frame: 4 bytes of header length, the JSON header, then
# the raw bytes its ``off`` array records point into.
HEADER = struct.Struct(">I")
MAX_FRAME = 64 * 1024 * 1024
#: The most JSON text in one frame from the worker (a whole JSON frame, or a binary frame's header).
#: Its own frames hold events, error messages cut at 400 characters and small array records (the
#: arrays' bytes travel raw, 1:1 in memory); decoded, JSON such as ``[[],[],...]`` takes 25 times
#: its size in Python objects: 64 MiB of it was 1.6 GiB in the trusted process.
MAX_JSON = 1024 * 1024
BINARY = b"\0"


def frame(obj: Any, chunks: Chunks | None = None) -> bytes:
    data = json.dumps(obj, allow_nan=True).encode("utf-8")
    if chunks is None:
        return HEADER.pack(len(data)) + data
    return b"".join([HEADER.pack(1 + HEADER.size + len(data) + chunks.size), BINARY, HEADER.pack(len(data)), data,
                     *chunks.parts])


def payload(obj: Any, chunks: Chunks | None = None) -> bytes:
    """A frame without its length: JSON, or a binary payload with ``chunks``."""
    return frame(obj, chunks)[HEADER.size:]


def read_payload(data: bytes, max_json: int | None = None) -> tuple[Any, Blob | None]:
    """A frame's payload as (JSON object, the :class:`Blob` of a binary frame or None); JSON text
    over ``max_json`` bytes is refused before it is decoded."""
    blob = None
    if data[:1] == BINARY:
        if len(data) < 1 + HEADER.size:
            raise WireError("binary frame too short")
        (h,) = HEADER.unpack_from(data, 1)
        start = 1 + HEADER.size
        if h > len(data) - start:
            raise WireError("binary frame whose header is longer than the frame")
        blob = Blob(memoryview(data)[start + h:])
        data = data[start:start + h]
    if max_json is not None and len(data) > max_json:
        raise WireError(f"a frame of {len(data)} bytes of JSON, over the limit of {max_json}")
    try:
        return json.loads(data), blob
    except ValueError as exc:
        raise WireError(f"frame is not JSON: {exc}") from None


class FrameReader:
    """Splits a byte stream into JSON frames; refuses frames over ``max_frame`` bytes, or with over
    ``max_json`` bytes of JSON (see :data:`MAX_JSON`). A binary
    frame comes out as its JSON header with its bytes under ``"blob"`` (a :class:`Blob`, which no
    JSON can make: whatever the header itself says under that key is replaced)."""

    def __init__(self, max_frame: int = MAX_FRAME, max_json: int = MAX_JSON) -> None:
        self.buffer = bytearray()
        self.max_frame = max_frame
        self.max_json = max_json

    def feed(self, data: bytes) -> list[Any]:
        self.buffer += data
        out = []
        while len(self.buffer) >= HEADER.size:
            (n,) = HEADER.unpack_from(self.buffer)
            if n > self.max_frame:
                raise WireError(f"frame of {n} bytes is over the limit")
            self._refuse_early(n)
            if len(self.buffer) < HEADER.size + n:
                break
            payload = bytes(self.buffer[HEADER.size:HEADER.size + n])
            del self.buffer[:HEADER.size + n]
            obj, blob = read_payload(payload, self.max_json)
            if blob is not None and isinstance(obj, dict):
                obj["blob"] = blob
            out.append(obj)
        return out

    def _refuse_early(self, n: int) -> None:
        """Refuse too much JSON as soon as its frame says so, not once 64 MiB have been buffered."""
        buf, start = self.buffer, HEADER.size
        if len(buf) > start and buf[start:start + 1] != BINARY and n > self.max_json:
            raise WireError(f"a frame of {n} bytes of JSON, over the limit of {self.max_json}")
        if len(buf) >= start + 1 + HEADER.size and buf[start:start + 1] == BINARY:
            (h,) = HEADER.unpack_from(buf, start + 1)
            if h > self.max_json:
                raise WireError(f"a frame with {h} bytes of JSON, over the limit of {self.max_json}")
