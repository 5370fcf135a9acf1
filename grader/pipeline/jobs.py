"""A submission's job as it goes to the worker: its cells, and each call with its arrays as raw bytes.

``grader.pipeline.execution`` sends one job per run; a call's JSON and bytes are built once per plan
(:func:`wired_calls`) and each job only lays them end to end (:func:`binary_job`).
"""
from __future__ import annotations

import weakref

from grader.rubric.probes import Call, Plan
from grader.sandbox.worker.wire import Chunks, encode_arg


def wire_call(call: Call) -> dict:
    """One call as JSON, its arrays inline (the Otter kernel path, and tests)."""
    return {"id": call.id, "func": call.func, "args": [encode_arg(a) for a in call.args],
            "kwargs": {k: encode_arg(v) for k, v in call.kwargs.items()}}


class WiredCall:
    """One call as it goes into a binary job: its JSON, and its arrays' bytes (offsets from its own start)."""

    __slots__ = ("id", "header", "parts", "size")

    def __init__(self, call: Call) -> None:
        chunks = Chunks()
        self.id = call.id
        self.header = {"id": call.id, "func": call.func, "args": [encode_arg(a, chunks) for a in call.args],
                       "kwargs": {k: encode_arg(v, chunks) for k, v in call.kwargs.items()}}
        self.parts, self.size = chunks.parts, chunks.size


#: Plans whose calls are wired already, by id (each entry leaves with its plan): a seed's plans come
#: back from the grader's cache for every submission that draws that seed, and so do their bytes.
_wired: dict[int, list[WiredCall]] = {}


def wired_calls(plan: Plan) -> list[WiredCall]:
    key = id(plan)
    if key not in _wired:
        _wired[key] = [WiredCall(c) for c in plan.calls]
        weakref.finalize(plan, _wired.pop, key, None)
    return _wired[key]


def binary_job(cells: list[str], skip_cells: list[int], exercises: list[tuple[str, list[WiredCall]]]) -> dict:
    """The job, its arrays as raw bytes: each call names where its own start (``at``) and size (``n``)."""
    chunks = Chunks()
    out = []
    for q, calls in exercises:
        entries = []
        for c in calls:
            entries.append({**c.header, "at": chunks.size, "n": c.size})
            chunks.parts.extend(c.parts)
            chunks.size += c.size
        out.append({"q": q, "calls": entries})
    return {"cells": cells, "skip_cells": skip_cells, "exercises": out, "chunks": chunks}
