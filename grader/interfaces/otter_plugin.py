"""Otter-Grader integration: the hidden tests' checks and a plugin that regrades with this engine.

Two pieces, used at two different places of an ``otter run`` (or of Otter on
Gradescope):

* :func:`check_criterion` runs inside Otter's notebook kernel. Each hidden test
  case of the assignment calls it for one criterion of one exercise, so a
  question's Otter score is the sum of the criteria it passes, exactly as this
  grader scores the exercise. It builds the exercise's plan (seed
  :data:`KERNEL_SEED`) and calls the student's functions in that kernel,
  through the same plain-data encoding the sandboxed worker uses. It is only
  as trustworthy as that kernel: the student's code ran there first and can
  patch NumPy, Otter or this module.

* :class:`ActivationGraderPlugin` runs in Otter's grading process (the one that
  reads ``otter_config.json`` and writes ``results.json``). Before Otter runs
  anything of the submission it grades the submitted file with
  :func:`grader.pipeline.grading.grade`, which executes the student's code in an isolated
  worker, and keeps that record. It then hands Otter an empty notebook instead
  of the student's (Otter's kernel runs in the grading process's trust domain,
  and Otter unpickles what that kernel writes), and after Otter's tests it
  replaces every question's test cases with the record's criteria. So the
  scores in ``results.json`` are this engine's, whatever the notebook does.

Register the plugin in the assignment config::

    plugins:
      - grader.otter_plugin.ActivationGraderPlugin:
          isolation: auto        # root | userns | uid | landlock | none (see grader.sandbox.isolation)
          require_isolation: uid # refuse to grade where the isolation is weaker (the zip's default)

Other keys: ``seed`` (default: derived from the file's content, as
``activation-grader grade`` does), ``seed_secret`` (default: the environment
variable ``ACTIVATION_GRADER_SEED_SECRET``; as ``grade --seed-secret``, each
submission's seed is drawn from a pool by a keyed hash of its content, and
``seed`` wins over it), ``timeout``, ``step_timeout``,
``memory_mb``, ``sandbox`` (``process`` or ``docker``) and
``execute_in_otter`` (default false; true lets Otter run the student's notebook
in its kernel as usual, for its outputs, while the scores still come from the
engine; only for trusted submissions, see above). The keys, their defaults and
their limits are declared once, with the command line's, in
:data:`grader.pipeline.settings.SETTINGS`; a key that is not one of them, or a
value out of its limits, stops the grading with a message that names it.
"""
from __future__ import annotations

import os
import time
from typing import Any, Mapping

import numpy as np

from grader.sandbox.worker.calls import run_call
from grader.rubric.checks import Outcome
from grader.rubric.runner import run_criteria
from grader.pipeline.execution import wire_call
from grader.rubric.exercises import EXERCISES
from grader.pipeline.grading import grade_submission
from grader.pipeline.settings import SettingError, plugin_value
from grader.pipeline.tasks import Options
from grader.pipeline.warm import close_workers, get_worker
from grader.interfaces.otter_gradescope import TIMINGS, complete_gradescope_fields, not_isolated_message, plugin_options
from grader.sandbox.outcomes import outcome_from_record
from grader.sandbox.isolation import IsolationUnavailable, describe_isolation, protect_installation, require
from grader.rubric.record import CriterionRecord, SubmissionRecord

try:  # the hidden tests need only check_criterion; the plugin class needs Otter
    from otter.plugins import AbstractOtterPlugin
except ImportError:  # pragma: no cover - Otter is an optional dependency
    AbstractOtterPlugin = object  # type: ignore[misc,assignment]

#: The seed of the inputs the hidden tests use in Otter's kernel.
KERNEL_SEED = 0

PLUGIN_NAME = "grader.otter_plugin.ActivationGraderPlugin"  # its public name (grader/otter_plugin.py), as configs give it
STALE = ("this autograder was built for another version of the grader's checks ({what}); rebuild it "
         "with `python assignments/build.py --sync`")


# --- inside Otter's kernel: one hidden test case = one criterion -------------------------------------
_cache: dict[str, tuple] = {}


def _outcomes(env: Mapping[str, Any], exercise: str, seed: int):
    """The exercise's plan and the outcomes of its calls on the functions in ``env`` (cached)."""
    ex = EXERCISES[exercise]
    functions = tuple(env.get(name) for name in ex.names)
    cached = _cache.get(exercise)
    if cached is not None and cached[0] == seed and all(a is b for a, b in zip(cached[1], functions)):
        return cached[2], cached[3]
    with np.errstate(all="ignore"):
        plan = ex.plan(seed)
    outcomes: dict[str, Outcome] = {c.id: outcome_from_record(run_call(env, wire_call(c))) for c in plan.calls}
    _cache[exercise] = (seed, functions, plan, outcomes)
    return plan, outcomes


def check_criterion(env: Mapping[str, Any], exercise: str, index: int, name: str | None = None,
                    seed: int = KERNEL_SEED) -> None:
    """Pass if the functions in ``env`` meet criterion ``index`` of ``exercise``; else AssertionError."""
    if exercise not in EXERCISES:
        raise AssertionError(STALE.format(what=f"no exercise {exercise}"))
    criteria = EXERCISES[exercise].criteria
    if index >= len(criteria) or (name is not None and criteria[index].name != name):
        raise AssertionError(STALE.format(what=f"{exercise} criterion {index + 1} is not {name!r}"))
    plan, outcomes = _outcomes(env, exercise, seed)
    (result,) = run_criteria([criteria[index]], plan, outcomes)
    if not result.passed:
        raise AssertionError(result.message)


# --- in Otter's grading process: regrade with the engine ---------------------------------------------
def _otter_error(message: str) -> Exception:
    try:
        from otter.run.run_autograder.utils import OtterRuntimeError
    except ImportError:  # pragma: no cover
        return RuntimeError(message)
    return OtterRuntimeError(message)


def isolated(options: Options) -> None:
    """Start this process's worker and hold it to ``options.require_isolation``: raises
    :class:`IsolationUnavailable` where the machine cannot give it (grading then reuses the worker)."""
    worker = get_worker(options)
    if options.sandbox == "process":  # a container is at the top already
        require(getattr(worker, "info", {}).get("isolation") or "none", options.require_isolation)


class ActivationGraderPlugin(AbstractOtterPlugin):
    """Scores every question with activation-grader's sandboxed engine (see the module docstring)."""

    def __init__(self, submission_path, submission_metadata, plugin_config):
        super().__init__(submission_path, submission_metadata, plugin_config or {})
        self.record: SubmissionRecord | None = None

    # -- configuration: the keys and their checks are grader.pipeline.settings' ----------------------------
    def _options(self) -> Options:
        return plugin_options(self.plugin_config or {})

    @property
    def execute_in_otter(self) -> bool:
        return bool(plugin_value(self.plugin_config or {}, "execute_in_otter"))

    # -- events ---------------------------------------------------------------------------------------
    def before_grading(self, config):
        """Grade the submitted file before anything of it runs in Otter's kernel."""
        if getattr(config, "grade_from_log", False):
            raise _otter_error(f"{PLUGIN_NAME} cannot be used with grade_from_log: the log would be unpickled "
                               "in the grading process")
        path = self.submission_path
        # Otter would unpickle a submitted .OTTER_LOG in this process (to compare scores with it)
        log = os.path.join(os.path.dirname(path), ".OTTER_LOG")
        if os.path.lexists(log):
            os.remove(log)
        with open(path, "rb") as f:
            content = f.read()
        start = time.perf_counter()
        protect_installation()
        try:
            options = self._options()
        except SettingError as exc:  # an unknown key or a bad value: nothing is graded with a guess
            raise _otter_error(f"{PLUGIN_NAME}: {exc.message}") from exc
        try:
            isolated(options)
        except IsolationUnavailable as exc:  # never a silent grade below the requirement
            close_workers()
            raise _otter_error(not_isolated_message(str(exc))) from exc
        try:
            self.record = grade_submission(os.path.basename(path), content, options)
        except Exception as exc:
            raise _otter_error(f"activation-grader could not grade {os.path.basename(path)}: "
                               f"{type(exc).__name__}: {exc}") from exc
        finally:
            close_workers()
            TIMINGS["plugin"] = time.perf_counter() - start

    def before_execution(self, submission):
        """Unless configured otherwise, Otter's kernel runs an empty notebook, not the student's code."""
        if self.execute_in_otter:
            return submission
        import nbformat

        return nbformat.v4.new_notebook(metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"}})

    def after_grading(self, results):
        """Replace every question's test cases and results with the engine's criteria."""
        if self.record is None:
            raise _otter_error(f"{PLUGIN_NAME}: no grading record (before_grading did not run)")
        from otter.test_files import TestCaseResult
        from otter.test_files.abstract_test import TestCase
        from otter.test_files.exception_test import ExceptionTestFile

        record = self.record
        files = {}
        for q, ex in record.exercises.items():
            cases, outcomes = [], []
            criteria = ex.criteria or (CriterionRecord("not graded", ex.score, ex.max_score, ex.feedback),)
            for c in criteria:
                case = TestCase(name=f"{q}: {c.name}", body=None, hidden=False, points=c.max_points,
                                success_message=None, failure_message=None)
                message = "✅ Test case passed" if c.passed else f"❌ Test case failed\n{c.message}".rstrip()
                cases.append(case)
                outcomes.append(TestCaseResult(test_case=case, message=message, passed=c.passed))
            title = f"{q}: {ex.title}" if ex.title else q
            test_file = ExceptionTestFile(title, f"tests/{q}.py", cases, all_or_nothing=False)
            test_file.test_case_results = outcomes
            if abs(test_file.score - ex.score) > 1e-9:  # partial points within a criterion
                test_file.update_score(ex.score)
            files[q] = test_file
        results.results = files
        # The engine's record stands even where Otter's own run of the notebook failed to give results
        otter_failure = results.catastrophic_error
        results._catastrophic_error = None
        output = self._summary()
        if otter_failure is not None and self.execute_in_otter:
            output += f"\n(Otter's own run of the notebook gave no results: {type(otter_failure).__name__}.)"
        results.set_output(output)
        results.set_plugin_data(PLUGIN_NAME, record.to_dict())  # plain data: unpickled where grader may be absent
        _complete_results_json()

    def generate_report(self):
        return self._summary() if self.record is not None else f"{PLUGIN_NAME}: no grading record"

    def _summary(self) -> str:
        return grading_summary(self.record)


def grading_summary(record: SubmissionRecord) -> str:
    """The top-level output of results.json: the total, then everything about the notebook as a whole
    (cells skipped or timed out, cells that raised, notes) that no single question's output shows."""
    prov = record.provenance
    isolation = str(prov.isolation or "none")
    lines = [f"Graded by activation-grader {prov.grader_version or ''} (worker isolation: "
             f"{isolation}, seed {prov.seed}): "
             f"{record.score:g} / {record.possible:g} ({record.status}).",
             f"Isolation: {describe_isolation(isolation)}."]
    if record.message:
        lines.append(record.message)
    for s in record.cells.skipped:
        lines.append(f"- cell {s.cell} was skipped: it {s.why}; the rest of the notebook ran without it.")
    skipped_cells = {s.cell for s in record.cells.skipped}
    for err in record.cells.errors:
        if err.type == "Timeout" and err.cell in skipped_cells:
            continue  # said above
        where = f"cell {err.cell}" + (f", line {err.line}" if err.line else "")
        what = "timed out" if err.type == "Timeout" else f"raised {err.type}"
        lines.append(f"- {where} {what}: {err.message}")
    for note in record.notes:
        lines.append(f"- note: {note}")
    for q, ex in record.exercises.items():
        for line in (ex.note or "").splitlines():  # a function that hung or crashed the process, by name
            lines.append(f"- {q}: {line}")
        slow = [c for c in ex.criteria if "did not finish" in c.message]
        if slow:
            lines.append(f"- {q}: {len(slow)} of {len(ex.criteria)} criteria failed because a call "
                         "did not finish in time (look for an endless loop or a very slow computation)")
    return "\n".join(lines)


def _complete_results_json() -> None:
    """Make Otter's results.json carry ``status`` and ``output_format`` on every test (Otter 7 sets neither).

    Otter builds results.json from the results object after the plugins ran, with no hook in between,
    so this wraps ``GradingResults.to_gradescope_dict`` of the running process once (results that this
    plugin did not grade are left as Otter made them). Nothing is stored on the results object itself:
    ``otter grade`` unpickles it on the host, where this package may not be installed.
    """
    from otter.test_files import GradingResults

    original = GradingResults.to_gradescope_dict
    if getattr(original, "_activation_grader", False):
        return

    def to_gradescope_dict(self, ag_config):
        out = original(self, ag_config)
        if PLUGIN_NAME in (getattr(self, "_plugin_data", None) or {}):
            complete_gradescope_fields(out)
        return out

    to_gradescope_dict._activation_grader = True  # type: ignore[attr-defined]
    GradingResults.to_gradescope_dict = to_gradescope_dict  # type: ignore[method-assign]
