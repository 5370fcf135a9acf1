"""Plain-data encoding of probe arguments and results (no pickle, ever).

Arguments go from the trusted process to the worker; results come back. Both
directions use JSON whose arrays are ``{"dtype", "shape", "b64"}`` records of raw
little-endian bytes. The decoder on the trusted side accepts only float64,
int64 and bool arrays whose byte count matches their shape, nested at most two
deep, so a hostile worker can send wrong numbers but nothing else.

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
def encode_result(value: Any, depth: int = 0) -> dict:
    """Worker side: a returned object as arrays (tuples/lists of arrays at most 2 deep).

    Raises TypeError/ValueError for anything that is not numeric: the worker
    reports that as an invalid result.
    """
    if isinstance(value, (tuple, list)) and depth < MAX_DEPTH and not _looks_numeric_list(value):
        return {"tuple": [encode_result(v, depth + 1) for v in value]}
    arr = np.asarray(value)
    source = str(arr.dtype)
    if arr.dtype == np.bool_:
        out = arr.astype(np.bool_)
    elif arr.dtype.kind in "fiu":
        out = arr.astype(np.float64)
    elif arr.dtype.kind == "c":
        raise TypeError(f"complex result ({source})")
    elif arr.dtype.kind == "O" and arr.shape == ():
        out = np.asarray(float(value), dtype=np.float64)
    else:
        raise TypeError(f"result of type {type(value).__name__} with dtype {source}")
    out = np.array(out, copy=True)  # a plain ndarray, never a subclass
    return {"value": encode_array(out), "source_dtype": source}


def _looks_numeric_list(value: Any) -> bool:
    """A list of plain numbers is an array, not a tuple of results."""
    return isinstance(value, list) and all(isinstance(v, (int, float, bool, np.number)) for v in value)


def decode_result(obj: Any, depth: int = 0) -> tuple[Any, str]:
    """Trusted side: (value, source dtype); value is an ndarray or a tuple of them."""
    if not isinstance(obj, dict):
        raise WireError("malformed result record")
    if "tuple" in obj and depth < MAX_DEPTH and isinstance(obj["tuple"], list) and len(obj["tuple"]) <= 64:
        items = [decode_result(v, depth + 1) for v in obj["tuple"]]
        return tuple(v for v, _ in items), "tuple"
    if "value" in obj:
        source = obj.get("source_dtype", "")
        return decode_array(obj["value"]), source if isinstance(source, str) else ""
    raise WireError("malformed result record")


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
