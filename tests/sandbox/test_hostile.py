"""Tamper resistance and bad input: golden hostile submissions graded in one batch.

Every file in ``tests/hostile/`` is a realistic submission (some or all of the
correct solution) plus an attack. Each cell whose first line is ``# attack`` is
part of the attack; without those cells the file is its *honest twin*. All of
them are graded in ONE batch (two worker processes, so two warm sandboxes that
serve many submissions each) together with their honest twins, the bad inputs
of ``tests/hostile/bad_input/`` and two bystanders (the full solution and a
partly wrong sample, each graded at the start, in the middle and at the end of
the batch). Then, for every hostile file:

* the batch finished and the file has a row, a results file and feedback;
* it earns no more than its honest twin, in total and in every exercise, and
  exactly the q1 score its honest part deserves (q1 is the stable exercise);
* nothing it looked for was found (the attacks report findings as ``LEAKED``
  in a cell error, and spoil their own q1 so a leak cannot go unnoticed);

and for the batch: every bystander's record equals its solo grade, no process
of any submission outlives it, and nothing was written outside the output
directory (forged result files, files on the host, IPC objects, connections).

Bad inputs each get a row with a clear status and message.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import nbformat
import pytest

from grader.pipeline import batch
from grader.pipeline.executors import InlineExecutor
from grader.pipeline.tasks import Options
from grader.pipeline.notebook import load
from grader.reports.files import read_record, safe_name
from grader.sandbox.process import Limits

from conftest import GOLDEN, ROOT, SAMPLES

HOSTILE = ROOT / "tests" / "hostile"
BAD_INPUT = HOSTILE / "bad_input"
OPTIONS = Options(seed=20240611, limits=Limits(timeout=20, step_timeout=3, memory_bytes=1024**3))
# Two honest submissions, each graded at the start, in the middle and at the end of the batch (names
# sort in that order), so that the later copies run in sandboxes that have served hostile jobs.
BYSTANDER_SOURCES = {"bystander_solution.py": GOLDEN / "solution.py",
                     "bystander_partly_wrong.ipynb": SAMPLES / "bob_partly_wrong.ipynb"}
BYSTANDERS = {f"{where}_{name}": name for where in ("a", "m", "zz") for name in BYSTANDER_SOURCES}
LISTEN_PORT = 47613  # the port the network attacks try on 127.0.0.1


def _cells(record: dict) -> dict:
    return record.get("cells", {})


def _errors(record: dict) -> list[dict]:
    return _cells(record).get("errors", [])


def _skipped(record: dict) -> list[dict]:
    return _cells(record).get("skipped", [])


def _criteria_text(record: dict, q: str) -> str:
    return "\n".join(c["message"] for c in record["exercises"][q]["criteria"])


# --- what each hostile file must come to ------------------------------------------------------
@dataclass
class Hostile:
    q1: float | None  # exact q1 score (None: only "no more than the honest twin")
    check: Callable[[dict], None] = lambda record: None
    status: str = "graded"
    xfail: str = ""


def _skips_cell_with(text: str) -> Callable[[dict], None]:
    def check(record: dict) -> None:
        assert any(text in s["why"] for s in _skipped(record)), _cells(record)
    return check


def _exit_in_cells(record: dict) -> None:
    errors = {e["cell"]: e for e in _errors(record)}
    assert errors[3]["type"] == "SystemExit" and errors[10]["type"] == "SystemExit", errors
    assert {s["cell"] for s in _skipped(record)} == {5, 7, 9}, _skipped(record)
    assert "status 0" in errors[5]["message"] and "137" in errors[7]["message"] and "143" in errors[9]["message"]


def _huge_result(record: dict) -> None:
    text = _criteria_text(record, "q1")
    assert "more than the 4,000,000 the grader accepts" in text, text


def _input_fails_at_once(record: dict) -> None:
    assert [e["type"] for e in _errors(record)] == ["RuntimeError"], _errors(record)
    assert "input() is not available" in _errors(record)[0]["message"]
    assert not _skipped(record)  # failed at once, not after a timeout
    assert "input() is not available" in _criteria_text(record, "q2")


def _memory_errors(record: dict) -> None:
    assert [e["type"] for e in _errors(record)] == ["MemoryError", "MemoryError"], _errors(record)
    assert "MemoryError" in _criteria_text(record, "q2")


def _bounded_text(record: dict) -> None:
    for e in _errors(record):
        assert len(e["type"] or "") <= 80 and len(e["message"] or "") <= 400 and e["line"] in (None, *range(10**6))
    assert len(record["notes"]) <= 5 and all(len(n) <= 400 for n in record["notes"])


def _names_the_loop(record: dict) -> None:
    assert "did not finish in time" in _criteria_text(record, "q1")
    assert record["exercises"]["q1"]["note"].startswith("sigmoid_derivative was stopped (did not finish within")


HOSTILE_FILES = {
    "monkeypatch_numpy.py": Hostile(9.0),  # the in-place clip still costs the "inputs not modified" point
    "monkeypatch_builtins.py": Hostile(10.0),
    "lying_objects.py": Hostile(0.0),
    # sigmoid works and modifies nothing: "inputs are not modified" counts (the broken calls are graded elsewhere)
    "huge_result.py": Hostile(5.0, _huge_result),
    "import_grader.py": Hostile(10.0),
    "read_paths.py": Hostile(10.0),
    "forge_results.py": Hostile(10.0),
    "forge_results_nb.ipynb": Hostile(10.0),
    "forge_claims.py": Hostile(7.5, _bounded_text),  # its tanh_derivative is wrong: claims must not fix that
    "forge_frames.py": Hostile(None, _bounded_text),
    # a forged report of "nothing modified" earns nothing: that criterion counts only where values are right
    "forge_protocol.py": Hostile(10.0),
    "pipe_flood.py": Hostile(10.0, _skips_cell_with("sent more than")),
    "exit_in_cells.py": Hostile(10.0, _exit_in_cells),
    # sigmoid and tanh_derivative right and unmodifying: only sigmoid_derivative's 2.5 points are lost to its exit
    "exit_in_functions.py": Hostile(7.5),
    "infinite_loop_cell.py": Hostile(10.0, _skips_cell_with("did not finish within 3 s")),
    "infinite_loop_function.py": Hostile(7.5, _names_the_loop),
    "sleep_cell.py": Hostile(10.0, _skips_cell_with("did not finish within 3 s")),
    "input_wait.py": Hostile(10.0, _input_fails_at_once),
    "memory_bomb.py": Hostile(10.0, _memory_errors),
    "fork_bomb.py": Hostile(10.0),
    "daemon.py": Hostile(10.0),
    "leave_behind.py": Hostile(10.0),
    "stdout_flood.py": Hostile(10.0),
    "network.py": Hostile(10.0),
}


# --- what each bad input must come to ----------------------------------------------------------
@dataclass
class BadInput:
    status: str
    message: str = ""  # in the record's message (or, for graded ones, in a note)
    q1: float | None = None
    pad_to: int = 0  # grow the notebook's outputs to this many bytes before grading
    check: Callable[[dict], None] = lambda record: None
    xfail: str = ""


def _syntax_error_in_cell_2(record: dict) -> None:
    (error,) = _errors(record)
    assert error["cell"] == 2 and error["type"] == "SyntaxError" and error["line"] == 1, error


def _nothing_ran(record: dict) -> None:
    assert "MAGIC RAN" not in json.dumps(record)
    assert not _errors(record), _errors(record)


def _null_bytes_cell(record: dict) -> None:
    (error,) = _errors(record)
    assert error["cell"] == 2 and "null bytes" in error["message"], error


BAD_INPUTS = {
    "invalid_json.ipynb": BadInput("invalid-notebook", "not valid JSON"),
    "png_renamed.ipynb": BadInput("unreadable", "not UTF-8"),
    "json_list.ipynb": BadInput("invalid-notebook", "not a Jupyter notebook"),
    "nbformat4_malformed.ipynb": BadInput("invalid-notebook", "could not be read"),
    "nbformat3.ipynb": BadInput("graded", "upgraded to format 4", q1=10.0),
    "empty_notebook.ipynb": BadInput("graded", "no code cells", q1=0.0),
    "latin1.py": BadInput("unreadable", "not UTF-8"),
    "syntax_error_cell.ipynb": BadInput("graded", q1=10.0, check=_syntax_error_in_cell_2),
    "null_bytes.py": BadInput("graded", q1=10.0, check=_null_bytes_cell),
    # saved outputs are dropped before any limit: 40 MiB of them cost nothing (the limits: tests/pipeline/test_reading.py)
    "huge_outputs.ipynb": BadInput("graded", q1=10.0, pad_to=40 * 2**20),
    "large_outputs_allowed.ipynb": BadInput("graded", q1=10.0, pad_to=12 * 2**20),
    "magics.ipynb": BadInput("graded", q1=10.0, check=_nothing_ran),
    "utf8_bom.py": BadInput("graded", q1=10.0),
}

# Where the attacks would write on the host if they could: nothing may appear or change there.
FORGED_MARK = "FORGED-BY-HOSTILE-SUBMISSION"
HOST_PATHS = [Path(p) / sub / name
              for p in ("/tmp", "/var/tmp", "/dev/shm", "/root", str(ROOT.parent), str(ROOT), "/srv", "/")
              for sub in ("", "out", "results", "grades", "out/results", "activation-grader-hostile-out/results")
              for name in ("forge_results.json", "forge_results_nb.json", "bystander_solution.json",
                           "final_grades.csv")]
HOST_PATHS += [Path(p) for p in ("/tmp/pwned", "/tmp/pwned-bash", "/tmp/pwned-writefile.py", "/tmp/pwned-script",
                                 "/tmp/daemon-was-here", "/var/tmp/daemon-was-here", "/tmp/hostile-stash",
                                 "/var/tmp/hostile-stash", "/dev/shm/hostile-stash")]
SYSV_KEYS = {0x5EED, 0x5EEE, 0x5EEF}
MARKERS = ("hostile-fork-bomb-sleeper", "hostile-daemon-marker", "hostile-stash-sleeper")


# --- building the batch ---------------------------------------------------------------------------
def honest_twin(name: str, content: bytes) -> str:
    """The submission without its ``# attack`` cells, as a script."""
    cells = [c for c in load(name, content).cells if not c.lstrip().startswith("# attack")]
    return "".join(f"# %%\n{c.strip()}\n\n" for c in cells)


def padded(path: Path, size: int) -> bytes:
    """The notebook with one stream output grown until the file is ``size`` bytes."""
    nb = nbformat.read(path, as_version=4)
    stream = next(o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    base = len(nbformat.writes(nb).encode())
    stream["text"] = "0" * (size - base) + "\n"  # one line: nbformat writes a string per line
    content = nbformat.writes(nb).encode()
    assert abs(len(content) - size) < 1024
    return content


def host_state() -> dict[str, tuple]:
    """(mtime, size, carries the forgery mark) of every path in HOST_PATHS that exists."""
    state = {}
    for path in HOST_PATHS:
        try:
            stat = path.stat()
            marked = stat.st_size < 2**20 and FORGED_MARK in path.read_text(errors="replace")
        except OSError:
            continue
        state[str(path)] = (stat.st_mtime_ns, stat.st_size, marked)
    return state


def sysv_keys() -> set[int]:
    keys = set()
    for table in ("shm", "msg", "sem"):
        try:
            rows = Path(f"/proc/sysvipc/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        keys |= {int(row.split()[0]) for row in rows if row.split()}
    return keys


def marked_processes() -> list[str]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if any(m in cmdline for m in MARKERS):
                found.append(f"{entry}: {cmdline[:120]}")
    return found


def site_packages_listing() -> set[str]:
    import site

    return {str(p) for base in site.getsitepackages() for p in Path(base).iterdir()}


def comparable(record: dict) -> dict:
    """A record minus what may differ between two gradings of the same content: when, how long, the name."""
    record = json.loads(json.dumps(record))
    record["provenance"].pop("seconds", None)
    record["provenance"].pop("cpu", None)  # CPU times, like seconds, differ between runs
    record["provenance"].pop("graded_at", None)
    name = record.pop("file")
    return json.loads(json.dumps(record).replace(json.dumps(name)[1:-1], "<file>"))


@dataclass
class Graded:
    records: dict[str, dict]
    twins: dict[str, str]  # hostile file -> its twin's name
    solo: dict[str, dict]
    out: Path
    seconds: float
    before: dict = field(default_factory=dict)
    after: dict = field(default_factory=dict)


def with_checkout(source: bytes) -> bytes:
    """The attacks that hunt for this checkout by name get its real place: ``@CHECKOUT@`` and
    ``@CHECKOUT_PARENT@`` in their text become the paths of this repository and of its folder."""
    return source.replace(b"@CHECKOUT_PARENT@", str(ROOT.parent).encode()).replace(b"@CHECKOUT@", str(ROOT).encode())


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> Graded:
    root = tmp_path_factory.mktemp("hostile")
    subs, out = root / "submissions", root / "out"
    (subs / "twins").mkdir(parents=True)
    for path in sorted(HOSTILE.iterdir()):
        if path.is_file() and path.suffix in (".py", ".ipynb"):
            (subs / path.name).write_bytes(with_checkout(path.read_bytes()))
    for name, expect in BAD_INPUTS.items():
        path = BAD_INPUT / name
        (subs / name).write_bytes(padded(path, expect.pad_to) if expect.pad_to else path.read_bytes())
    for name, source in BYSTANDERS.items():
        shutil.copy(BYSTANDER_SOURCES[source], subs / name)
    twins, by_content = {}, {}
    for name in HOSTILE_FILES:
        twin = honest_twin(name, (HOSTILE / name).read_bytes())
        if twin not in by_content:
            by_content[twin] = f"twins/{Path(name).stem}.py"
            (subs / by_content[twin]).write_text(twin)
        twins[name] = by_content[twin]

    listener = socket.socket()
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", LISTEN_PORT))
        listener.listen(8)
        listener.setblocking(False)
    except OSError:
        listener.close()
        listener = None
    before = {"site": site_packages_listing(), "sysv": sysv_keys() & SYSV_KEYS, "processes": marked_processes(),
              "host": host_state()}

    started = time.monotonic()
    result = batch.run([subs], out, OPTIONS, jobs=2, progress=False)
    seconds = time.monotonic() - started

    accepted = None
    if listener is not None:
        try:
            accepted = listener.accept()[1]
        except BlockingIOError:
            accepted = None
        listener.close()
    after = {"site": site_packages_listing(), "sysv": sysv_keys() & SYSV_KEYS, "processes": marked_processes(),
             "host": host_state(), "accepted": accepted, "listening": listener is not None}

    solo = {}
    for name, path in BYSTANDER_SOURCES.items():
        alone = root / f"solo-{Path(name).stem}"
        alone.mkdir()
        shutil.copy(path, alone / name)
        pool = InlineExecutor()  # a fresh sandbox in this process, nothing else graded on it
        try:
            (record,) = batch.run([alone / name], root / f"solo-out-{Path(name).stem}", OPTIONS, executor=pool,
                                  progress=False).records
        finally:
            pool.shutdown()
        solo[name] = record.to_dict()
    print(f"\nhostile batch: {len(result.records)} submissions in {seconds:.1f} s")
    return Graded({r.file: r.to_dict() for r in result.records}, twins, solo, out, seconds, before, after)


# --- the tests --------------------------------------------------------------------------------------
def test_every_hostile_file_has_an_expectation():
    files = {p.name for p in HOSTILE.iterdir() if p.is_file() and p.suffix in (".py", ".ipynb")}
    assert files == set(HOSTILE_FILES)
    assert {p.name for p in BAD_INPUT.iterdir()} == set(BAD_INPUTS)
    for name in HOSTILE_FILES:
        content = (HOSTILE / name).read_bytes()
        assert honest_twin(name, content) != "".join(f"# %%\n{c.strip()}\n\n" for c in load(name, content).cells), \
            f"{name} has no '# attack' cell"


@pytest.mark.parametrize("name", sorted(HOSTILE_FILES))
def test_hostile_submission(graded: Graded, name: str, request):
    expect = HOSTILE_FILES[name]
    if expect.xfail:
        request.applymarker(pytest.mark.xfail(reason=expect.xfail, strict=True))
    record, twin = graded.records[name], graded.records[graded.twins[name]]
    assert record["status"] == expect.status, (record["status"], record["message"])
    assert twin["status"] == "graded"
    text = json.dumps(record)
    assert "LEAKED" not in text and "MAGIC RAN" not in text

    # no more than the honest work, anywhere
    assert record["score"] <= twin["score"] + 1e-9, (record["score"], twin["score"])
    for q, ex in record["exercises"].items():
        assert ex["score"] <= twin["exercises"][q]["score"] + 1e-9, (q, ex["score"], twin["exercises"][q]["score"])
    if expect.q1 is not None:
        assert record["exercises"]["q1"]["score"] == expect.q1, _criteria_text(record, "q1")
    expect.check(record)

    # what is on disk is the grader's record, not something the submission wrote
    on_disk = read_record(graded.out / "results" / f"{safe_name(name)}.json")
    assert on_disk.to_dict() == record
    assert (graded.out / "feedback" / f"{safe_name(name)}.md").read_text().startswith(f"# Feedback for `{name}`")
    rows = {line.split(",")[0]: line for line in (graded.out / "final_grades.csv").read_text().splitlines()}
    assert rows[name].endswith(f",{record['score']:g},{record['possible']:g},{record['status']}")


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input(graded: Graded, name: str, request):
    expect = BAD_INPUTS[name]
    if expect.xfail:
        request.applymarker(pytest.mark.xfail(reason=expect.xfail, strict=True))
    record = graded.records[name]
    assert record["status"] == expect.status, (record["status"], record["message"], _errors(record))
    assert set(record["exercises"]) == {f"q{i}" for i in range(1, 11)}
    if expect.status != "graded":
        assert record["score"] == 0 and expect.message in record["message"], record["message"]
        assert all("not graded" in ex["feedback"] for ex in record["exercises"].values())
    else:
        assert expect.message in " ".join(record["notes"]), record["notes"]
    if expect.q1 is not None:
        assert record["exercises"]["q1"]["score"] == expect.q1, (_errors(record), _criteria_text(record, "q1"))
    expect.check(record)
    assert read_record(graded.out / "results" / f"{safe_name(name)}.json").to_dict() == record


@pytest.mark.parametrize("name", sorted(BYSTANDERS))
def test_bystanders_graded_as_if_alone(graded: Graded, name: str):
    assert graded.records[name]["status"] == "graded"
    assert comparable(graded.records[name]) == comparable(graded.solo[BYSTANDERS[name]])


def test_no_process_outlives_the_batch(graded: Graded):
    assert graded.before["processes"] == []
    assert graded.after["processes"] == []


def test_nothing_written_outside_the_output_directory(graded: Graded):
    expected = {"final_grades.csv"} | {f"results/{safe_name(n)}.json" for n in graded.records} | \
               {f"feedback/{safe_name(n)}.md" for n in graded.records}
    written = {p.relative_to(graded.out).as_posix() for p in graded.out.rglob("*") if p.is_file()}
    assert written == expected
    assert FORGED_MARK not in (graded.out / "final_grades.csv").read_text()
    assert graded.after["host"] == graded.before["host"]
    assert not any(marked for _, _, marked in graded.after["host"].values())
    assert graded.after["site"] == graded.before["site"]  # no .pth, sitecustomize or usercustomize
    assert graded.after["sysv"] <= graded.before["sysv"]  # no SysV IPC object left on the host


def test_no_connection_reached_the_host(graded: Graded):
    if not graded.after["listening"]:
        pytest.skip(f"port {LISTEN_PORT} was busy")
    assert graded.after["accepted"] is None
