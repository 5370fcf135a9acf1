"""How a submission is executed: Jupyter's semantics, reproducibility, and isolation between jobs.

Submissions are graded for real (``grade()`` with small limits, in the sandbox
this machine offers). What a cell observes comes back as the message of an
exception it raises: ``record["cells"]["errors"]``.
"""
from __future__ import annotations

import json
import os
import textwrap

import numpy as np
import pytest

from grader.pipeline.grading import grade
from grader.pipeline.tasks import Options
from grader.pipeline.plans import build_plans
from grader.pipeline.warm import close_workers, get_worker
from grader.sandbox.isolation import allowed_paths
from grader.sandbox.process import ETC, Limits

from conftest import ROOT
from variants import solution_cells

OPTIONS = Options(limits=Limits(timeout=20, step_timeout=3, memory_bytes=1024**3))

Q1 = solution_cells("sigmoid", "sigmoid_derivative", "tanh_derivative")  # q1 alone, from the solution
WRONG_Q1 = """
import numpy as np


def sigmoid(x):
    return np.tanh(x)


def sigmoid_derivative(x):
    return np.tanh(x)


def tanh_derivative(x):
    return np.tanh(x)
"""


@pytest.fixture(scope="module", autouse=True)
def _workers():
    yield
    close_workers()


def run(cells: list[str], options: Options = OPTIONS, name: str = "submission.py") -> dict:
    content = "".join(f"# %%\n{textwrap.dedent(c).strip()}\n\n" for c in cells).encode()
    return grade({"name": name, "content": content, "options": options.to_dict()})


def q1(record: dict) -> float:
    return record["exercises"]["q1"]["score"]


def errors(record: dict) -> dict[int, dict]:
    return {e["cell"]: e for e in record["cells"]["errors"]}


def observed(record: dict, cell: int) -> str:
    """What cell number ``cell`` (from 1) reported by raising ``Exception(text)``."""
    error = errors(record)[cell]
    assert error["type"] == "Exception", error
    return error["message"]


# --- Jupyter's semantics -------------------------------------------------------------------------
def test_name_is_main_as_in_a_kernel():
    record = run(["raise Exception(__name__)", "if __name__ == '__main__':\n" + textwrap.indent(Q1, "    ")])
    assert observed(record, 1) == "__main__"
    assert q1(record) == 10


def test_failing_cells_do_not_stop_the_next_ones():
    record = run(["1 / 0", "def broken(:\n    pass", "import sys\nsys.exit(2)", "raise KeyboardInterrupt",
                  "exit()", Q1])
    assert q1(record) == 10
    found = errors(record)
    assert [found[i]["type"] for i in (1, 2, 3, 4, 5)] == ["ZeroDivisionError", "SyntaxError", "SystemExit",
                                                          "KeyboardInterrupt", "SystemExit"]
    assert found[1]["line"] == 1 and found[2]["line"] == 1 and found[3]["line"] == 2
    assert record["cells"]["skipped"] == []  # none of these ends the kernel


def test_input_fails_at_once():
    record = run(["name = input('Your name: ')", "data = __import__('sys').stdin.read()\nassert data == ''", Q1])
    assert errors(record)[1]["type"] == "RuntimeError" and "input() is not available" in errors(record)[1]["message"]
    assert 2 not in errors(record)
    assert record["cells"]["skipped"] == []  # it raised: it did not wait for the step timeout
    assert q1(record) == 10


def test_magics_and_shell_lines_run_nothing():
    record = run(["%matplotlib inline\n!touch /tmp/pwned\nfiles = !ls /\n%env GRADER_MAGIC=1\n%cd /",
                  "%%bash\ntouch /tmp/pwned-bash",
                  "%%time\n" + Q1,
                  "import os\n"
                  "raise Exception(repr((os.path.exists('/tmp/pwned'), os.path.exists('/tmp/pwned-bash'), files, "
                  "os.environ.get('GRADER_MAGIC'), os.getcwd() == '/')))"])
    assert observed(record, 4) == "(False, False, None, None, False)"
    assert set(errors(record)) == {4}
    assert q1(record) == 10  # the %%time cell ran, once


def test_matplotlib_draws_off_screen():
    record = run(["import matplotlib\nimport matplotlib.pyplot as plt\n"
                  "plt.plot([0, 1], [1, 0])\nplt.show()\nplt.savefig('figure.png')\n"
                  "raise Exception(matplotlib.get_backend().lower())"])
    assert observed(record, 1) == "agg"


def test_later_cells_see_earlier_definitions():
    record = run(["import numpy as np\nSCALE = 1.0\n\ndef _logistic(x):\n    return 1.0 / (1.0 + np.exp(-x))",
                  "def sigmoid(x):\n    x = np.clip(np.asarray(x, dtype=float), -500, 500)\n"
                  "    return _logistic(SCALE * x)",
                  "def sigmoid_derivative(x):\n    s = sigmoid(x)\n    return s * (1.0 - s)\n\n"
                  "def tanh_derivative(x):\n    return 1.0 - np.tanh(x) ** 2"])
    assert record["cells"]["errors"] == [] and q1(record) == 10


def test_the_last_definition_counts_as_in_a_top_to_bottom_run():
    assert q1(run([WRONG_Q1, Q1])) == 10
    assert q1(run([Q1, WRONG_Q1])) < 2


# --- reproducibility ---------------------------------------------------------------------------
def comparable(record: dict) -> dict:
    record = json.loads(json.dumps(record))
    record["provenance"].pop("seconds", None)
    record["provenance"].pop("cpu", None)  # CPU times, like seconds, differ between runs
    record["provenance"].pop("graded_at", None)
    return record


def test_same_submission_and_seed_give_identical_records():
    cells = [Q1, "def softmax(z, axis=-1):\n    e = np.exp(z - z.max(axis=axis, keepdims=True))\n"
                 "    return e / e.sum(axis=axis, keepdims=True)"]
    first = run(cells)
    again = run(cells)  # the same warm worker
    close_workers()
    fresh = run(cells)  # a new one
    assert comparable(first) == comparable(again) == comparable(fresh)


def _inputs(seed: int) -> list:
    return [np.asarray(a).tolist() for plan in build_plans(seed).values() for call in plan.calls for a in call.args
            if isinstance(a, np.ndarray)]


def test_different_submissions_meet_different_inputs_unless_a_seed_is_given():
    a, b = run([Q1]), run([Q1, "x = 1"])
    assert a["provenance"]["seed"] != b["provenance"]["seed"]
    assert _inputs(a["provenance"]["seed"]) != _inputs(b["provenance"]["seed"])

    seeded = Options(seed=5, limits=OPTIONS.limits)
    a, b = run([Q1], seeded), run([Q1, "x = 1"], seeded)
    assert a["provenance"]["seed"] == b["provenance"]["seed"] == 5
    assert a["provenance"]["key"] != b["provenance"]["key"]  # still two submissions


# --- nothing crosses from one submission to the next -------------------------------------------
LEAVE = [
    """
    import builtins, ctypes, json, os, signal, sys
    import numpy as np
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    libc.shmget(0x5EED, 4096, 0o1666)
    libc.msgget(0x5EEE, 0o1666)
    libc.semget(0x5EEF, 1, 0o1666)
    if os.uname().machine == "x86_64":
        libc.syscall(248, b"user", b"left-behind", b"stash", 5, ctypes.c_int(-4))
        libc.syscall(248, b"user", b"left-behind-session", b"stash", 5, ctypes.c_int(-3))
    for folder in ("/tmp", "/var/tmp", "/dev/shm", ".", os.path.expanduser("~"), "/tmp/submission"):
        try:
            open(os.path.join(folder, "left-behind"), "w").write("stash")
        except OSError:
            pass
    os.environ["LEFT_BEHIND"] = "1"
    os.umask(0)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    np.left_behind = json.left_behind = builtins.left_behind = True
    np.sum = None
    sys.modules["reference"] = json
    sys.path.insert(0, "/tmp/submission")
    for i in range(3):
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.execv("/bin/sleep", ["left-behind-sleeper", "600"])
            os._exit(0)
    """,
]
PROBE = [
    """
    import os, sys
    found = []
    for folder in ("/tmp", "/var/tmp", "/dev/shm", ".", os.path.expanduser("~"), "/tmp/submission"):
        try:  # (a Python runtime installed below /tmp is bound back read-only: not a leftover)
            found += [os.path.join(folder, n) for n in os.listdir(folder) if n != "submission"
                      and not (sys.prefix + "/").startswith(os.path.join(folder, n) + "/")]
        except OSError as exc:
            found.append(repr(exc))
    raise Exception(repr(sorted(found)))
    """,
    """
    import os, signal
    umask = os.umask(0o022)
    raise Exception(repr((sorted(k for k in os.environ), oct(umask), signal.getsignal(signal.SIGTERM) is
                          signal.SIG_DFL, sorted(p for p in os.listdir("/proc") if p.isdigit()))))
    """,
    """
    import builtins, json, sys
    import numpy as np
    raise Exception(repr((hasattr(np, "left_behind"), hasattr(json, "left_behind"), hasattr(builtins, "left_behind"),
                          callable(np.sum), "reference" in sys.modules, "/tmp/submission" in sys.path)))
    """,
    """
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    ipc = [libc.shmget(0x5EED, 0, 0), libc.msgget(0x5EEE, 0), libc.semget(0x5EEF, 0, 0)]
    keys = [line.split()[-2] for line in open("/proc/keys") if "left-behind" in line]
    raise Exception(repr((ipc, keys)))
    """,
]


def test_a_submission_leaves_nothing_for_the_next_one_on_the_same_worker():
    close_workers()
    before = run(PROBE)
    worker = get_worker(OPTIONS)
    pid = worker.proc.pid if getattr(worker, "proc", None) else None
    run(LEAVE)
    after = run(PROBE)
    assert get_worker(OPTIONS) is worker and (worker.proc.pid if pid else None) == pid  # the same warm zygote
    for cell in range(1, len(PROBE) + 1):
        assert observed(after, cell) == observed(before, cell)
    assert observed(after, 1) == "[]"
    assert observed(after, 4) == "([-1, -1, -1], [])"
    leftovers = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and b"left-behind" in open(f"/proc/{entry}/cmdline", "rb").read():
                leftovers.append(entry)
        except OSError:
            pass
    assert leftovers == []


# --- what the sandbox lets a submission see ----------------------------------------------------------
def test_the_sandbox_view():
    if not str(get_worker(OPTIONS).info.get("isolation")).startswith("root+"):
        pytest.skip("needs root isolation (run as root)")
    record = run(["""
        import os, socket
        status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
        raise Exception(repr((os.getuid() >= 61000, status["CapEff"].strip(), status["NoNewPrivs"].strip(),
                              sorted(p for p in os.listdir("/proc") if p.isdigit()),
                              [n for _, n in socket.if_nameindex()],
                              open("/proc/self/oom_score_adj").read().strip())))
        """, """
        try:
            open("/proc/self/oom_score_adj", "w").write("0")
            raise Exception("lowered")
        except OSError:  # refused: EACCES, or EROFS where the job's /proc is read-only
            raise Exception("kept")
        """, """
        import os
        raise Exception(repr(sorted(os.listdir(%r)) if os.path.isdir(%r) else []))
        """ % (str(ROOT), str(ROOT)), """
        import os
        raise Exception(repr(sorted(os.listdir("/etc"))))
        """])
    assert observed(record, 1) == "(True, '0000000000000000', '1', ['2'], ['lo'], '1000')"
    assert observed(record, 2) == "kept"
    assert not any(name in observed(record, 3) for name in ("grader", "reference", "tests", "samples"))
    # a minimal /etc: stub passwd and group and what the runtime reads, nothing else of the host's
    etc = set(eval(observed(record, 4)))
    assert {"passwd", "group"} <= etc
    assert etc <= {"passwd", "group", *(p.rsplit("/", 1)[1] for p in ETC)}, etc


def test_only_the_runtime_is_exposed(monkeypatch, tmp_path):
    course = tmp_path / "course"
    (course / "solutions").mkdir(parents=True)
    for entry in (str(course), str(ROOT / "tests"), "/srv/course", str(tmp_path)):
        monkeypatch.syspath_prepend(entry)
    allowed = allowed_paths()
    assert not any(p == str(course) or p.startswith(str(tmp_path)) for p in allowed)
    assert not any(p == str(ROOT) or p.startswith(str(ROOT / "tests")) for p in allowed)
    assert not any(p.startswith(str(ROOT / "grader")) or p.startswith(str(ROOT / "reference")) for p in allowed)
    assert any(p.endswith("site-packages") for p in allowed)


# --- a sandbox that cannot start a job is the grader's failure, never the submission's -------------------
class _NeverStarts:
    """A worker whose child dies before running anything (as when it cannot set its limits)."""

    limits = Limits(timeout=5, step_timeout=2)

    def __init__(self) -> None:
        self.restarts = 0
        self.info = {"isolation": "uid+landlock+seccomp"}

    def begin(self, job: dict) -> None:
        pass

    def poll(self, deadline: float):
        return "exit", {"exit": 70, "signal": None, "killed": False}

    def kill_job(self) -> dict:
        return {}

    def restart(self) -> None:
        self.restarts += 1

    def close(self) -> None:
        pass


def test_a_job_that_never_starts_is_retried_once_then_an_error(monkeypatch, solution_source):
    from grader.pipeline import grading
    from grader.pipeline.execution import JobDidNotStart, execute

    worker = _NeverStarts()
    with pytest.raises(JobDidNotStart, match="before running anything, twice"):
        execute(["x = 1"], build_plans(0), worker)
    assert worker.restarts == 1  # a fresh worker for the second try

    monkeypatch.setattr(grading, "get_worker", lambda options: _NeverStarts())
    record = grade({"name": "correct.py", "content": solution_source.encode(), "options": OPTIONS.to_dict()})
    assert record["status"] == "error" and record["score"] == 0
    assert "sandbox failed, not the submission" in record["provenance"]["error"]  # for the instructor
    assert record["message"].startswith("not graded because of a problem on the grading side")  # for the student


def test_a_binary_job_gives_the_student_the_same_arguments_and_the_grader_the_same_results():
    """The job's arrays cross as raw bytes (grader.pipeline.execution.binary_job): every call gets fresh
    arrays equal to those a JSON job gives, and the results decode to the same outcomes."""
    from grader.sandbox.worker.calls import run_call
    from grader.pipeline.execution import binary_job, wire_call, wired_calls
    from grader.sandbox.outcomes import outcome_from_record
    from grader.rubric.probes import Call, Plan, Rng
    from grader.sandbox.worker.wire import FrameReader, frame, payload, read_payload
    from grader.sandbox.worker.jupyter import run_job

    calls = [Call("a", "f", (np.arange(6.0).reshape(2, 3),)), Call("b", "f", (np.zeros(0),), {"axis": 0}),
             Call("c", "g", ([np.eye(2), np.ones(3)], Rng(3), "relu", 2.5), {"w": np.array([True, False])}),
             Call("d", "h", ())]
    plan = Plan("q", 1, calls)
    assert wired_calls(plan) is wired_calls(plan)  # wired once per plan
    job = binary_job(["def f(x, axis=None):\n    x *= 2\n    return x\n",
                      "def g(xs, rng, name, s, w):\n    return (xs[0] * s, rng.normal(size=2), w)\n",
                      "def h():\n    return [1, 2]\n"], [], [("q", wired_calls(plan)[1:]), ("r", wired_calls(plan)[:1])])
    header, blob = read_payload(payload({k: v for k, v in job.items() if k != "chunks"}, job["chunks"]))
    frames = []
    import builtins
    import sys

    saved = sys.modules["__main__"], sys.argv, builtins.input  # run_job makes a fresh kernel's __main__
    try:
        run_job(header, lambda obj, chunks=None: frames.append(frame(obj, chunks)), blob)
    finally:
        sys.modules["__main__"], sys.argv, builtins.input = saved
    events = [ev for ev in FrameReader().feed(b"".join(frames)) if ev.get("ev") == "result"]
    assert [ev["id"] for ev in events] == ["b", "c", "d", "a"]
    for ev in events:
        call = next(c for c in calls if c.id == ev["id"])
        ns: dict = {}
        for cell in job["cells"]:
            exec(cell, ns)
        want = outcome_from_record(json.loads(json.dumps(run_call(ns, wire_call(call)))))
        got = outcome_from_record(ev)
        assert (got.status, got.mutated, got.container) == (want.status, want.mutated, want.container)
        flat = lambda v: [v] if isinstance(v, np.ndarray) else [x for item in v for x in flat(item)]  # noqa: E731
        assert all(np.array_equal(x, y) and x.dtype == y.dtype for x, y in zip(flat(got.value), flat(want.value),
                                                                                strict=True))
    assert next(ev for ev in events if ev["id"] == "a")["mutated"] == ["argument 1"]  # its own copy, changed
    assert np.array_equal(calls[0].args[0], np.arange(6.0).reshape(2, 3))  # the plan's array untouched
