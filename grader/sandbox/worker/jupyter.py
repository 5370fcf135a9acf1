"""A notebook's cells with Jupyter's semantics, then the probe calls.

One of the parts shipped as the worker program (order: ``SHIPPED`` in ``grader/sandbox/process.py``);
it imports only the parts shipped before it.
"""
from __future__ import annotations

import builtins
import sys
import types

from grader.sandbox.worker.wire import Blob, Chunks  # shipped-with-wire
from grader.sandbox.worker.calls import ENCODING, CLOCK, describe_error, run_call  # shipped-with-wire

# functions below resolve builtins in this snapshot, not in what the student's code patches
__builtins__ = dict(builtins.__dict__)


# --- executing a notebook with Jupyter's semantics ----------------------------------------------
class _Shell:
    """Stands in for ``get_ipython()``: magics and shell lines run nothing."""

    def __init__(self, namespace: dict) -> None:
        self.user_ns = namespace

    def run_line_magic(self, name: str, line: str, *args, **kwargs) -> None:
        return None

    def run_cell_magic(self, name: str, line: str, cell: str) -> None:
        # %%time and %%capture only observe their cell; run it once, as Jupyter would.
        if name in ("time", "capture", "timeit"):
            exec(compile(cell, f"<%%{name}>", "exec"), self.user_ns)

    def system(self, cmd: str, *args, **kwargs) -> None:
        return None

    getoutput = system

    def __getattr__(self, name: str):
        return lambda *args, **kwargs: None


def _no_input(prompt: str = "") -> str:
    raise RuntimeError("input() is not available while grading: remove the call or give the value in code")


def fresh_namespace() -> dict:
    """A new ``__main__`` module, as a fresh kernel has."""
    main = types.ModuleType("__main__")
    ns = main.__dict__
    ns["__builtins__"] = builtins
    ns["get_ipython"] = lambda: shell
    shell = _Shell(ns)
    sys.modules["__main__"] = main
    builtins.input = _no_input
    sys.argv = ["notebook"]
    return ns


def run_cells(cells: list[str], skip: set[int], ns: dict, emit) -> None:
    """Each cell compiled and run on its own; a failing cell does not stop the next."""
    for i, source in enumerate(cells):
        if i in skip:
            continue
        emit({"ev": "cell", "i": i})
        error = None
        try:
            exec(compile(source, f"<cell {i + 1}>", "exec"), ns)
        except BaseException as exc:  # SyntaxError, SystemExit and KeyboardInterrupt included
            error = describe_error(exc)
        emit({"ev": "cell_done", "i": i, "error": error})


def run_job(job: dict, emit, blob: Blob | None = None) -> None:
    """Run the cells, then every call; ``emit(obj, chunks=None)`` writes one frame (a binary one
    with ``chunks``). Each result goes out as soon as it is made, in its own frame: whatever a
    later call does (hang, kill the process), what came before has reached the grader. ``blob``:
    the bytes of a binary job, where each call's arrays are (from ``at``, ``n`` bytes)."""
    setup = CLOCK()  # this process's CPU before the first cell: its share of the isolation
    ns = fresh_namespace()
    run_cells(job["cells"], set(job.get("skip_cells", ())), ns, emit)
    emit({"ev": "cells_done"})
    cells = CLOCK()
    for exercise in job["exercises"]:
        emit({"ev": "exercise", "q": exercise["q"]})
        for call in exercise["calls"]:
            chunks = Chunks()
            at, n = call.get("at"), call.get("n")
            own = Blob(blob.data[at:at + n]) if blob is not None and type(at) is int and type(n) is int else None
            result = run_call(ns, call, chunks, own)
            started = CLOCK()
            emit({"ev": "result", "q": exercise["q"], "id": call["id"], **result}, chunks if chunks.parts else None)
            ENCODING[0] += CLOCK() - started
    probes = CLOCK()  # the calls, and encoding their results (encode_result, then the frames)
    emit({"ev": "done", "cpu": {"setup": setup, "cells": cells - setup, "calls": probes - cells - ENCODING[0],
                                "encode": ENCODING[0]}})
