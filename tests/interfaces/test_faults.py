"""Faults on the grading side end in one clear message (what happened, what was kept, that the same
command resumes), never a traceback and never a half-written file.

The full disk is a small tmpfs mounted in a throw-away mount namespace (``unshare -m``): nothing of this
machine's mounts changes. The out-of-memory kill is a SIGKILL of one grading process of the command the
test started (found by parentage, see ``processes``).
"""
from __future__ import annotations

import csv
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, SAMPLES
from processes import pool_processes, wait_until

CLI = [sys.executable, "-m", "grader", "grade"]


def rows(out: Path) -> dict[str, dict]:
    with open(out / "final_grades.csv", newline="") as f:
        return {r["file"]: r for r in csv.DictReader(f)}


def make_class(src: Path, n: int) -> Path:
    src.mkdir()
    samples = sorted(p for p in SAMPLES.glob("*.ipynb") if "damaged" not in p.name)
    for i in range(n):
        shutil.copy(samples[i % len(samples)], src / f"s{i}_{samples[i % len(samples)].name}")
    return src


def assert_whole(out: Path) -> list[Path]:
    """Every file the run left is complete: each result parses, no temporary file is left."""
    assert not list(out.rglob("*.tmp")), list(out.rglob("*.tmp"))
    done = sorted((out / "results").glob("*.json"))
    for path in done:
        assert json.loads(path.read_text())["extra_data"]["status"] == "graded"
        assert (out / "feedback" / f"{path.stem}.md").read_text().startswith("# Feedback for ")
    return done


def _can_unshare() -> bool:
    return shutil.which("unshare") is not None and subprocess.run(["unshare", "-m", "true"]).returncode == 0


@pytest.mark.skipif(not _can_unshare(), reason="needs a mount namespace (unshare -m as root)")
def test_a_full_output_disk_stops_with_one_message_keeps_every_file_whole_and_resumes(tmp_path):
    src = make_class(tmp_path / "in", 8)
    disk, logs = tmp_path / "disk", tmp_path / "logs"
    disk.mkdir()
    logs.mkdir()
    grade = " ".join(shlex.quote(a) for a in [*CLI, str(src), "--out", str(disk / "out"), "--jobs", "2", "-q"])
    # a results file and its feedback take about 90 KB: 300 KB hold a few submissions, not eight
    script = f"""
set -u
mount -t tmpfs -o size=300k tmpfs {disk}
cd {ROOT}
{grade} > {logs}/out1 2> {logs}/err1; echo $? > {logs}/rc1
cp -a {disk}/out {tmp_path}/after-full
mount -o remount,size=50m {disk}
{grade} > {logs}/out2 2> {logs}/err2; echo $? > {logs}/rc2
cp -a {disk}/out {tmp_path}/after-resume
"""
    proc = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    rc1, err1 = int((logs / "rc1").read_text()), (logs / "err1").read_text()
    assert rc1 == 4, err1
    assert "Traceback" not in err1 and (logs / "out1").read_text() == ""
    (message,) = err1.strip().splitlines()
    assert message.startswith(f"Error: could not write to {disk / 'out'} (No space left on device): the run "
                              f"stopped. Kept: the ")
    assert "each file whole" in message and "run the same command again: it resumes" in message
    done = assert_whole(tmp_path / "after-full")
    assert 1 <= len(done) < 8
    assert f"Kept: the {len(done)} submission(s) graded before it" in message
    if (tmp_path / "after-full" / "final_grades.csv").exists():  # written if it still fitted
        assert len(rows(tmp_path / "after-full")) == len(done)
    # with space again, the same command resumes: what was kept is reused
    rc2, err2 = int((logs / "rc2").read_text()), (logs / "err2").read_text()
    assert rc2 == 0, err2
    assert len(rows(tmp_path / "after-resume")) == 8 and len(assert_whole(tmp_path / "after-resume")) == 8
    for path in done:
        assert (tmp_path / "after-resume" / "results" / path.name).read_bytes() == path.read_bytes()


def test_a_grading_process_killed_by_the_oom_killer_costs_nothing(tmp_path):
    """SIGKILL (what the kernel's OOM killer sends) to one grading process of the pool mid-batch: the pool is
    replaced, the submissions it held are graded again, and the run ends with every row graded and a note."""
    src = make_class(tmp_path / "in", 6)
    out = tmp_path / "out"
    command = subprocess.Popen([*CLI, str(src), "--out", str(out), "--jobs", "2", "-q", "--no-report"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        victims = wait_until(lambda: pool_processes(command), 120, "a grading process", command)
        wait_until(lambda: (out / "results").is_dir() and list((out / "results").glob("*.json")), 240,
                   "a first result", command)
        os.kill(victims[0], signal.SIGKILL)
        stdout, stderr = command.communicate(timeout=600)
    finally:
        if command.poll() is None:
            command.kill()
            command.wait()
    assert command.returncode == 0, stderr
    assert "Traceback" not in stderr
    (note,) = stderr.strip().splitlines()
    assert note.startswith("Note: 1 grading process(es) were lost mid-run (killed from outside, e.g. by the "
                           "out-of-memory killer)")
    table = rows(out)
    assert len(table) == 6 and {r["status"] for r in table.values()} == {"graded"}
    assert len(assert_whole(out)) == 6


# -- the Docker engine restarts mid-batch: only ever a throw-away engine of the test's own -------------------
class ThrowawayEngine:
    """A second ``dockerd`` started by the test: its own data root, exec root, socket and pid file in a temp
    directory, in a network namespace of its own with no bridge and no iptables rules, its containers under
    their own cgroup parent. The shared
    engine is only read (``docker save`` of the grading image) and never restarted."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.socket = root / "d.sock"
        self.host = f"unix://{self.socket}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        log = open(self.root / "dockerd.log", "ab")
        # In a network namespace of its own: a dockerd without a bridge deletes the host's docker0 at start
        # (the shared engine's), and it must touch nothing of the host's network.
        self.proc = subprocess.Popen(
            ["unshare", "--net", "dockerd", "--data-root", str(self.root / "data"), "--exec-root", str(self.root / "exec"),
             "-H", self.host, "--pidfile", str(self.root / "d.pid"), "--bridge=none", "--iptables=false",
             "--ip6tables=false", "--ip-masq=false", "--cgroup-parent", f"ag-test-{self.root.name}",
             "--shutdown-timeout", "2"], stdout=log, stderr=log, start_new_session=True)
        wait_until(lambda: subprocess.run(["docker", "-H", self.host, "version"], capture_output=True).returncode == 0,
                   60, "the throw-away engine to answer")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # our own dockerd: it stops its containers and its containerd
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture(scope="module")
def engine():
    import tempfile

    if shutil.which("dockerd") is None or os.geteuid() != 0:
        pytest.skip("needs dockerd and root to start a throw-away engine")
    root = Path(tempfile.mkdtemp(prefix="ag-engine-", dir="/tmp"))  # short: a unix socket path is < 108 bytes
    e = ThrowawayEngine(root)
    host_links = sorted(os.listdir("/sys/class/net"))  # bystanders: the host's network is not the test's
    try:
        e.start()
        load = subprocess.run(f"docker save activation-grader:latest | docker -H {e.host} load", shell=True,
                              capture_output=True, text=True, timeout=600)
        assert load.returncode == 0, load.stderr
        yield e
    finally:
        if e.proc is not None:
            ids = subprocess.run(["docker", "-H", e.host, "ps", "-aq"], capture_output=True, text=True).stdout.split()
            if ids:
                subprocess.run(["docker", "-H", e.host, "rm", "-f", *ids], capture_output=True)
        e.stop()
        shutil.rmtree(root, ignore_errors=True)
    lost = set(host_links) - set(os.listdir("/sys/class/net"))
    assert not lost, f"the throw-away engine removed host network interfaces: {sorted(lost)}"


@pytest.mark.docker
@pytest.mark.slow
def test_an_engine_restart_mid_batch_ends_in_one_message_and_the_same_command_resumes(engine, tmp_path):
    src = make_class(tmp_path / "in", 40)
    # graded first (names sort so): a correct submission whose first cell sleeps, so that the restart
    # lands while it runs, whatever the speed of the machine
    slow = src / "s0000_slow.py"
    slow.write_text("# %%\nimport time\ntime.sleep(15)\n" + (ROOT / "tests" / "golden" / "solution.py").read_text())
    out = tmp_path / "out"
    args = [*CLI, str(src), "--out", str(out), "--sandbox", "docker", "--jobs", "1", "-q", "--no-report"]
    env = {**os.environ, "DOCKER_HOST": engine.host}
    command = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    try:
        wait_until(lambda: subprocess.run(["docker", "-H", engine.host, "ps", "-q"], capture_output=True,
                                          text=True).stdout.strip(), 300, "the worker's container", command)
        time.sleep(4)  # the container is ready and the slow cell sleeping
        assert not (out / "results" / "s0000_slow.json").exists()
        engine.restart()
        stdout, stderr = command.communicate(timeout=600)
    finally:
        if command.poll() is None:
            command.kill()
            command.wait()
    assert "Traceback" not in stderr and stdout == ""
    table = rows(out)
    assert len(table) == 41
    failed = {name for name, row in table.items() if row["status"] == "error"}
    graded = {name for name, row in table.items() if row["status"] == "graded"}
    assert graded | failed == set(table)
    # no submission was charged for the engine: the one it stopped has full marks or no score, and every
    # other one graded scored as it does on a healthy engine
    assert table["s0000_slow.py"]["total"] in ("100", ""), table["s0000_slow.py"]
    others = [row for name, row in table.items() if name in graded and name != "s0000_slow.py"]
    assert len({(row["file"].split("_", 1)[1], row["total"]) for row in others}) \
        == len({row["file"].split("_", 1)[1] for row in others})
    notes = [n for p in (out / "results").glob("*.json")
             for n in json.loads(p.read_text())["extra_data"]["notes"] if "sandbox was lost" in n]
    if failed:  # tried while the engine was away: rows without a score, and one summary
        assert all(table[name]["total"] == "" for name in failed)
        assert command.returncode == 3, stderr
        (summary,) = stderr.strip().splitlines()
        assert summary.startswith(f"Error: the grader failed on {len(failed)} of 41 submission(s): ")
        assert "Docker engine" in summary or "container" in summary
        assert "the others are graded and kept" in summary and "run the same command again" in summary
    else:  # the engine was back before the next submission: the one it stopped ran again from the start
        assert command.returncode == 0 and stderr == "", stderr
        assert notes and all("run again from the start" in n for n in notes), "the restart missed the batch"

    again = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, env=env, timeout=900)
    assert again.returncode == 0, again.stderr
    assert {row["status"] for row in rows(out).values()} == {"graded"}
