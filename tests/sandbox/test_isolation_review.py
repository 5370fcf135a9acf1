"""Adversarial review of the namespace-less modes (``uid``, ``landlock``) and the Docker sandbox.

Every attack runs inside a throw-away container of the grading image (or, for the Docker
sandbox, from a throw-away PID and mount namespace), never against the machine running the
tests. ``tests/isolation/review/driver.py`` starts a warm worker next to bystanders (files and
a directory of the grader's, a unix socket it listens on, a TCP listener, a process of its uid)
and runs the attack files one after the other in that worker; attack cells report what they
saw by raising, the driver prints the state of the bystanders after each job.

Each test asserts a guarantee docs/sandboxes.md makes, against an attack that once broke it.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT, private_tmp

IMAGE = os.environ.get("ACTIVATION_GRADER_TEST_IMAGE", "activation-grader:latest")
REVIEW = "tests/isolation/review"


class Run:
    """What the driver printed: each cell's error message, each job's exit and the bystanders after it."""

    def __init__(self, output: str, started: bool = True) -> None:
        self.output = output
        self.cells: dict[tuple[str, int], str] = {}
        self.exits: dict[str, str] = {}
        self.after: list[dict] = []
        for line in output.splitlines():
            if line.startswith("AFTER "):
                self.after.append(json.loads(line[6:]))
            elif line.startswith("[") and "] " in line:
                head, rest = line[1:].split("] ", 1)
                if " cell " in head:
                    name, i = head.rsplit(" cell ", 1)
                    self.cells[(name, int(i))] = rest
                elif rest.startswith("EXIT"):
                    self.exits[head.rsplit("/", 1)[-1]] = rest
        assert self.after or not started, f"the driver reported nothing:\n{output[-3000:]}"

    def cell(self, name: str, i: int) -> dict:
        message = self.cells[(name, i)]
        return eval(message.split(" ", 1)[1])  # the attack's own repr() of a dict of strings

    def survivors(self, job: int = -1) -> list:
        return [p for p in self.after[job]["procs"] if "ladder-survivor" in p[2]]


def in_container(mode: str, *attacks: str, env: dict | None = None, setup: str = "true",
                 user: str | None = None, started: bool = True, docker_args: tuple = ()) -> Run:
    user = user or ("0:0" if mode == "uid" else "1000:1000")
    flags = [f"-e{k}={v}" for k, v in (env or {}).items()]
    files = " ".join(f"/src/{REVIEW}/{a}" for a in attacks)
    command = f"{setup} && exec python /src/{REVIEW}/driver.py {mode} {files}"
    proc = subprocess.run(["docker", "run", "--rm", "--network", "none", *docker_args, "-v", f"{ROOT}:/src:ro",
                           "-e", "PYTHONPATH=/src", "-w", "/src", "--user", user, *flags, IMAGE, "sh", "-c", command],
                          capture_output=True, text=True, timeout=400)
    return Run(proc.stdout + proc.stderr, started)


def in_namespace_docker(*attacks: str) -> Run:
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare(1) for a throw-away namespace")
    files = " ".join(f"{REVIEW}/{a}" for a in attacks)
    command = f"{private_tmp()} && exec {sys.executable} {REVIEW}/driver.py docker {files}"
    proc = subprocess.run(["unshare", "--pid", "--fork", "--mount", "--mount-proc", "--propagation", "private",
                           "sh", "-c", command], capture_output=True, text=True, cwd=ROOT, timeout=400,
                          env={**os.environ, "SRC": str(ROOT), "IMAGE": IMAGE})
    return Run(proc.stdout + proc.stderr)


pytestmark = pytest.mark.docker


# --- what held -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["uid", "landlock"])
def test_network_families_other_entry_points_and_signals_are_refused(mode):
    run = in_container(mode, "attack_sockets.py", "attack_signals.py")
    net = run.cell("attack_sockets.py", 0)
    for family in ("tcp", "udp", "inet6", "netlink", "packet", "socketpair_inet", "abstract_unix"):
        assert net[family].startswith("D"), (family, net[family])
    entry = run.cell("attack_sockets.py", 1)
    assert entry["x32_socket"] == ("signal", 31) and entry["i386_socket"] == ("signal", 31), entry
    sig = run.cell("attack_signals.py", 0)
    for name in ("kill_ppid_0", "kill_ppid_STOP", "pidfd_send_signal", "prlimit_ppid", "setpriority_ppid",
                 "sched_setaffinity_ppid"):
        assert sig[name].startswith("D"), (name, sig[name])
    assert all(a["bystander_alive"] for a in run.after)
    assert run.after[-1]["zygote_nice"] == 0 and "signal" in run.exits["attack_signals.py"]


def test_uid_mode_ends_a_self_extending_chain():
    run = in_container("uid", "attack_ladder.py", setup="userdel sandbox")
    assert run.survivors() == []


# --- holes ----------------------------------------------------------------------------------------------
def test_landlock_job_cannot_renice_the_grader():
    run = in_container("landlock", "attack_metadata.py")
    after = run.after[-1]
    assert (after["grader_nice"], after["zygote_nice"], after["bystander_nice"]) == (0, 0, 0), after


def test_landlock_job_cannot_change_the_graders_files():
    run = in_container("landlock", "attack_metadata.py")
    assert run.after[-1]["files"]["/keep"] == "0o755" and run.after[-1]["files"]["/secret.txt"] == "0o600"


def test_landlock_job_leaves_nothing_for_the_next():
    run = in_container("landlock", "attack_xattr_channel.py", "attack_xattr_read.py")
    assert ("attack_xattr_read.py", 0) not in run.cells or "previous" not in run.cells[("attack_xattr_read.py", 0)]


@pytest.mark.parametrize("mode", ["uid", "landlock"])
def test_job_cannot_reach_a_pathname_unix_socket(mode):
    run = in_container(mode, "attack_sockets.py", env={"SOCK_MODE": "666"},
                       setup="userdel sandbox" if mode == "uid" else "true")
    assert run.after[-1]["calls"] == [], run.after[-1]["calls"]


@pytest.mark.parametrize("mode", ["uid", "landlock"])
def test_job_cannot_read_the_previous_submission_from_memory(mode):
    run = in_container(mode, "job_a_marker.py", "attack_memory.py", setup="userdel sandbox" if mode == "uid" else "true")
    # the attack's own needle is in its memory, of course; what must be absent is what follows it
    # in the previous student's source (the "-5f1e" of Alice's marker)
    assert "5f1e" not in run.cells[("attack_memory.py", 1)]


def test_docker_job_cannot_read_the_previous_submission_from_memory():
    run = in_namespace_docker("job_a_marker.py", "attack_memory.py")
    # the attack's own needle is in its memory, of course; what must be absent is what follows it
    # in the previous student's source (the "-5f1e" of Alice's marker)
    assert "5f1e" not in run.cells[("attack_memory.py", 1)]


def test_landlock_job_does_not_outlive_itself():
    run = in_container("landlock", "attack_ladder.py", "job_a_marker.py")
    assert run.survivors(0) == [] and run.survivors(1) == []


def test_landlock_cleanup_touches_only_the_job_directory():
    run = in_container("landlock", "attack_cleanup_race.py")
    files = run.after[-1]["files"]
    assert files.get("/keep") == "0o755" and "/keep/a.txt" in files and "/keep/sub/b.txt" in files, files


def _copycat_scores(output: str) -> dict:
    scores = {line.split()[1]: float(line.split()[2]) for line in output.splitlines() if line.startswith("SCORE ")}
    assert scores.get("a_alice.json") == 100.0, output[-2000:]
    return scores


def test_landlock_copycat_scores_nothing():
    proc = subprocess.run(["docker", "run", "--rm", "-v", f"{ROOT}:/src:ro", "-e", "PYTHONPATH=/src", "-w", "/src",
                           "--user", "1000:1000", IMAGE, "sh", f"/src/{REVIEW}/copycat_scenario.sh", "--isolation",
                           "landlock"], capture_output=True, text=True, timeout=400)
    assert _copycat_scores(proc.stdout + proc.stderr)["b_copycat.json"] == 0


def test_docker_copycat_scores_nothing():
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare(1) for a throw-away namespace")
    command = (f"{private_tmp()} && mkdir -p /tmp/cc/in && cp tests/golden/solution.py /tmp/cc/in/a_alice.py && "
               f"cp {REVIEW}/copycat.py /tmp/cc/in/b_copycat.py && {sys.executable} -m grader grade /tmp/cc/in "
               f"--out /tmp/cc/out --jobs 1 --regrade --no-report --sandbox docker --image {IMAGE} >/dev/null 2>&1; "
               f"for f in /tmp/cc/out/results/*.json; do {sys.executable} -c 'import json,sys; d=json.load(open(sys.argv[1])); "
               f"print(\"SCORE\", sys.argv[1].rsplit(\"/\",1)[-1], d.get(\"extra_data\", d)[\"score\"])' $f; done")
    proc = subprocess.run(["unshare", "--pid", "--fork", "--mount", "--mount-proc", "--propagation", "private",
                           "sh", "-c", command], capture_output=True, text=True, cwd=ROOT, timeout=400)
    assert _copycat_scores(proc.stdout + proc.stderr)["b_copycat.json"] == 0


def test_root_landlock_job_cannot_make_a_setuid_binary():
    run = in_container("landlock", "attack_root_landlock.py", user="0:0")
    found = run.cell("attack_root_landlock.py", 0)
    assert found["perl_mode"] == "0o100755" and found["shadow_mode"] == "0o100640", found


def test_landlock_without_scopes_is_refused_or_still_stops_signals():
    run = in_container("landlock", "attack_kill_all.py", env={"SIMULATE_ABI": "5"}, started=False)
    if not run.after:  # the worker refused to start without scopes: what a fix may do
        assert "Landlock" in run.output, run.output[-2000:]
        return
    found = run.cell("attack_kill_all.py", 0)
    assert found["signal_zygote"].startswith("D") and found["abstract"].startswith("D"), found


@pytest.mark.parametrize("mode", ["uid", "landlock"])
def test_files_deleted_but_kept_open_count_against_the_disk_budget(mode):
    """Files with no name (unlinked while open, O_TMPFILE, only mapped, held by a thread whose
    leader has exited) vanish from the job's directory but still fill the disk: 360-600 MiB held
    against a 256 MiB budget went unseen by the directory's measure until they were counted. A
    process that hides its open files (it runs a binary it cannot read, so nobody may look) is
    ended, as is one that makes the look slow (30 processes of 30,000 mappings: the zygote's loop
    must not stall on it); a correct job before and after is not."""
    attacks = ("job_a_marker.py", "attack_nameless.py", "attack_nameless_mapped.py", "attack_nameless_thread.py",
               "attack_nameless_hidden.py", "attack_nameless_slow.py", "job_a_marker.py")
    run = in_container(mode, *attacks, docker_args=("--tmpfs", "/scratch:size=1200m,mode=1777,exec"))
    for name in attacks[1:-1]:
        exit_line = run.exits[name]
        assert "'killed': True" in exit_line and ("MiB of disk" in exit_line or "cannot look at" in exit_line), \
            (name, exit_line)
    assert "cannot look at" in run.exits["attack_nameless_hidden.py"]
    assert "cannot look at" in run.exits["attack_nameless_slow.py"]
    markers = [line for line in run.output.splitlines() if line.startswith("[job_a_marker.py] EXIT")]
    assert len(markers) == 2 and all("'killed': False" in line and "'disk': None" in line for line in markers), markers


def test_a_job_cannot_make_the_trusted_side_decode_a_huge_json_frame():
    """63 MiB of "[[],[],...]" written straight to the result pipe, within the output limit, took the
    trusted process from 28 MiB to 1.6 GiB (for 15 s) as it decoded them: with two slots, enough to
    have the grader itself killed for memory. Frames with more than 1 MiB of JSON are refused now."""
    run = in_container("uid", "job_a_marker.py", "attack_frame_memory.py", "job_a_marker.py")
    peak = [after["grader_maxrss_mib"] for after in run.after]
    assert peak[1] - peak[0] < 100, peak
    assert "CHANNEL WireError" in run.output and "'killed': True" in run.exits["attack_frame_memory.py"]
    assert run.output.count("[job_a_marker.py] EXIT {'exit': 0") == 2


@pytest.mark.parametrize("mode", ["uid", "landlock"])
def test_a_job_cannot_watch_the_graders_directories(mode):
    """inotify needs only that DAC lets the job read a directory, whatever Landlock says: a job
    watched the grader's results directory and saw the other students' result files named as they
    were written (and the reference and grader directories, as they were read). Refused now."""
    run = in_container(mode, "attack_inotify.py", "job_a_marker.py", env={"RESULTS_WRITER": "1"})
    found = run.cell("attack_inotify.py", 0)
    assert found.get("inotify_init", "").startswith("D") and "seen" not in found, found
    assert "[job_a_marker.py] EXIT {'exit': 0" in run.output


@pytest.mark.parametrize("mode", ["uid", "landlock"])
def test_a_crash_cannot_start_the_machines_core_handler(mode):
    """Jobs are dumpable (the disk budget looks at their descriptors; in landlock mode they already
    were), and a core_pattern that pipes to a program (systemd-coredump, apport) ignores
    RLIMIT_CORE = 0: each crash ran that program as the machine's root. The kernel refuses a pipe
    at exactly 1, which the job gets and cannot lower (it could, to 0, before)."""
    found = in_container(mode, "attack_core.py").cell("attack_core.py", 0)
    assert found["core"] == (1, 1) and found["core_after"] == (1, 1), found
    assert found["setrlimit_0"].startswith("D") and found["prlimit_0"].startswith("D"), found


@pytest.mark.parametrize("mode,user,options", [("userns", "1000:1000", ("--security-opt", "seccomp=unconfined")),
                                               ("uid", "0:0", ()), ("landlock", "1000:1000", ())])
def test_a_job_cannot_hold_memory_outside_its_limits(mode, user, options):
    """A memfd is memory in no limit's reach (not in RLIMIT_AS until mapped, not on the job's
    tmpfs, in no RSS the OOM killer weighs): a userns job held 768 MiB of it at an RSS of 55 MiB,
    and 64 processes of 256 such descriptors could take the machine's memory. Refused now."""
    run = in_container(mode, "attack_memfd.py", "job_a_marker.py", user=user,
                       docker_args=("--memory", "2g", *options))
    found = run.cell("attack_memfd.py", 0)
    assert found.get("memfd", "").startswith("D") and found["held_mib"] == 0, found
    assert "[job_a_marker.py] EXIT {'exit': 0" in run.output


USERNS_WITH_PROC = ("--security-opt", "seccomp=unconfined", "--security-opt", "systempaths=unconfined")


@pytest.mark.parametrize("mode,abi,user,options", [("uid", "99", "0:0", ()), ("uid", "0", "0:0", ()),
                                                   ("landlock", "99", "1000:1000", ()),
                                                   ("userns", "99", "1000:1000", USERNS_WITH_PROC)])
def test_a_job_stays_the_oom_killers_first_victim(mode, abi, user, options):
    """A dumpable job owns its /proc/self files, and a score of 1000 set without CAP_SYS_RESOURCE
    over the machine is not locked: in uid mode without Landlock (SIMULATE_ABI=0), and in userns
    mode wherever the job has a /proc (here: Docker's /proc masks lifted), it wrote 0 to its
    oom_score_adj, and the grader could be killed first when memory runs out. Jobs are dumpable
    in uid mode only where Landlock forbids that write; a userns job's /proc is read-only."""
    found = in_container(mode, "attack_oom_score.py", user=user, env={"SIMULATE_ABI": abi},
                         docker_args=options).cell("attack_oom_score.py", 0)
    assert found["after"] == "1000" and found["lowered"].startswith("D"), found
