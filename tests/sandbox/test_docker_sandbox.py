"""`--sandbox docker`: the same grades as the process sandbox, and the container's limits hold."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from grader.pipeline import batch
from grader.pipeline.tasks import Options
from grader.pipeline.warm import close_workers, get_worker
from grader.sandbox.process import Limits

from conftest import GOLDEN, SAMPLES

pytestmark = pytest.mark.docker

LIMITS = Limits(timeout=40, step_timeout=4, memory_bytes=512 * 2**20)
SOLUTION = (GOLDEN / "solution.py").read_text()

#: Each submission defines a correct q1 only if its attack FAILED, so the q1 score shows what happened.
ATTACKS = {
    "network": """
import socket
try:
    socket.create_connection(("1.1.1.1", 53), timeout=2)
    ATTACK_WORKED = True
except OSError:
    ATTACK_WORKED = False
""",
    "write_outside_scratch": """
ATTACK_WORKED = False
for path in ("/etc/forged", "/usr/forged", "/opt/venv/forged", "/forged", "/root/forged"):
    try:
        open(path, "w").write("x")
        ATTACK_WORKED = True
    except OSError:
        pass
""",
    "fork_bomb": """
import os
children = 0
try:
    for _ in range(500):
        if os.fork() == 0:
            import time
            time.sleep(30)
            os._exit(0)
        children += 1
except OSError:
    pass
ATTACK_WORKED = children >= 500
""",
    "memory_bomb": """
import numpy as np
try:
    hog = np.ones(4 * 2**30 // 8)   # 4 GiB
    ATTACK_WORKED = True
except MemoryError:
    ATTACK_WORKED = False
""",
    "infinite_loop": """
ATTACK_WORKED = False
while True:
    pass
""",
    "kill_everything": """
import os, signal
ATTACK_WORKED = False
try:
    os.kill(-1, signal.SIGKILL)       # every other process it may signal (the container's init is immune)
except ProcessLookupError:            # there was none
    pass
os.kill(os.getpid(), signal.SIGKILL)  # and itself
""",
}


def submission(attack: str) -> str:
    """The attack in its own cell, then the solution with q1 broken if the attack worked."""
    guard = "\n# %%\nif globals().get('ATTACK_WORKED', False):\n    def sigmoid(x):\n        return x * 0\n"
    return f"# %%\n{ATTACK_WORKED_DEFAULT}\n# %%\n{ATTACKS[attack]}\n{SOLUTION}{guard}"


ATTACK_WORKED_DEFAULT = "ATTACK_WORKED = False"


def grades(out: Path) -> dict[str, dict]:
    with open(out / "final_grades.csv", newline="") as f:
        return {r["file"]: r for r in csv.DictReader(f)}


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    src = tmp_path_factory.mktemp("attacks")
    for name in ATTACKS:
        (src / f"{name}.py").write_text(submission(name))
    out = tmp_path_factory.mktemp("out")
    result = batch.run([src], out, Options(seed=1, sandbox="docker", limits=LIMITS), jobs=2, progress=False)
    close_workers()
    return {r.file: r.to_dict() for r in result.records}


def test_process_and_docker_sandboxes_give_identical_grades(tmp_path):
    options = dict(seed=11, limits=Limits(timeout=30, step_timeout=5))
    inputs = [SAMPLES, GOLDEN / "solution.py"]
    batch.run(inputs, tmp_path / "process", Options(**options), jobs=2, progress=False)
    batch.run(inputs, tmp_path / "docker", Options(sandbox="docker", **options), jobs=2, progress=False)
    process, docker = grades(tmp_path / "process"), grades(tmp_path / "docker")
    assert process == docker and len(process) == 5


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_attack_fails_and_the_rest_is_still_graded(attacked, attack):
    record = attacked[f"{attack}.py"]
    q1 = record["exercises"]["q1"]
    assert q1["score"] == q1["max_score"], f"{attack}: {q1['feedback']}"
    assert record["score"] == 100, record["exercises"]
    assert record["provenance"]["sandbox"] == "docker"
    assert record["provenance"]["isolation"] == "docker+uid+landlock+seccomp"


def test_a_loop_or_a_killed_container_is_reported_on_its_cell(attacked):
    for attack, word in (("infinite_loop", "did not finish within 4 s"), ("kill_everything", "SIGKILL")):
        skipped = attacked[f"{attack}.py"]["cells"]["skipped"]
        assert [s["cell"] for s in skipped] == [2], skipped
        assert word in skipped[0]["why"]


def test_containers_are_always_removed(attacked):
    from grader.sandbox.docker import docker_client

    close_workers()
    left = docker_client().containers.list(all=True, filters={"label": "activation-grader=worker"})
    assert left == []


def test_a_container_killed_from_outside_gives_a_clear_row_and_the_rest_is_graded():
    import threading

    from grader.sandbox.docker import docker_client
    from grader.pipeline.grading import grade

    source = f"# %%\nimport time\ntime.sleep(20)\n{SOLUTION}"
    client = docker_client()

    options = Options(seed=1, sandbox="docker", limits=Limits(timeout=60, step_timeout=30))
    grade({"name": "warm.py", "content": SOLUTION.encode(), "options": options.to_dict()})  # start a container
    ours = get_worker(options).container  # only this test's container: the engine may serve others

    def kill_ours():
        client.containers.get(ours.id).kill()

    timer = threading.Timer(2.0, kill_ours)
    timer.start()
    try:
        record = grade({"name": "victim.py", "content": source.encode(), "options": options.to_dict()})
    finally:
        timer.cancel()
        close_workers()
    # nothing of it is charged to the submission: no cell skipped, run again from the start, full marks
    assert record["status"] == "graded" and record["score"] == 100
    assert record["cells"]["skipped"] == [] and record["cells"]["errors"] == []
    (note,) = [n for n in record["notes"] if "sandbox was lost" in n]
    assert "stopped from outside" in note and "run again from the start" in note

