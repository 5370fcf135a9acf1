"""Plain-data encoding of probe arguments and results (no pickle, ever).

Arguments go from the trusted process to the worker; results come back. Both
directions use JSON whose arrays are ``{"dtype", "shape", "b64"}`` records of raw
little-endian bytes. The decoder on the trusted side accepts only float64,
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
def encode_array(arr: np.ndarray) -> dict:
    arr = np.asarray(arr)
    if not arr.flags.c_contiguous:
        arr = arr.copy(order="C")  # (ascontiguousarray would turn a 0-d array into 1-d)
    name = {np.dtype(np.float64): "float64", np.dtype(np.int64): "int64", np.dtype(np.bool_): "bool"}[arr.dtype]
    return {"dtype": name, "shape": list(arr.shape),
            "b64": base64.b64encode(arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()).decode("ascii")}


def decode_array(rec: Any) -> np.ndarray:
    if not isinstance(rec, dict) or set(rec) != {"dtype", "shape", "b64"}:
        raise WireError("malformed array record")
    dtype, shape, b64 = rec["dtype"], rec["shape"], rec["b64"]
    if dtype not in ALLOWED_DTYPES or not isinstance(shape, list) or not isinstance(b64, str):
        raise WireError(f"array record with dtype {dtype!r}")
    if len(shape) > 8 or not all(type(n) is int and 0 <= n <= MAX_ELEMENTS for n in shape):
        raise WireError("array record with an invalid shape")
    size = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if size > MAX_ELEMENTS:
        raise WireError("array record too large")
    raw = base64.b64decode(b64.encode("ascii"), validate=True)
    want = np.dtype(ALLOWED_DTYPES[dtype]).newbyteorder("<")
    if len(raw) != size * want.itemsize:
        raise WireError("array record whose data does not match its shape")
    return np.frombuffer(raw, dtype=want).astype(ALLOWED_DTYPES[dtype]).reshape(shape)


# --- probe arguments (trusted -> worker) -------------------------------------------------
def encode_arg(value: Any) -> Any:
    """Encode an argument: arrays, numbers, strings, None, lists, rng seeds."""
    if isinstance(value, np.ndarray):
        return {"array": encode_array(value)}
    if hasattr(value, "seed") and type(value).__name__ == "Rng":
        return {"rng": int(value.seed)}
    if isinstance(value, (list, tuple)):
        return {"list": [encode_arg(v) for v in value]}
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot send {type(value).__name__} to the worker")


def decode_arg(obj: Any) -> Any:
    """Worker side: rebuild an argument (fresh objects for every call)."""
    if isinstance(obj, dict):
        if "array" in obj:
            return decode_array(obj["array"]).copy()
        if "rng" in obj:
            return np.random.default_rng(int(obj["rng"]))
        if "list" in obj:
            return [decode_arg(v) for v in obj["list"]]
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


def encode_result(value: Any, depth: int = 0, _budget: list | None = None) -> dict:
    """Worker side: a returned object as a result tree (see above).

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
            return _leaf(arr, str(arr.dtype), budget, value, container=kind)
        # a tuple of arrays is several results: each item keeps its own dtype
        if depth >= MAX_DEPTH:
            raise TypeError(f"a {kind} nested more than {MAX_DEPTH} deep whose items do not form one array")
        if len(value) > MAX_ITEMS:
            raise TypeError(f"a {kind} of {len(value)} items that do not form one array (items of different "
                            f"shapes or types)")
        return {kind: [encode_result(v, depth + 1, budget) for v in value]}
    arr = np.asarray(value)
    return _leaf(arr, str(arr.dtype), budget, value)


def _regular(value: Any) -> np.ndarray | None:
    """The list/tuple as one numeric array, or None when numpy cannot read it as one (ragged, objects)."""
    try:
        arr = np.asarray(value)
    except Exception:  # ragged ("inhomogeneous shape"), or an item whose __array__/__len__ raises
        return None
    if arr.dtype.kind == "O" or arr.ndim == 0:
        return None
    return arr


def _leaf(arr: np.ndarray, source: str, budget: list, original: Any, container: str = "") -> dict:
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
    node = {"value": encode_array(out), "source_dtype": source}
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


def read_result(obj: Any) -> Decoded:
    """Trusted side: validate a result tree from the (untrusted) worker and decode it."""
    return _read(obj, 0, [MAX_ELEMENTS])


def _read(obj: Any, depth: int, budget: list) -> Decoded:
    if not isinstance(obj, dict):
        raise WireError("malformed result record")
    for kind in ("tuple", "list"):
        if kind in obj:
            items = obj[kind]
            if set(obj) != {kind} or depth >= MAX_DEPTH or not isinstance(items, list) or len(items) > MAX_ITEMS:
                raise WireError(f"malformed {kind} record")
            parts = tuple(_read(v, depth + 1, budget).value for v in items)
            return Decoded(parts, kind, kind)
    if "value" in obj and set(obj) <= {"value", "source_dtype", "container"}:
        source = obj.get("source_dtype", "")
        source = source[:40] if isinstance(source, str) else ""
        container = obj.get("container", "")
        if container not in ("", "list", "tuple"):
            raise WireError("malformed result record")
        arr = decode_array(obj["value"])
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
HEADER = struct.Struct(">I")
MAX_FRAME = 64 * 1024 * 1024


def frame(obj: Any) -> bytes:
    data = json.dumps(obj, allow_nan=True).encode("utf-8")
    return HEADER.pack(len(data)) + data


class FrameReader:
    """Splits a byte stream into JSON frames; refuses frames over ``max_frame`` bytes."""

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self.buffer = bytearray()
        self.max_frame = max_frame

    def feed(self, data: bytes) -> list[Any]:
        self.buffer += data
        out = []
        while len(self.buffer) >= HEADER.size:
            (n,) = HEADER.unpack_from(self.buffer)
            if n > self.max_frame:
                raise WireError(f"frame of {n} bytes is over the limit")
            if len(self.buffer) < HEADER.size + n:
                break
            payload = bytes(self.buffer[HEADER.size:HEADER.size + n])
            del self.buffer[:HEADER.size + n]
            try:
                out.append(json.loads(payload))
            except ValueError as exc:
                raise WireError(f"frame is not JSON: {exc}") from None
        return out
