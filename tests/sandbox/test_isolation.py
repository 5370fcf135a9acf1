"""Isolation in every set-up the grader meets, each exercised inside a throw-away namespace or
container, never against the machine running the tests.

Each scenario (``tests/isolation/scenario.py``) starts bystanders (a process of the grader's own
uid; files in /tmp, /dev/shm and /var/tmp; a listener on 127.0.0.1), puts a secret in the
grader's environment, then grades an attacker followed by a correct notebook in the same warm
worker. The attacker turns every attack that works into points (the answer keys into q1, the
listener into q4, the secret into q8) and tries to harm the host (SIGKILL to everything,
``prlimit`` and renice of everything, deleting files, a detached daemon). It must score 0,
harm nothing and leave nothing running; the correct notebook after it must score 100.
"""
from __future__ import annotations

import ctypes
import errno
import json
import os
import shutil
import sys
import subprocess

import pytest

from grader.sandbox.isolation import isolation_rank, landlock_paths, require, require_mode, IsolationUnavailable
from conftest import ROOT, private_tmp

SCENARIO = "tests/isolation/scenario.py"
IMAGE = os.environ.get("ACTIVATION_GRADER_TEST_IMAGE", "activation-grader:latest")


def _verdict(output: str) -> dict:
    lines = [line for line in output.splitlines() if line.startswith("VERDICT ")]
    assert lines, f"the scenario printed no verdict:\n{output[-3000:]}"
    return json.loads(lines[-1][len("VERDICT "):])


def in_namespace(*grade_options: str, env: dict | None = None) -> dict:
    """The scenario in new PID and mount namespaces with their own /tmp, /dev/shm and /var/tmp:
    whatever goes wrong stays in there (root only)."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare(1) for a throw-away namespace")
    command = f"{private_tmp()} && exec {sys.executable} {SCENARIO} {ROOT} - {' '.join(grade_options)}"
    proc = subprocess.run(["unshare", "--pid", "--fork", "--mount", "--mount-proc", "--propagation", "private",
                           "sh", "-c", command], capture_output=True, text=True, cwd=ROOT, timeout=300,
                          env={**os.environ, **(env or {})})
    return _verdict(proc.stdout + proc.stderr)


def in_container(*docker_options: str, setup: str = "true") -> dict:
    """The scenario in a throw-away container of the grading image, with this checkout's grader."""
    command = f"{setup} && exec python /src/{SCENARIO} /src -"
    proc = subprocess.run(["docker", "run", "--rm", "-v", f"{ROOT}:/src:ro", "-e", "PYTHONPATH=/src", "-w", "/src",
                           *docker_options, IMAGE, "sh", "-c", command], capture_output=True, text=True, timeout=300)
    return _verdict(proc.stdout + proc.stderr)


def assert_held(verdict: dict, isolation: str) -> None:
    assert verdict["exit"] == 0, verdict["stderr"]
    assert verdict["isolation"]["a_attacker"] == isolation
    assert verdict["bystander_alive"], "the grader's own process was killed"
    assert all(verdict["files_kept"].values()), verdict["files_kept"]
    assert verdict["connections"] == [], "the attacker reached the loopback listener"
    assert verdict["daemons"] == [], "the attacker's daemon outlived its job"
    assert verdict["statuses"] == {"a_attacker": "graded", "b_solution": "graded"}
    assert verdict["scores"]["a_attacker"]["q1"] == 0, "the attacker read or imported the answer keys"
    assert verdict["scores"]["a_attacker"]["q4"] == 0, "the attacker reached the network"
    assert verdict["scores"]["a_attacker"]["q8"] == 0, "the attacker read the grader's secret"
    assert verdict["totals"]["a_attacker"] == 0
    assert verdict["totals"]["b_solution"] == 100, "the attacker spoiled the warm worker for the next submission"


# --- the scenario itself detects what it is meant to --------------------------------------------------
def test_without_isolation_every_attack_scores():
    """Where nothing stops it (``--isolation none``, harmless attacks only), the attacker earns
    q1, q4 and q8 and reaches the listener: a zero elsewhere means the isolation held."""
    verdict = in_namespace("--isolation", "none", env={"SCENARIO_HARMLESS": "1"})
    scores = verdict["scores"]["a_attacker"]
    assert scores["q1"] > 0 and scores["q4"] > 0 and scores["q8"] > 0, scores
    assert verdict["connections"] == ["attacker"]


# --- hosts ---------------------------------------------------------------------------------------------
def test_root_host_with_namespaces():
    assert_held(in_namespace("--isolation", "root"), "root+pidns+seccomp")


def test_root_host_without_namespaces_uses_landlock():
    """``landlock`` as root: uid 0 without a capability, Landlock and seccomp."""
    assert_held(in_namespace("--isolation", "landlock"), "landlock+seccomp")


# --- containers ----------------------------------------------------------------------------------------
@pytest.mark.docker
def test_root_in_a_container_without_a_sandbox_user():
    """As on Gradescope and in ``otter grade``: root, no user namespaces, no ``sandbox`` user."""
    assert_held(in_container("--user", "0:0", setup="userdel sandbox"), "uid+landlock+seccomp")


@pytest.mark.docker
def test_root_in_a_container_without_landlock(tmp_path):
    """Gradescope with the ``landlock_*`` calls refused by the container's seccomp profile: ``uid+seccomp``,
    where file permissions (ACL entries for the job's uid, grader.sandbox.job_access) and seccomp hold alone.
    The checkout is copied into the container first: the worker hides the grader's copy from the
    job's uid with an entry on it (on the read-only mount it could not, and would refuse to start)."""
    sys.path.insert(0, str(ROOT / "tests" / "isolation"))
    from scenario import NO_LANDLOCK

    profile = tmp_path / "no-landlock.json"
    profile.write_text(json.dumps(NO_LANDLOCK))
    copy = ("userdel sandbox && mkdir /copy && tar -C /src --exclude=./.venv --exclude=./.git -cf - . | "
            "tar -C /copy -xf - && cd /copy && PYTHONPATH=/copy exec python /copy/" + SCENARIO + " /copy -")
    proc = subprocess.run(["docker", "run", "--rm", "--network", "none", "--security-opt", f"seccomp={profile}",
                           "-v", f"{ROOT}:/src:ro", "--user", "0:0", IMAGE, "sh", "-c", copy],
                          capture_output=True, text=True, timeout=400)
    assert_held(_verdict(proc.stdout + proc.stderr), "uid+seccomp")


@pytest.mark.docker
def test_a_non_root_user_in_a_container_without_user_namespaces():
    """As in a JupyterHub pod or a devcontainer: the grader is the notebook user."""
    assert_held(in_container("--user", "1000:1000"), "landlock+seccomp")


@pytest.mark.docker
def test_a_non_root_user_with_user_namespaces():
    assert_held(in_container("--user", "1000:1000", "--security-opt", "seccomp=unconfined"),
                "userns+pidns+seccomp")


@pytest.mark.docker
def test_the_docker_sandbox():
    verdict = in_namespace("--sandbox", "docker", "--image", IMAGE)
    assert_held(verdict, "docker+uid+landlock+seccomp")


# --- levels and the allowlist ---------------------------------------------------------------------------
def test_isolation_levels_are_ordered_and_required():
    assert [isolation_rank(i) for i in ("none", "landlock+seccomp", "userns+pidns", "uid+landlock+seccomp",
                                        "root+pidns+seccomp")] == [0, 1, 2, 3, 4]
    assert isolation_rank("uid") < isolation_rank("landlock+seccomp")  # a uid alone leaves the network open
    require("uid+landlock+seccomp", "uid")
    require("uid+seccomp", "uid")  # without Landlock: seccomp closes the network, file permissions the files
    with pytest.raises(IsolationUnavailable, match="below the required 'uid'"):
        require("uid", "uid")  # without seccomp the network is open
    require_mode("uid", "uid")  # the mode's name, before a worker reports what holds
    with pytest.raises(IsolationUnavailable, match="allows is 'landlock', below the required 'uid'"):
        require_mode("landlock", "uid")
    with pytest.raises(IsolationUnavailable, match="unknown isolation level"):
        require_mode("uid", "sandboxed")
    with pytest.raises(IsolationUnavailable, match="below the required 'root'"):
        require("uid+landlock+seccomp", "root")


def test_an_allowed_directory_holding_the_grader_is_split(tmp_path):
    site = tmp_path / "site-packages"
    for name in ("numpy", "grader", "reference", "scipy"):
        (site / name).mkdir(parents=True)
    (site / "six.py").write_text("")
    readable, listable = landlock_paths([str(site)], [str(site / "grader"), str(site / "reference")])
    assert listable == [str(site)]
    assert sorted(readable) == sorted(str(site / n) for n in ("numpy", "scipy", "six.py"))


@pytest.mark.parametrize("network", [True, False])
def test_the_seccomp_program_compiled_once_refuses_what_the_filter_refuses(network):
    """Zygotes compile the job's filter once (grader.sandbox.worker.confine.seccomp_program) and every job loads
    those bytes: in a throw-away child, they refuse what libseccomp's own load refuses."""
    from grader.sandbox.worker import confine

    program = confine.seccomp_program(network=network)
    if program is None:
        pytest.skip("no seccomp binding here")
    results = []
    for precompiled in (True, False):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child reports through the pipe
            code = 1
            try:
                libc = ctypes.CDLL(None, use_errno=True)
                libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS, as the job sets it first
                confine.seccomp_restrict(network=network, program=program if precompiled else None)
                outcome = []
                for number, args in ((29, (0, 4096, 0o1600)), (248, (0, 0, 0, 0, 0)), (272, (0,)), (39, ())):
                    ret = libc.syscall(number, *args)  # shmget, add_key, unshare(0), getpid
                    outcome.append((ret == -1, ctypes.get_errno() if ret == -1 else 0))
                sock = libc.syscall(41, 2, 1, 0)  # socket(AF_INET, SOCK_STREAM)
                outcome.append((sock == -1, ctypes.get_errno() if sock == -1 else 0))
                os.write(w, json.dumps(outcome).encode())
                code = 0
            finally:
                os._exit(code)
        os.close(w)
        data = os.read(r, 4096)
        os.close(r)
        os.waitpid(pid, 0)
        results.append(json.loads(data))
    assert results[0] == results[1]
    assert results[0][:2] == [[True, errno.EPERM]] * 2 and results[0][3] == [False, 0]
    assert results[0][4] == ([True, errno.EAFNOSUPPORT] if network else [False, 0])


def test_the_zygotes_matplotlib_cache_is_a_private_directory_or_none(tmp_path, monkeypatch):
    from grader.sandbox.process import matplotlib_cache

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = matplotlib_cache()
    assert path == str(tmp_path / "activation-grader" / "matplotlib")
    assert os.stat(path).st_mode & 0o777 == 0o700
    os.chmod(path, 0o770)  # writable by a group: not trusted with what every zygote reads
    assert matplotlib_cache() is None
    os.rmdir(path)
    os.symlink(tmp_path, path)  # a link to elsewhere: refused too
    assert matplotlib_cache() is None
    monkeypatch.setenv("XDG_CACHE_HOME", "/proc/none")  # cannot be made: a fresh one per zygote
    assert matplotlib_cache() is None


def test_without_isolation_the_zygote_never_reads_a_cache_student_code_could_write(tmp_path, monkeypatch):
    from grader.sandbox.process import Limits, Zygote, worker_config

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    config = worker_config(Limits(), "none", 61000, str(tmp_path / "scratch"), read=())
    assert Zygote(mode="none").matplotlib_dir(config) == config.scratch_base
    isolating = Zygote(mode="none")
    isolating.mode = "landlock"  # what a Landlock zygote would read; nothing is started here
    assert isolating.matplotlib_dir(config) == str(tmp_path / "activation-grader" / "matplotlib")


def test_a_worker_launched_and_never_used_is_killed_and_only_it(tmp_path):
    """``prestart`` may launch a worker the run never needs (every result reused): closing it kills
    that one child of ours and removes only the directories it made; bystanders of our uid survive."""
    import subprocess
    import tempfile

    from grader.sandbox.process import Zygote

    bystander = subprocess.Popen(["sleep", "60"])
    kept = [tempfile.NamedTemporaryFile(dir=d, prefix="bystander-", delete=False).name for d in ("/tmp", "/dev/shm")]
    try:
        zygote = Zygote(mode="none")
        zygote.launch()
        proc, made = zygote.proc, list(zygote._dirs)
        assert proc.poll() is None and made and not zygote.info
        zygote.close()
        assert proc.poll() is not None and proc.returncode < 0  # killed, not asked to quit
        assert not any(os.path.exists(d) for d in made)
        assert bystander.poll() is None and all(os.path.exists(k) for k in kept)
    finally:
        bystander.kill()
        bystander.wait()
        for k in kept:
            os.unlink(k)


@pytest.mark.parametrize("landlock", [True, False])
def test_as_root_auto_never_goes_below_uid(monkeypatch, landlock):
    """Root without namespaces takes ``uid`` whatever the runtime's permissions and whether Landlock
    is there (the runtime is made reachable for the job's uid when the worker starts); only a grader
    that is not root can end up in ``landlock`` or ``none``."""
    import grader.sandbox.isolation as isolation

    monkeypatch.setattr(isolation.shutil, "which", lambda name: None)  # no namespaces
    monkeypatch.setattr(isolation, "_landlock_usable", lambda: landlock)
    monkeypatch.setattr(isolation.os, "geteuid", lambda: 0)
    assert isolation.isolation_mode("auto") == "uid" == isolation.isolation_mode("container")
    assert isolation.isolation_mode("uid") == "uid"
    monkeypatch.setattr(isolation.os, "geteuid", lambda: 1000)
    assert isolation.isolation_mode("auto") == ("landlock" if landlock else "none")
    with pytest.raises(IsolationUnavailable, match="needs the grader to run as root"):
        isolation.isolation_mode("uid")
