"""The autograder zip's entry point: Otter's run, with a results.json for every submission.

``run_otter.py`` in the zip built by ``assignments/build.py`` calls :func:`main`
(on Gradescope and inside ``otter grade``'s containers). Otter-Grader's own
entry point leaves the student with "autograder failed" in three cases this
module handles first:

* Otter 7.0.0's grading Dockerfile (``otter grade``) leaves an empty
  ``/autograder/submission_metadata.json`` (``touch``), which its Python runner
  ``json.load``s whenever plugins are configured: every submission fails with
  ``JSONDecodeError``. An empty or unreadable file is replaced by ``{}``
  (Gradescope always writes a real one, which is left alone).
* A submission that is missing, empty, too large, not JSON or not a notebook
  made Otter raise before any results were written. It gets a results.json
  with score 0 and the message the engine gives (what is wrong, how to fix it).
* Any other failure of Otter still ends in a results.json saying so.

Where this project's plugin is the only one and does not ask for Otter's own run of the notebook
(``execute_in_otter``, off by default), Otter's kernel would only execute the plugin's empty
notebook and the hidden tests against nothing, results the plugin then throws away: that run (a
Jupyter kernel start, the hidden tests' answer keys built once more) is skipped
(:func:`grade_without_kernel`), which makes each submission seconds faster under ``otter grade``.

Every run prints one ``activation-grader-timings`` line (JSON: seconds of its steps) to stdout,
which Gradescope keeps from students and ``make bench`` reads from ``otter grade -vv``'s log.

Every results.json it leaves has ``status`` and ``output_format`` on every test
(:func:`complete_gradescope_fields`). For ``otter grade``, which reads
``results.pkl`` rather than results.json, a failure is also written there as
Otter's own "no results" object, so ``final_grades.csv`` carries the message.
"""
from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Mapping

from grader.core.errors import GraderError

#: Otter's rule for the file it grades: the one .ipynb, else the one .py.
GRADABLE = (".ipynb", ".py")
IGNORED = {"__init__.py"}
#: Seconds of this process's steps (the plugin adds ``plugin``); printed by :func:`main`.
TIMINGS: dict[str, float] = {}
TIMINGS_MARK = "activation-grader-timings"
PLUGIN_MODULE = "grader.interfaces.otter_plugin"  # (by name: that module imports this one)
#: The names a config gives the plugin: the public one (``grader.otter_plugin``), then its module's.
PLUGIN_NAMES = ("grader.otter_plugin.ActivationGraderPlugin", f"{PLUGIN_MODULE}.ActivationGraderPlugin")


class Unreadable(GraderError):
    """A submission that cannot be graded, with a message the student can act on."""


# --- results.json ------------------------------------------------------------------------------------
def complete_gradescope_fields(results: dict) -> dict:
    """Set ``status`` and ``output_format`` (plain text: nothing a student wrote is interpreted) everywhere."""
    for test in results.get("tests", []):
        if "status" not in test:
            if "score" in test and "max_score" in test:
                test["status"] = "passed" if test["score"] >= test["max_score"] else "failed"
            else:
                test["status"] = "failed" if "fail" in str(test.get("name", "")).lower() else "passed"
        test.setdefault("output_format", "text")
    results.setdefault("output_format", "text")
    results.setdefault("test_output_format", "text")
    return results


#: What a refusal to grade below the required isolation says (see :func:`not_isolated_message`).
NOT_ISOLATED = "could not be isolated"


def not_isolated_message(reason: str) -> str:
    """The whole of results.json's message when the grading machine cannot give the isolation the
    configuration requires: the student learns that nothing of theirs was run; the instructor what
    is missing and how to lower the requirement, knowingly."""
    return (f"This submission {NOT_ISOLATED} on this grading machine, so none of it was run and it scores 0; "
            "this is not a problem with your work. For the instructor: " + reason.rstrip(".") + ". The "
            "autograder requires at least `uid` isolation (student code as a uid of its own, with seccomp and "
            "file permissions; see activation-grader's docs/sandboxes.md). Grade where that is available, or "
            "lower the requirement explicitly with `require_isolation: landlock` (or `none`) in the "
            "ActivationGraderPlugin's options of the assignment config (otter_config.json in the zip) and "
            "rebuild the zip: below `uid`, student code may read the answer keys.")


def failure_results(message: str, possible: float = 100.0, prefix: str = "This submission could not be graded: ") -> dict:
    """Score 0 and ``message`` for a submission that could not be graded."""
    text = f"{prefix}{message}"
    return complete_gradescope_fields({
        "score": 0, "output": text, "visibility": "visible", "stdout_visibility": "hidden",
        "tests": [{"name": "Submission", "score": 0, "max_score": possible, "status": "failed",
                   "visibility": "visible", "output": text}]})


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=4, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


def _write_failure_pickle(results_dir: Path, message: str) -> None:
    """Otter's "no results" object for ``otter grade`` (it unpickles results.pkl, not results.json)."""
    try:
        import dill
        from otter.run.run_autograder.utils import OtterRuntimeError
        from otter.test_files import GradingResults
    except ImportError:  # pragma: no cover - Otter is always there when its zip runs
        return
    with open(results_dir / "results.pkl", "wb") as f:
        dill.dump(GradingResults.without_results(OtterRuntimeError(message)), f)


# --- before Otter: metadata and the submission --------------------------------------------------------
def repair_metadata(autograder_dir: Path) -> bool:
    """Write ``{}`` over an empty or unreadable submission_metadata.json; True if it did."""
    path = autograder_dir / "submission_metadata.json"
    try:
        json.loads(path.read_text(encoding="utf-8"))
        return False
    except FileNotFoundError:
        pass
    except (OSError, ValueError):
        pass
    path.write_text("{}\n", encoding="utf-8")
    return True


def find_submission(submission_dir: Path) -> Path:
    """The file Otter will grade, or :class:`Unreadable` saying what to upload."""
    files = sorted(p for p in submission_dir.iterdir() if p.is_file() and not p.name.startswith("."))
    notebooks = [p for p in files if p.suffix == ".ipynb"]
    scripts = [p for p in files if p.suffix == ".py" and p.name not in IGNORED]
    if len(notebooks) > 1:
        raise Unreadable(f"{len(notebooks)} notebooks were submitted ({', '.join(p.name for p in notebooks)}): "
                         "submit only activations.ipynb.")
    if notebooks:
        return notebooks[0]
    if len(scripts) > 1:
        raise Unreadable(f"{len(scripts)} Python files were submitted and no notebook: submit activations.ipynb.")
    if scripts:
        return scripts[0]
    names = ", ".join(p.name for p in files) or "nothing"
    raise Unreadable(f"no notebook (.ipynb) was found in the submission (received: {names}): in Jupyter, "
                     "save your work, then submit the file activations.ipynb itself (not a PDF, zip or export).")


def validate_submission(path: Path) -> None:
    """Raise :class:`Unreadable` for a file the engine would refuse (empty, too large, not a notebook)."""
    from grader.pipeline.notebook import MAX_BYTES, SubmissionError, load

    content = path.read_bytes()
    if len(content) <= MAX_BYTES and not content.strip():
        raise Unreadable(f"{path.name} is empty ({len(content)} bytes): in Jupyter, save the notebook "
                         "(File > Save) and submit it again.")
    try:
        load(path.name, content)
    except SubmissionError as exc:
        message = exc.message
        if not any(word in message.lower() for word in ("save", "download", "clear")):
            message += (" Submit the notebook as Jupyter saves it: File > Save, then upload activations.ipynb "
                        "itself (not an export or a copy of its text).")
        raise Unreadable(f"{path.name}: {message}") from None


# --- the plugin's options, and its worker started early ----------------------------------------------
def plugin_options(config: Mapping[str, Any]):
    """The grading options of the plugin's config (``otter_config.json``, under ``plugins:``).

    The seed secret is the config key ``seed_secret``, else the environment variable (set on the
    grading host, it stays out of the autograder's files); empty means none, as
    ``activation-grader grade --seed-secret`` takes it. The student's process never sees it (its
    environment is built from scratch). The keys and their checks are those of
    ``grader.pipeline.settings`` (an unknown key or a bad value: :class:`~grader.pipeline.settings.SettingError`)."""
    from grader.pipeline.settings import plugin_values
    from grader.pipeline.tasks import options_from

    return options_from(plugin_values(config))


def prestart_worker(autograder_dir: Path) -> bool:
    """Launch the plugin's sandbox worker now, so that it starts while Otter is imported (seconds).

    The plugin's grading then finds it warm (``grader.pipeline.warm``: same options, same process). Nothing
    happens without the plugin in ``otter_config.json``; any problem is left for the plugin to
    meet and report. True if a worker was launched."""
    try:
        config = json.loads((autograder_dir / "source" / "otter_config.json").read_text(encoding="utf-8"))
        entries = [e[name] for e in config.get("plugins") or [] if isinstance(e, dict)
                   for name in PLUGIN_NAMES if name in e]
        if not entries:
            return False
        from grader.sandbox.isolation import protect_installation
        from grader.pipeline.warm import prestart

        protect_installation()  # before anything else of the grader runs, as the plugin does
        prestart(plugin_options(entries[0] or {}))
        return True
    except Exception:  # noqa: BLE001 - the plugin starts its worker itself and says what is wrong
        return False


# --- Otter's kernel, only where it is of use ---------------------------------------------------------
def _only_plugin_without_kernel(plugin_collection: Any) -> bool:
    """True if every configured plugin is this project's and none asks for Otter's run of the notebook."""
    plugins = list(getattr(plugin_collection, "_plugins", None) or [])
    return bool(plugins) and all(type(p).__module__ == PLUGIN_MODULE and getattr(p, "execute_in_otter", True) is False
                                 for p in plugins)


def grade_without_kernel(original: Any) -> Any:
    """Otter's ``grade_notebook``, except that it starts no kernel when the plugin's results replace Otter's."""
    def grade_notebook(submission_path: str, *, plugin_collection: Any = None, **kwargs: Any):
        start = time.perf_counter()
        try:
            if plugin_collection is None or not _only_plugin_without_kernel(plugin_collection):
                return original(submission_path, plugin_collection=plugin_collection, **kwargs)
            import nbformat
            from otter.test_files import GradingResults

            results = GradingResults([], notebook=nbformat.v4.new_notebook())
            plugin_collection.run("after_grading", results)
            return results
        finally:
            TIMINGS["otter_execution"] = time.perf_counter() - start

    grade_notebook._activation_grader = True  # type: ignore[attr-defined]
    return grade_notebook


def _skip_useless_kernel() -> None:
    from otter.run.run_autograder.runners import python_runner

    if not getattr(python_runner.grade_notebook, "_activation_grader", False):
        python_runner.grade_notebook = grade_without_kernel(python_runner.grade_notebook)


# --- the run ------------------------------------------------------------------------------------------
def main(autograder_dir: str = "/autograder", started: float | None = None, **otter_kwargs: Any) -> int:
    """Grade the submission under ``autograder_dir`` with Otter; always leave a results.json. Returns 0.

    ``started``: the ``time.perf_counter()`` of the caller's first line, for the timings."""
    begin = time.perf_counter()
    TIMINGS.clear()
    TIMINGS["start"] = begin - started if started is not None else 0.0
    prestarted = prestart_worker(Path(autograder_dir))
    TIMINGS["prestart"] = time.perf_counter() - begin
    try:
        return _main(autograder_dir, **otter_kwargs)
    finally:
        if prestarted:
            from grader.pipeline.warm import close_workers

            close_workers()
        TIMINGS["total"] = time.perf_counter() - (started if started is not None else begin)
        TIMINGS["cpu"] = time.process_time()  # this process's CPU since it started (not the worker's)
        if autograder_dir == "/autograder":  # a grading container's own cgroup: every process in it
            cgroup = _cgroup_cpu()
            if cgroup is not None:
                TIMINGS["container_cpu"] = cgroup
        print(f"{TIMINGS_MARK} {json.dumps({k: round(v, 3) for k, v in TIMINGS.items()})}", flush=True)


def _cgroup_cpu() -> float | None:
    """CPU seconds of this process's cgroup (cgroup v2, else v1's cpuacct), or None."""
    try:
        for line in Path("/sys/fs/cgroup/cpu.stat").read_text().splitlines():
            if line.startswith("usage_usec "):
                return int(line.split()[1]) / 1e6
    except (OSError, ValueError):
        pass
    try:
        return int(Path("/sys/fs/cgroup/cpuacct/cpuacct.usage").read_text()) / 1e9
    except (OSError, ValueError):
        return None


def _main(autograder_dir: str, **otter_kwargs: Any) -> int:
    root = Path(autograder_dir)
    results_dir = root / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    results_json = results_dir / "results.json"
    if repair_metadata(root):
        print("submission_metadata.json was empty or unreadable (Otter 7.0.0's `otter grade` image leaves it "
              "empty): replaced by {}", file=sys.stderr)
    try:
        submission = find_submission(root / "submission")
        validate_submission(submission)
    except Unreadable as exc:
        _write_json(results_json, failure_results(str(exc)))
        _write_failure_pickle(results_dir, str(exc))
        print(f"not graded: {exc}", file=sys.stderr)
        return 0

    set_aside_other_files(submission)
    mark = time.perf_counter()
    from otter.run.run_autograder import main as run_autograder

    _skip_useless_kernel()
    TIMINGS["otter_import"] = time.perf_counter() - mark
    if results_json.exists():
        results_json.unlink()
    private_startup_dirs()
    mark = time.perf_counter()
    try:
        run_autograder(str(root), **otter_kwargs)
    except BaseException as exc:  # noqa: BLE001 - whatever Otter raised, the student gets a result
        traceback.print_exc()
        if NOT_ISOLATED in str(exc):  # the plugin refused to grade: its message, as it is
            message = str(exc)[str(exc).index("This submission " + NOT_ISOLATED):]
            _write_json(results_json, failure_results(message, prefix=""))
            _write_failure_pickle(results_dir, message)
            return 0
        message = (f"the autograder stopped with {type(exc).__name__}: {exc}. This is not a problem with your "
                   "code as far as the autograder can tell; tell your instructor.")
        previous = _read(results_json)
        if previous is None or previous.get("score") in (None, 0) and not _has_scores(previous):
            _write_json(results_json, failure_results(message))
            _write_failure_pickle(results_dir, message)
            return 0
    finally:
        TIMINGS["otter"] = time.perf_counter() - mark
    results = _read(results_json)
    if results is None:
        message = "the autograder finished without writing results; tell your instructor."
        _write_json(results_json, failure_results(message))
        _write_failure_pickle(results_dir, message)
        return 0
    _write_json(results_json, complete_gradescope_fields(results))
    return 0


def set_aside_other_files(submission: Path) -> list[str]:
    """Move every other entry of the submission's directory into a sibling directory of the grader's
    (mode 0700, ``<directory>-other-files``): Otter's kernel runs with the submission's directory as
    its working directory, first on its import path, so a submitted ``otter.py``, ``dill.py`` or
    ``numpy.py`` would be imported there, with the grader's rights. The graded file alone stays (the
    engine grades that file, and nothing else of the upload). Returns the names moved."""
    directory = submission.parent
    others = sorted(p for p in directory.iterdir() if p.name != submission.name)
    if not others:
        return []
    aside = directory.parent / f"{directory.name}-other-files"
    aside.mkdir(mode=0o700, exist_ok=True)
    os.chmod(aside, 0o700)
    for path in others:
        os.replace(path, aside / path.name)
    return [p.name for p in others]


#: Where IPython, Jupyter and matplotlib look for start-up code and configuration in Otter's own
#: kernel and processes, which run with the grader's rights after the submission was graded.
STARTUP_VARIABLES = {"IPYTHONDIR": "ipython", "JUPYTER_CONFIG_DIR": "jupyter-config",
                     "JUPYTER_DATA_DIR": "jupyter-data", "JUPYTER_RUNTIME_DIR": "jupyter-runtime",
                     "MPLCONFIGDIR": "matplotlib"}


def private_startup_dirs() -> str:
    """Point Otter's kernel and processes at fresh directories of the grader's own (mode 0700) for
    their start-up files and configuration, and off the user site: none of them then reads a place
    that student code could have written to, whatever the home directory is. Returns the base."""
    import tempfile

    base = tempfile.mkdtemp(prefix="otter-private-")
    for variable, name in STARTUP_VARIABLES.items():
        os.environ[variable] = os.path.join(base, name)
    os.environ["PYTHONNOUSERSITE"] = "1"
    return base


def _read(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _has_scores(results: dict) -> bool:
    return any("score" in t for t in results.get("tests", []))
