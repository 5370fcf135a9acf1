"""Grading on a real local Dask cluster: a scheduler and two single-threaded worker processes."""
from __future__ import annotations

import ctypes
import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("distributed")

from click.testing import CliRunner
from test_shards import assert_same_output, make_submissions

from grader.pipeline import batch
from grader.interfaces.cli import main
from grader.pipeline.executors import (
    DaskExecutorError,
    dask_executor,
)
from grader.pipeline.tasks import Options, grading_key

pytestmark = pytest.mark.dask

ROOT = Path(__file__).resolve().parents[2]
DASK = Path(sys.executable).parent / "dask"
SEED = 5


_LIBC = ctypes.CDLL(None, use_errno=True)


def _die_with_parent() -> None:
    """If the test process is killed before its teardown, the cluster ends too (Linux)."""
    _LIBC.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG


class Cluster:
    """``dask scheduler`` and ``dask worker`` processes, each in its own process group."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.scheduler_file = root / "sched.json"
        self.procs: list[subprocess.Popen] = []
        self.workers: list[subprocess.Popen] = []

    def _spawn(self, args: list[str], log: str) -> subprocess.Popen:
        with open(self.root / log, "wb") as out:
            proc = subprocess.Popen([str(DASK), *args], stdout=out, stderr=subprocess.STDOUT, cwd=self.root,
                                    start_new_session=True, preexec_fn=_die_with_parent)
        self.procs.append(proc)
        return proc

    def start(self, workers: int = 2) -> Cluster:
        self._spawn(["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                     "--scheduler-file", str(self.scheduler_file)], "scheduler.log")
        deadline = time.monotonic() + 30
        while not self.scheduler_file.exists() or not self.scheduler_file.read_text().strip():
            assert time.monotonic() < deadline, (self.root / "scheduler.log").read_text()
            time.sleep(0.1)
        for i in range(workers):
            self.add_worker(f"worker-{i}.log")
        self.wait_for_workers(workers)
        return self

    def add_worker(self, log: str) -> subprocess.Popen:
        proc = self._spawn(["worker", "--scheduler-file", str(self.scheduler_file), "--nworkers", "1",
                            "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1"], log)
        self.workers.append(proc)
        return proc

    def wait_for_workers(self, n: int) -> None:
        from distributed import Client

        with Client(scheduler_file=str(self.scheduler_file), timeout=30, set_as_default=False) as client:
            client.wait_for_workers(n, timeout=60)

    @property
    def address(self) -> str:
        return json.loads(self.scheduler_file.read_text())["address"]

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("dask"))
    try:
        yield c.start(workers=2)
    finally:
        c.stop()


@pytest.fixture(scope="module")
def submissions(tmp_path_factory):
    root = tmp_path_factory.mktemp("subs")
    subs = make_submissions(root)
    text = (subs / "solution.py").read_text()
    (subs / "slow.py").write_text("import time\ntime.sleep(2)\n\n" + text)
    return subs


@pytest.fixture(scope="module")
def local_run(submissions, tmp_path_factory):
    out = tmp_path_factory.mktemp("local")
    result = batch.run([submissions], out, Options(seed=SEED), jobs=2, progress=False)
    return out, result


def scheduler_keys(client) -> list[str]:
    return client.run_on_scheduler(lambda dask_scheduler: [str(k) for k in dask_scheduler.tasks])


def test_dask_results_equal_the_local_pool(cluster, submissions, local_run, tmp_path):
    local_out, local = local_run
    with dask_executor(str(cluster.scheduler_file)) as executor:
        result = batch.run([submissions], tmp_path, Options(seed=SEED, executor="dask"), executor=executor,
                           progress=False)
        assert result.graded == len(result.records) == len(local.records) == 8
        # nothing stays on the cluster once each result is consumed
        deadline = time.monotonic() + 10
        while [k for k in scheduler_keys(executor.client) if k.startswith("grade-")]:
            assert time.monotonic() < deadline, scheduler_keys(executor.client)
            time.sleep(0.1)
    assert_same_output(local_out, tmp_path)
    records = {r.file: r.to_dict() for r in result.records}
    assert {r.provenance.executor for r in result.records} == {"dask"}
    assert {r.provenance.executor for r in local.records} == {"local"}
    # two identical files under different names are two tasks, two rows
    assert records["blank.py"]["file"] == "blank.py" and records["blank-copy.py"]["file"] == "blank-copy.py"
    prov = records["solution.py"]["provenance"]
    assert {"key", "grader_version", "seed", "content_sha256", "sandbox", "executor"} <= prov.keys()
    assert prov["seed"] == SEED and prov["sandbox"] == "process"


def test_dask_run_is_resumable(cluster, submissions, tmp_path):
    options = Options(seed=SEED, executor="dask")
    with dask_executor(cluster.address) as executor:
        first = batch.run([submissions], tmp_path, options, executor=executor, progress=False)
        (tmp_path / "results" / "partly_wrong.json").unlink()
        second = batch.run([submissions], tmp_path, options, executor=executor, progress=False)
    assert first.graded == 8 and (second.graded, second.reused) == (1, 7)
    assert [r.score for r in first.records] == [r.score for r in second.records]


def test_scheduler_from_the_environment(cluster, monkeypatch):
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", cluster.address)
    with dask_executor(None) as executor:
        assert executor.submit(len, [1, 2, 3]).result() == 3


def test_grading_keys_are_deterministic_and_distinct():
    task = {"name": "a.py", "content": b"x = 1\n", "options": Options(seed=1).to_dict()}
    same = json.loads(json.dumps({**task, "content": None})) | {"content": b"x = 1\n"}  # a copy, via JSON
    assert grading_key(task) == grading_key(same)
    assert grading_key(task).startswith("grade-")
    assert grading_key(task) != grading_key({**task, "name": "b.py"})
    assert grading_key(task) != grading_key({**task, "name": "a.ipynb"})
    assert grading_key(task) != grading_key({**task, "content": b"x = 2\n"})
    assert grading_key(task) != grading_key({**task, "options": Options(seed=2).to_dict()})
    assert grading_key(task) != grading_key({**task, "options": Options(seed=1, sandbox="docker").to_dict()})


def test_docker_sandbox_needs_the_worker_resource(cluster):
    task = {"name": "a.py", "content": b"", "options": Options(sandbox="docker", executor="dask").to_dict()}
    with dask_executor(cluster.address) as executor:
        with pytest.raises(DaskExecutorError, match="--resources sandbox=1"):
            batch.submit(executor, task)  # a docker task asks for the resource ``sandbox``


def test_unreachable_scheduler_fails_fast():
    started = time.monotonic()
    with pytest.raises(DaskExecutorError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:1"):
        dask_executor("tcp://127.0.0.1:1")
    assert time.monotonic() - started < 15


def test_a_silent_port_times_out():
    with socket.socket() as listener:  # accepts connections (the kernel does) but never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        started = time.monotonic()
        with pytest.raises(DaskExecutorError, match=r"does not answer as a Dask scheduler \(no answer within 1 s\)"):
            dask_executor(f"tcp://127.0.0.1:{listener.getsockname()[1]}", timeout=1)
        assert time.monotonic() - started < 10


def test_a_port_that_is_not_a_scheduler():
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with pytest.raises(DaskExecutorError, match="does not answer as a Dask scheduler"):
            dask_executor(f"tcp://127.0.0.1:{server.server_address[1]}", timeout=1)
    finally:
        server.shutdown()
        server.server_close()


def test_unreachable_scheduler_from_the_command_line(tmp_path):
    (tmp_path / "a.py").write_text("")
    started = time.monotonic()
    result = CliRunner().invoke(main, ["grade", str(tmp_path / "a.py"), "--out", str(tmp_path / "out"),
                                       "--executor", "dask", "--scheduler", "tcp://127.0.0.1:1"])
    assert time.monotonic() - started < 15
    assert result.exit_code == 1
    assert "Error: cannot reach the Dask scheduler" in result.output and "dask scheduler" in result.output


@pytest.mark.parametrize("scheduler, message", [
    (None, "needs a scheduler and none was given"),
    ("no/such/sched.json", "neither a scheduler address"),
])
def test_missing_scheduler_says_how_to_start_one(scheduler, message, monkeypatch):
    import dask

    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    with dask.config.set({"scheduler-address": None}):
        with pytest.raises(DaskExecutorError, match=message) as info:
            dask_executor(scheduler)
    assert "DASK_SCHEDULER_ADDRESS" in info.value.message


def test_dispatch_overhead_hook(cluster):
    """benchmarks/dispatch.py, loaded by path (benchmarks/ on sys.path would shadow tests' own packages):
    its no-op tasks run on workers that cannot import it."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("benchmark_dispatch", ROOT / "benchmarks" / "dispatch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with dask_executor(cluster.address) as executor:
        result = module.dispatch_overhead(executor, n=20, payload_bytes=10_000)
    assert result["tasks"] == 20 and result["per_task_ms"] > 0


@pytest.mark.slow
def test_a_killed_worker_loses_nothing(tmp_path, submissions, local_run):
    """SIGKILL a worker that is grading: its tasks run again on the other worker."""
    c = Cluster(tmp_path / "cluster")
    c.root.mkdir()
    c.start(workers=2)
    killed = []
    try:
        with dask_executor(str(c.scheduler_file)) as executor:
            client = executor.client

            def kill_a_busy_worker(record):
                if killed:
                    return
                busy = {addr: keys for addr, keys in client.processing().items() if keys}
                assert busy, "the batch ended before the kill"
                addr = sorted(busy)[0]
                pid = client.run(os.getpid, workers=[addr])[addr]
                os.killpg(os.getpgid(pid), signal.SIGKILL)
                killed.append((addr, busy[addr]))

            result = batch.run([submissions], tmp_path / "out", Options(seed=SEED, executor="dask"),
                               executor=executor, on_result=kill_a_busy_worker, progress=False)
    finally:
        c.stop()
    assert killed and killed[0][1], "a worker was killed while grading"
    assert f"Remove worker addr: {killed[0][0]}" in (c.root / "scheduler.log").read_text()
    assert result.graded == len(result.records) == 8
    assert all(r.status != "error" for r in result.records), [r.message for r in result.records]
    local_out, _ = local_run
    assert_same_output(local_out, tmp_path / "out")
