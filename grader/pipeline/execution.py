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

:func:`execute` is a loop of runs (``_Run.attempt``); a run follows the child
(``follow``), hands its events to :func:`apply_event` one by one, and ends on its
exit (``exited``), a deadline (``timed_out``) or a dead worker (``worker_died``);
:func:`blame` charges a hang or crash to the typed position (:class:`Where`) the
child was at. Counters, not the text of notes, say how often something happened.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from grader.core.errors import JobFailed
from grader.rubric.checks import Outcome
from grader.rubric.record import CallStatus
from grader.sandbox.outcomes import outcome_from_record
from grader.rubric.probes import Plan
from grader.sandbox.process import Limits, WorkerDied
from grader.core.text import identifier, plain
from grader.sandbox.worker.wire import WireError
# the job's encoding, named here too: the Otter plugin and the tests take them from this module
from grader.pipeline.jobs import binary_job, wire_call, wired_calls  # noqa: F401


class Worker(Protocol):
    limits: Limits

    def begin(self, job: dict) -> None: ...
    def poll(self, deadline: float) -> tuple[str, Any]: ...
    def kill_job(self) -> dict: ...
    def restart(self) -> None: ...


class Position(Enum):
    """Where the child was when it last told us: what a hang or crash is charged to (see :func:`blame`)."""

    START = "start"  # before the first cell
    CELL = "cell"  # in a notebook cell (``Where.at``: its index from 0)
    PROBES = "probes"  # after the cells, before the first exercise
    EXERCISE = "exercise"  # making an exercise's calls (``Where.at``: its id, ``q1`` ...)


@dataclass(frozen=True)
class Where:
    """A position of the child's run: its kind, and which cell or exercise."""

    kind: Position
    at: int | str | None = None


START = Where(Position.START)


@dataclass
class Execution:
    """What running a submission gave: per-call outcomes and what went wrong where.

    ``worker_reports`` counts the worker's own fatal reports noted (at most 3, the last in
    ``last_report``); ``failures_outside`` counts hangs and crashes outside any cell or exercise
    (a second one stops every exercise still pending).
    """

    outcomes: dict[str, dict[str, Outcome]] = field(default_factory=dict)
    cell_errors: dict[int, dict] = field(default_factory=dict)
    skipped_cells: dict[int, str] = field(default_factory=dict)
    exercise_notes: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    attempts: int = 0
    timed_out: bool = False
    worker_reports: int = 0
    last_report: str | None = None
    failures_outside: int = 0


class JobDidNotStart(JobFailed):
    """The worker's child died before it ran anything of the submission, twice: the sandbox is
    broken (a limit it cannot set, a uid it cannot take), not the submission. Grading it would
    score a correct notebook 0 as if it were empty; the result is an error instead."""


class SandboxLost(JobFailed):
    """The worker was lost mid-run through no doing of the submission (the Docker engine stopped or restarted,
    its container was stopped or removed from outside): the worker says so (``lost_by_grader``). Blaming the
    cell or exercise that was running would score the submission for the grader's failure; the result is
    an error instead."""


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


#: The most fatal reports of the worker kept as notes: a child can send as many as it likes.
MAX_WORKER_REPORTS = 3


def execute(cells: list[str], plans: dict[str, Plan], worker: Worker, budget: float | None = None) -> Execution:
    """Run ``cells`` then every plan's calls; ``budget``: seconds left of the submission's timeout
    (what reading it did not use), by default the whole ``limits.timeout``.

    One run after another, each without what hung or crashed the one before, until every call has
    an outcome, a run finishes, or the time or the runs allowed are used up; what was not run then
    scores as timed out.
    """
    run = _Run(cells, plans, worker, budget)
    while run.pending and not run.exhausted():
        if run.attempt():
            break
    run.time_out_the_rest()
    return run.result


@dataclass
class _Attempt:
    """The state of one run of the job, as the driver follows it."""

    where: Where = START
    heard: bool = False  # any event from the child's run_job (its first is the first cell's)
    finished: bool = False  # its last event was "done"
    running: bool = False  # a job is in the worker: it must never be left there when we stop following it
    step_end: float = 0.0  # the deadline of the cell or exercise it is in


class _Run:
    """The runs of one submission's job: what is pending, the deadlines, and the steps of one run."""

    def __init__(self, cells: list[str], plans: dict[str, Plan], worker: Worker, budget: float | None) -> None:
        self.cells, self.plans, self.worker, self.limits = cells, plans, worker, worker.limits
        self.result = Execution(outcomes={q: {} for q in plans})
        self.wired = {q: wired_calls(plan) for q, plan in plans.items()}
        self.pending = [q for q, plan in plans.items() if plan.calls]  # exercises whose calls are still to be made
        timeout = self.limits.timeout
        self.end = time.monotonic() + (timeout if budget is None else min(timeout, max(0.0, budget)))
        self.false_starts = 0
        # one run for each cell or function that may hang or crash, one for the rest
        self.most = len(cells) + sum(len({c.func for c in plan.calls}) for plan in plans.values()) + 1

    def exhausted(self) -> bool:
        """Whether the submission's time or the runs it may have are used up."""
        return time.monotonic() >= self.end or self.result.attempts > self.most

    def job(self) -> dict:
        """The job of the next run: the cells not skipped, the calls still without an outcome."""
        return binary_job(self.cells, sorted(self.result.skipped_cells),
                          [(q, [c for c in self.wired[q] if c.id not in self.result.outcomes[q]]) for q in self.pending])

    def step_deadline(self) -> float:
        return min(self.end, time.monotonic() + self.limits.step_timeout)

    def attempt(self) -> bool:
        """One run of the job; whether the child finished it."""
        self.result.attempts += 1
        now = _Attempt()
        try:
            self.worker.begin(self.job())
            now.running = True
            self.follow(now)
        except WorkerDied as exc:
            now.running = False
            self.worker_died(now, exc)
        except Exception as exc:
            # WireError, and anything else that the child's bytes can provoke while we decode them
            # (a RecursionError from JSON nested 100 000 deep, a TypeError from an unhashable "id"):
            # the child is killed and blamed. Letting it escape would leave the job running in the
            # warm worker: the zygote, blocked relaying that child's output, stops reading, and the
            # next submission on this worker blocks for ever writing its job (the whole batch hung).
            if not now.running:  # not the child's doing (the worker would not start, a bug): report it
                raise
            now.running = False
            self.worker.kill_job()
            text = plain(str(exc) if isinstance(exc, WireError) else f"{type(exc).__name__}: {str(exc)[:200]}", 300)
            self.blame(now, CallStatus.CRASHED, f"the grading channel was corrupted ({text})")
        finally:
            if now.running:  # interrupted (KeyboardInterrupt, a bug above): do not hand on a busy worker
                self.worker.restart()
        return now.finished

    def follow(self, now: _Attempt) -> None:
        """Read the child's frames until it exits or overruns the deadline of where it is."""
        now.step_end = self.step_deadline()
        while True:
            kind, payload = self.worker.poll(now.step_end)
            if kind == "timeout":
                now.running = False
                self.worker.kill_job()
                self.timed_out(now)
                return
            if kind == "exit":
                now.running = False
                self.exited(now, payload)
                return
            self.process_frames(now, payload)

    def process_frames(self, now: _Attempt, events: list) -> None:
        """Record the child's events; each move to a cell or an exercise starts its own deadline."""
        for ev in events:
            if not isinstance(ev, dict):
                raise WireError("a frame that is not an object")
            now.heard = now.heard or ev.get("ev") != "fatal"
            moved, now.finished = apply_event(ev, self.result, self.pending, self.plans, now.where, len(self.cells))
            if moved is not None:
                now.where = moved
                now.step_end = self.step_deadline()

    def timed_out(self, now: _Attempt) -> None:
        step = now.step_end < self.end
        self.blame(now, CallStatus.TIMEOUT, f"did not finish within {self.limits.step_timeout:g} s" if step
                   else f"the submission used up its {self.limits.timeout:g} s")

    def exited(self, now: _Attempt, info: Any) -> None:
        """The child exited: finished, crashed where it was, or died before it ran anything (a false start:
        once is tried again in a fresh zygote, whatever the last job did to this one; twice is the sandbox's
        failure, :class:`JobDidNotStart`)."""
        how = _describe_exit(info)
        if not now.heard and not now.finished:
            self.false_starts += 1
            if self.false_starts >= 2:
                last = self.result.last_report
                raise JobDidNotStart(f"the sandbox's process {how} before running anything, twice"
                                     + (f" ({last})" if last else ""), detail=how)
            self.result.attempts -= 1
            self.worker.restart()
        elif not now.finished:
            self.blame(now, CallStatus.CRASHED, f"the process {how}")

    def worker_died(self, now: _Attempt, exc: WorkerDied) -> None:
        """The worker itself is gone: lost on the grading side (:class:`SandboxLost`), or the child's doing."""
        lost = _lost_by_grader(self.worker)
        self.worker.restart()
        if lost:
            raise SandboxLost(f"{lost} ({exc})", detail=lost) from None
        self.blame(now, CallStatus.CRASHED, f"the worker died ({exc})")

    def blame(self, now: _Attempt, status: CallStatus, why: str) -> None:
        blame(self.result, now.where, self.pending, self.plans, status, why)

    def time_out_the_rest(self) -> None:
        """Out of time or runs: whatever was not run is lost to the timeout."""
        for q in self.pending:
            for call in self.plans[q].calls:
                self.result.outcomes[q].setdefault(call.id, Outcome(CallStatus.TIMEOUT, error_message=(
                    f"the submission used up its {self.limits.timeout:g} s before this call")))
            self.result.timed_out = True


def _lost_by_grader(worker: Worker) -> str | None:
    """Why a worker that died was lost on the grading side, if it was (workers that can tell: Docker's)."""
    ask = getattr(worker, "lost_by_grader", None)
    return ask() if ask is not None else None


def apply_event(ev: dict, result: Execution, pending: list[str], plans: dict[str, Plan], where: Where = START,
                n_cells: int | None = None) -> tuple[Where | None, bool]:
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
        return Where(Position.CELL, index), finished
    if kind == "cell_done" and is_cell:
        if isinstance(ev.get("error"), dict):
            error = ev["error"]
            line = error.get("line")
            result.cell_errors[index] = {"type": identifier(error.get("type")), "message": plain(error.get("message")),
                                         "line": line if type(line) is int else None}
        return None, finished
    if kind == "cells_done":
        return Where(Position.PROBES), finished
    if kind == "exercise" and ev.get("q") in pending:
        return Where(Position.EXERCISE, ev["q"]), finished
    if kind == "call" and ev.get("q") in pending:
        return None, finished
    if kind == "result" and ev.get("q") in pending and where == Where(Position.EXERCISE, ev.get("q")):
        q = ev["q"]
        ids = {c.id for c in plans[q].calls}
        if isinstance(ev.get("id"), str) and ev["id"] in ids and ev["id"] not in result.outcomes[q]:
            result.outcomes[q][ev["id"]] = outcome_from_record(ev)
            if len(result.outcomes[q]) == len(ids):
                pending.remove(q)
        return None, finished
    if kind == "done":
        return None, True
    if kind == "fatal" and result.worker_reports < MAX_WORKER_REPORTS:
        result.last_report = f"the worker reported: {plain(ev.get('error'), 300)}"
        result.notes.append(result.last_report)
        result.worker_reports += 1
    return None, finished


#: The name ``tests/reports/test_inert.py`` imports (the injection tests stay as they are).
_apply = apply_event


def blame(result: Execution, where: Where, pending: list[str], plans: dict[str, Plan], status: CallStatus,
          why: str) -> None:
    """Charge a hang or crash to the cell or function that was running.

    Within an exercise the culprit is the first call still without an outcome: the child runs
    the calls in the plan's order and sends each result as soon as it has it. Every call of
    that function is charged; the exercise stays pending, so the next run grades its other
    functions without it. Outside any cell or exercise, a second failure stops every exercise
    still pending.
    """
    if where.kind is Position.CELL:
        result.skipped_cells[where.at] = why
        result.cell_errors[where.at] = {"type": "Timeout" if status == CallStatus.TIMEOUT else "Crash",
                                        "message": why, "line": None}
    elif where.kind is Position.EXERCISE and where.at in pending:
        _blame_function(result, where.at, pending, plans[where.at], status, why)
    else:  # before the first cell or between the cells and the probes
        result.notes.append(f"the worker {why} outside any cell or exercise")
        result.failures_outside += 1
        if result.failures_outside >= 2:
            _stop_pending(result, pending, plans, status, why)


def _stop_pending(result: Execution, pending: list[str], plans: dict[str, Plan], status: CallStatus, why: str) -> None:
    """Every call still without an outcome gets ``status``; every exercise still pending is stopped, and says so."""
    for q in list(pending):
        for call in plans[q].calls:
            result.outcomes[q].setdefault(call.id, Outcome(status, error_message=why))
        result.exercise_notes[q] = f"the grader stopped this exercise: {why}."
        pending.remove(q)


def _blame_function(result: Execution, q: str, pending: list[str], plan: Plan, status: CallStatus, why: str) -> None:
    """Every call of the function that was running in exercise ``q`` gets ``status``; a note says so."""
    outcomes = result.outcomes[q]
    culprit = next((c.func for c in plan.calls if c.id not in outcomes), None)
    for call in plan.calls:
        if call.func == culprit:
            outcomes.setdefault(call.id, Outcome(status, error_message=why))
    others = {c.func for c in plan.calls} - {culprit}
    note = f"{culprit} was stopped ({why}): its calls score 0" + (
        f"; the other functions of {q} were graded without it." if others else ".")
    earlier = result.exercise_notes.get(q)
    result.exercise_notes[q] = f"{earlier}\n{note}" if earlier else note
    if len(outcomes) == len(plan.calls):
        pending.remove(q)
