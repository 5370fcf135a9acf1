"""One probe call on a student's namespace, reported as plain data; shared by both sides.

The worker program runs it on every call of a job (it is one of the parts shipped as the worker
program, order: ``SHIPPED`` in ``grader/sandbox/process.py``); Otter's kernel runs it on the student's own
namespace (``grader.interfaces.otter_plugin``), and the grader's tests run it without a sandbox. It
imports nothing of the grader but the wire format, so the trusted process can use it
without importing the worker program.
"""
from __future__ import annotations

import builtins
import time

import numpy as np

from grader.sandbox.worker.wire import Blob, Chunks, ResultTooLarge, decode_arg, encode_result  # shipped-with-wire

# What is reported about a call (did it raise ValueError, did it modify its inputs) is decided
# in the student's own process, so it must not follow the student's monkeypatches:
# ``builtins.ValueError = Exception`` or ``np.array_equal = lambda *a, **k: True`` would otherwise
# earn the points of those checks. Functions defined below resolve builtins in this snapshot
# (the student's code still sees, and may patch, the real module), and the numpy objects they
# need are taken now, before any submission runs. (This stops patching, not a process that
# rewrites its own memory: such facts are only ever self-reported.)
__builtins__ = dict(builtins.__dict__)
_NDARRAY, _EQUAL, _ISNAN = np.ndarray, np.equal, np.isnan
CLOCK = time.process_time  # the job's own CPU account (informational), reported in its last frame
ENCODING = [0.0]  # CPU seconds spent in encode_result, for that account


def describe_error(exc: BaseException) -> dict:
    try:
        message = str(exc)[:400]
    except BaseException:
        message = "<unprintable>"
    line = getattr(exc, "lineno", None)
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.startswith("<cell"):
            line = tb.tb_lineno
        tb = tb.tb_next
    return {"type": type(exc).__name__, "message": message, "line": line if isinstance(line, int) else None}


def _arrays_in(values, prefix: str):
    for i, value in enumerate(values):
        name = f"{prefix}{i + 1}"
        if isinstance(value, _NDARRAY):
            yield name, value
        elif isinstance(value, list):
            for j, item in enumerate(value):
                if isinstance(item, _NDARRAY):
                    yield f"{name}[{j}]", item


def _unchanged(before: np.ndarray, after) -> bool:
    """``array_equal(before, after, equal_nan=True)`` without numpy's Python layer (which the
    submission can patch); anything but a plain ndarray in an argument's place counts as changed."""
    if type(after) is not _NDARRAY or after.shape != before.shape or after.dtype != before.dtype:
        return False
    if after.tobytes() == before.tobytes():
        return True
    return bool((_EQUAL(before, after) | (_ISNAN(before) & _ISNAN(after))).all())


def run_call(ns: dict, call: dict, chunks: Chunks | None = None, blob: Blob | None = None) -> dict:
    """Call one student function on freshly decoded arguments; report plain data. With ``chunks``
    the result's arrays go there as raw bytes, for a binary frame (see ``grader.sandbox.worker.wire.frame``);
    ``blob``: the bytes of this call's arguments, when they came in a binary job."""
    func = ns.get(call["func"])
    if func is None or not callable(func):
        return {"status": "undefined"}
    args = [decode_arg(a, blob) for a in call["args"]]
    kwargs = {k: decode_arg(v, blob) for k, v in call["kwargs"].items()}
    originals = [(name, arr.copy()) for name, arr in _arrays_in(args, "argument ")]
    try:
        value = func(*args, **kwargs)
    except BaseException as exc:
        err = describe_error(exc)
        # type(), not isinstance(): an exception can claim any class through a __class__ property
        return {"status": "raised", "error_type": err["type"], "error_message": err["message"],
                "is_value_error": issubclass(type(exc), ValueError)}
    after = dict(_arrays_in(args, "argument "))
    mutated = [name for name, before in originals if name not in after or not _unchanged(before, after[name])]
    try:
        # arrays, numbers, lists and tuples, with the difference between a list and a tuple kept
        # (see wire.encode_result); a result over the size the trusted side accepts is refused here,
        # where it costs this call only, instead of flooding the channel and costing the exercise
        started = CLOCK()
        try:
            encoded = encode_result(value, chunks=chunks)
        finally:
            ENCODING[0] += CLOCK() - started
    except ResultTooLarge as exc:
        if chunks is not None:
            chunks.reset()
        return {"status": "invalid", "mutated": mutated, "error_message": str(exc)}
    except BaseException as exc:
        if chunks is not None:
            chunks.reset()
        return {"status": "invalid", "error_message": f"{type(exc).__name__}: {str(exc)[:200]}", "mutated": mutated}
    return {"status": "ok", "result": encoded, "mutated": mutated}
