"""Running one submission's cells and probes to completion, whatever it does.

The driver sends a job to a worker and follows the child's progress frame by
frame. Every cell and every exercise has its own deadline (``step_timeout``)
inside the submission's total (``timeout``). When the child hangs or dies, the
driver knows where it was and starts it again without the culprit: a cell that
loops or calls ``os._exit`` is skipped (Jupyter would have stopped there; we
grade the rest), an exercise whose function hangs or kills the process scores
the calls of that function as timed out or crashed (the function is named as the
cause), and the next run goes on with the other functions of the exercise and
the next exercises. So nothing a submission does costs more than the cell or
function that did it.
"""
from __future__ import annotations

import time
import weakref
from dataclasses import dataclass, field
from typing import Any, Protocol

from grader.rubric.checks import Outcome
from grader.sandbox.outcomes import outcome_from_record
from grader.rubric.probes import Plan
from grader.sandbox.process import Limits, WorkerDied
from grader.core.text import identifier, plain
from grader.sandbox.worker.wire import Chunks, WireError, encode_arg


class Worker(Protocol):
    limits: Limits

    def begin(self, job: dict) -> None: ...
    def poll(self, deadline: float) -> tuple[str, Any]: ...
    def kill_job(self) -> dict: ...
    def restart(self) -> None: ...


@dataclass
class Execution:
    """What running a submission gave: per-call outcomes and what went wrong where."""

    outcomes: dict[str, dict[str, Outcome]] = field(default_factory=dict)
    cell_errors: dict[int, dict] = field(default_factory=dict)
    skipped_cells: dict[int, str] = field(default_factory=dict)
    exercise_notes: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    attempts: int = 0
    timed_out: bool = False


class JobDidNotStart(RuntimeError):
    """The worker's child died before it ran anything of the submission, twice: the sandbox is
    broken (a limit it cannot set, a uid it cannot take), not the submission. Grading it would
    score a correct notebook 0 as if it were empty; the result is an error instead."""


class SandboxLost(RuntimeError):
    """The worker was lost mid-run through no doing of the submission (the Docker engine stopped or restarted,
    its container was stopped or removed from outside): the worker says so (``lost_by_grader``). Blaming the
    cell or exercise that was running would score the submission for the grader's failure; the result is
    an error instead."""


def wire_call(call) -> dict:
    return {"id": call.id, "func": call.func, "args": [encode_arg(a) for a in call.args],
            "kwargs": {k: encode_arg(v) for k, v in call.kwargs.items()}}


class _WiredCall:
    """One call as it goes into a binary job: its JSON, and its arrays' bytes (offsets from its own start)."""

    __slots__ = ("id", "header", "parts", "size")

    def __init__(self, call) -> None:
        chunks = Chunks()
        self.id = call.id
        self.header = {"id": call.id, "func": call.func, "args": [encode_arg(a, chunks) for a in call.args],
                       "kwargs": {k: encode_arg(v, chunks) for k, v in call.kwargs.items()}}
        self.parts, self.size = chunks.parts, chunks.size


#: Plans whose calls are wired already, by id (each entry leaves with its plan): a seed's plans come
#: back from the grader's cache for every submission that draws that seed, and so do their bytes.
_wired: dict[int, list[_WiredCall]] = {}


def wired_calls(plan: Plan) -> list[_WiredCall]:
    key = id(plan)
    if key not in _wired:
        _wired[key] = [_WiredCall(c) for c in plan.calls]
        weakref.finalize(plan, _wired.pop, key, None)
    return _wired[key]


def binary_job(cells: list[str], skip_cells: list[int], exercises: list[tuple[str, list[_WiredCall]]]) -> dict:
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


def _describe_exit(info: dict) -> str:
    if info.get("disk"):
        return f"was stopped: its files went over the disk budget ({plain(info['disk'], 100)})"
    if info.get("killed"):
        return "was stopped"
    if info.get("signal"):
        names = {9: "SIGKILL (often: out of memory)", 11: "SIGSEGV", 6: "SIGABRT", 24: "SIGXCPU (CPU time limit)",
                 25: "SIGXFSZ (file size limit)", 15: "SIGTERM"}
        return f"was killed by {names.get(info['signal'], 'signal %s' % info['signal'])}"
    return f"exited with status {info.get('exit')}"


def execute(cells: list[str], plans: dict[str, Plan], worker: Worker, budget: float | None = None) -> Execution:
    """Run ``cells`` then every plan's calls; ``budget``: seconds left of the submission's timeout
    (what reading it did not use), by default the whole ``limits.timeout``."""
    limits = worker.limits
    result = Execution(outcomes={q: {} for q in plans})
    wired = {q: wired_calls(plan) for q, plan in plans.items()}
    pending = [q for q, plan in plans.items() if plan.calls]  # exercises whose calls are still to be made
    start = time.monotonic()
    end = start + (limits.timeout if budget is None else min(limits.timeout, max(0.0, budget)))
    false_starts = 0
    # one run for each cell or function that may hang or crash, one for the rest
    most = len(cells) + sum(len({c.func for c in plan.calls}) for plan in plans.values()) + 1
    while pending:
        if time.monotonic() >= end or result.attempts > most:
            break
        result.attempts += 1
        job = binary_job(cells, sorted(result.skipped_cells),
                         [(q, [c for c in wired[q] if c.id not in result.outcomes[q]]) for q in pending])
        where: tuple[str, Any] = ("start", None)
        heard = False  # any event from the child's run_job (its first is the first cell's)
        finished = False
        running = False  # a job is in the worker: it must never be left there when we stop following it
        try:
            worker.begin(job)
            running = True
            step_end = min(end, time.monotonic() + limits.step_timeout)
            while True:
                kind, payload = worker.poll(step_end)
                if kind == "timeout":
                    running = False
                    worker.kill_job()
                    _blame(result, where, pending, plans, "timeout",
                           f"did not finish within {limits.step_timeout:g} s" if step_end < end
                           else f"the submission used up its {limits.timeout:g} s")
                    break
                if kind == "exit":
                    running = False
                    if not heard and not finished:
                        false_starts += 1
                        fatal = [n for n in result.notes if n.startswith("the worker reported")]
                        if false_starts >= 2:
                            raise JobDidNotStart(f"the sandbox's process {_describe_exit(payload)} before running "
                                                 f"anything, twice" + (f" ({fatal[-1]})" if fatal else ""))
                        result.attempts -= 1
                        worker.restart()  # a fresh zygote, whatever the last job did to this one
                        break
                    if not finished:
                        _blame(result, where, pending, plans, "crashed", f"the process {_describe_exit(payload)}")
                    break
                for ev in payload:
                    if not isinstance(ev, dict):
                        raise WireError("a frame that is not an object")
                    heard = heard or ev.get("ev") != "fatal"
                    moved, finished = _apply(ev, result, pending, plans, where, len(cells))
                    if moved is not None:
                        where = moved
                        step_end = min(end, time.monotonic() + limits.step_timeout)
        except WorkerDied as exc:
            running = False
            lost = _lost_by_grader(worker)
            worker.restart()
            if lost:
                raise SandboxLost(f"{lost} ({exc})") from None
            _blame(result, where, pending, plans, "crashed", f"the worker died ({exc})")
        except Exception as exc:
            # WireError, and anything else that the child's bytes can provoke while we decode them
            # (a RecursionError from JSON nested 100 000 deep, a TypeError from an unhashable "id"):
            # the child is killed and blamed. Letting it escape would leave the job running in the
            # warm worker: the zygote, blocked relaying that child's output, stops reading, and the
            # next submission on this worker blocks for ever writing its job (the whole batch hung).
            if not running:  # not the child's doing (the worker would not start, a bug): report it
                raise
            running = False
            worker.kill_job()
            text = plain(str(exc) if isinstance(exc, WireError) else f"{type(exc).__name__}: {str(exc)[:200]}", 300)
            _blame(result, where, pending, plans, "crashed", f"the grading channel was corrupted ({text})")
        finally:
            if running:  # interrupted (KeyboardInterrupt, a bug above): do not hand on a busy worker
                worker.restart()
        if finished:
            break
    for q in pending:  # out of time or attempts: whatever was not run is lost to the timeout
        for call in plans[q].calls:
            result.outcomes[q].setdefault(call.id, Outcome("timeout", error_message=(
                f"the submission used up its {limits.timeout:g} s before this call")))
        result.timed_out = True
    return result


def _lost_by_grader(worker: Worker) -> str | None:
    """Why a worker that died was lost on the grading side, if it was (workers that can tell: Docker's)."""
    ask = getattr(worker, "lost_by_grader", None)
    return ask() if ask is not None else None


def _apply(ev: dict, result: Execution, pending: list[str], plans: dict[str, Plan],
           where: tuple[str, Any] = ("start", None), n_cells: int | None = None) -> tuple[tuple[str, Any] | None, bool]:
    """Record one child event; return (new position or None, whether it was the last one).

    Everything here comes from the submission's process, which can write its own frames: cell
    numbers must name a cell, error reports are cut to size, and a result counts only for the
    exercise being run and only the first time (a frame sent "in advance" from a cell, or one
    that would overwrite an outcome, is ignored). Values are then checked against the answer
    key like any other, so a forged frame can lose points but not earn them. "done" counts only
    as the last event (an honest worker sends nothing after it), and "fatal" notes are few.
    """
    finished = False
    kind = ev.get("ev")
    index = ev.get("i")
    is_cell = type(index) is int and 0 <= index < (n_cells if n_cells is not None else 1 << 30)
    if kind == "cell" and is_cell:
        return ("cell", index), finished
    if kind == "cell_done" and is_cell:
        if isinstance(ev.get("error"), dict):
            error = ev["error"]
            line = error.get("line")
            result.cell_errors[index] = {"type": identifier(error.get("type")), "message": plain(error.get("message")),
                                         "line": line if type(line) is int else None}
        return None, finished
    if kind == "cells_done":
        return ("probes", None), finished
    if kind == "exercise" and ev.get("q") in pending:
        return ("exercise", ev["q"]), finished
    if kind == "call" and ev.get("q") in pending:
        return None, finished
    if kind == "result" and ev.get("q") in pending and where == ("exercise", ev.get("q")):
        q = ev["q"]
        ids = {c.id for c in plans[q].calls}
        if isinstance(ev.get("id"), str) and ev["id"] in ids and ev["id"] not in result.outcomes[q]:
            result.outcomes[q][ev["id"]] = outcome_from_record(ev)
            if len(result.outcomes[q]) == len(ids):
                pending.remove(q)
        return None, finished
    if kind == "done":
        return None, True
    if kind == "fatal" and sum(n.startswith("the worker reported") for n in result.notes) < 3:
        result.notes.append(f"the worker reported: {plain(ev.get('error'), 300)}")
    return None, finished


def _blame(result: Execution, where: tuple[str, Any], pending: list[str], plans: dict[str, Plan],
           status: str, why: str) -> None:
    """Charge a hang or crash to the cell or function that was running.

    Within an exercise the culprit is the first call still without an outcome: the child runs
    the calls in the plan's order and sends each result as soon as it has it. Every call of
    that function is charged; the exercise stays pending, so the next run grades its other
    functions without it.
    """
    kind, what = where
    if kind == "cell":
        result.skipped_cells[what] = why
        result.cell_errors[what] = {"type": "Timeout" if status == "timeout" else "Crash", "message": why,
                                    "line": None}
    elif kind == "exercise" and what in pending:
        outcomes = result.outcomes[what]
        culprit = next((c.func for c in plans[what].calls if c.id not in outcomes), None)
        for call in plans[what].calls:
            if call.func == culprit:
                outcomes.setdefault(call.id, Outcome(status, error_message=why))
        others = {c.func for c in plans[what].calls} - {culprit}
        note = f"{culprit} was stopped ({why}): its calls score 0" + (
            f"; the other functions of {what} were graded without it." if others else ".")
        earlier = result.exercise_notes.get(what)
        result.exercise_notes[what] = f"{earlier}\n{note}" if earlier else note
        if len(outcomes) == len(plans[what].calls):
            pending.remove(what)
    else:  # before the first cell or between the cells and the probes
        result.notes.append(f"the worker {why} outside any cell or exercise")
        if sum("outside any cell" in n for n in result.notes) >= 2:
            for q in list(pending):
                for call in plans[q].calls:
                    result.outcomes[q].setdefault(call.id, Outcome(status, error_message=why))
                result.exercise_notes[q] = f"the grader stopped this exercise: {why}."
                pending.remove(q)
