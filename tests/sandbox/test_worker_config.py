"""What a job can learn of its worker: nothing of the worker's configuration is on a command line
(it goes through the worker's stdin), and every directory a library writes start-up files or
configuration to is inside the job's own directory.

The probe is a submission whose points say what it found (its code only reads): q1 if a command
line it can read (its own, which is the worker's, and its parent's) holds the configuration (the
uid, the temporary directories' names, the allowlists); q4 if it could read a command line at all
(the worker's ``--zygote``: the control, showing that the probe does read them); q8 if every
configuration, cache and start-up directory of its environment is inside its home, its working
directory. Run in ``none`` mode, where nothing hides ``/proc``, and in the mode this machine gives.
"""
from __future__ import annotations

import os
import sys

import pytest

from conftest import ROOT
from grader.pipeline.grading import grade_submission
from grader.sandbox.process import Limits, Zygote
from grader.pipeline.tasks import Options
from grader.pipeline.warm import close_workers

sys.path.insert(0, str(ROOT / "tests"))
from variants import solution_cells  # noqa: E402

PROBE = '''
import os
seen = b""
for path in ("/proc/self/cmdline", f"/proc/{os.getppid()}/cmdline"):
    try:
        seen += open(path, "rb").read() + b"\\n"
    except OSError:
        pass
LEAK = any(word in seen for word in (b"activation-grader-scratch", b"activation-grader-root", b'"uid": ',
                                     b'"scratch_base": ', b'"allow": ['))
SEEN = b"--zygote" in seen
home = os.environ.get("HOME", "")
DIRS = ("IPYTHONDIR", "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "MPLCONFIGDIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME",
        "XDG_DATA_HOME", "PYTHONUSERBASE")
CONTAINED = bool(home) and os.path.realpath(home) == os.path.realpath(os.getcwd()) and all(
    os.environ.get(name, "/").startswith(home + "/") for name in DIRS) and os.environ.get("PYTHONNOUSERSITE") == "1"
'''


def probe_source() -> str:
    def guarded(flag: str, *names: str) -> str:
        body = solution_cells(*names).replace("\n", "\n    ")
        return f"if {flag}:\n    {body}\n"

    return "\n".join(["# %%", PROBE, "# %%", guarded("LEAK", "sigmoid", "sigmoid_derivative", "tanh_derivative"),
                      "# %%", guarded("SEEN", "softmax"), "# %%", guarded("CONTAINED", "dead_relu_units")])


def test_the_command_line_carries_the_program_only():
    zygote = Zygote(0, Limits(), "none")
    config = zygote.config()
    try:
        command = "\0".join(zygote.command())
        assert command.endswith("--zygote")
        for value in (config.scratch_base, config.new_root, f'"uid": {config.uid}', '"allow": ['):
            assert value not in command
    finally:
        zygote.close()


@pytest.mark.parametrize("mode", ["none", "auto"])
def test_a_job_finds_no_configuration_in_proc_and_keeps_its_files_at_home(mode):
    options = Options(isolation=mode, limits=Limits(timeout=60))
    try:
        record = grade_submission("probe.py", probe_source().encode(), options)
    finally:
        close_workers()
    scores = {q: e.score for q, e in record.exercises.items()}
    assert record.status == "graded", record.message
    assert scores["q1"] == 0, f"the job read its worker's configuration ({record.provenance.isolation})"
    assert scores["q8"] == 8, "a configuration or start-up directory outside the job's own"
    if mode == "none":  # nothing hides /proc there: the probe did read the command lines
        assert scores["q4"] == 10
    assert os.geteuid() != 0 or mode == "none" or record.provenance.isolation != "none"


def test_the_probe_sees_a_configuration_on_a_command_line(monkeypatch):
    """The control: with the configuration on the worker's command line (as it was), q1 scores."""
    original = Zygote.command
    monkeypatch.setattr(Zygote, "command", lambda self: original(self) + [self.config().to_json()])
    options = Options(isolation="none", limits=Limits(timeout=60))
    try:
        record = grade_submission("probe.py", probe_source().encode(), options)
    finally:
        close_workers()
    assert record.exercises["q1"].score == 10
