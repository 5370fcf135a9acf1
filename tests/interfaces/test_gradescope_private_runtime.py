"""Gradescope's layout where the weakest conditions meet: the Python runtime in a 0700 directory
under ``/root`` (where Otter's own ``setup.sh`` puts Miniforge) and the ``landlock_*`` system calls
refused by the container's seccomp profile (as by older Docker defaults, or a kernel before 5.13).

Each case runs the zip's ``setup.sh`` and ``run_autograder`` as root in a throw-away container of
the project's image, with no network and a seed secret in the grading environment. The runtime is
moved below ``/root`` (mode 0700) and ``/opt/venv`` left as a symlink to it, so every path to it
crosses ``/root``; a uid of no group cannot import numpy there (checked before and after grading).

* The solution scores 100 in ``uid`` mode without Landlock (``uid+seccomp``).
* A cheat (no work of its own) imports the zip's ``reference/``, plants ``.pth`` files,
  ``sitecustomize``/``usercustomize``, IPython start-up files and Jupyter and matplotlib
  configuration wherever a later process of the grader would load them, and looks for the seed
  secret: it scores 0, nothing it wrote is found outside its own directory, nothing ran as root
  (a Python and an IPython started afterwards, as root, and Otter's own kernel), and the secret is
  nowhere in results.json.
* The same cheat with the requirement lowered explicitly (``isolation: none``,
  ``require_isolation: none``) is graded as configured, and there it scores with the keys and its
  ``.pth`` runs as root with the seed secret in reach: the test sees what it is meant to see.
* Requiring more than the machine gives (``require_isolation: root``) leaves a results.json with 0
  that says the submission could not be isolated, addressed to the instructor; nothing ran.
"""
from __future__ import annotations

import io
import json
import sys
import zipfile

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "tests" / "isolation"))
from scenario import NO_LANDLOCK as SECCOMP, as_notebook  # noqa: E402
from test_docker_otter import IMAGE, _tar, dist  # noqa: E402,F401  (dist: the built zip, a fixture)

pytestmark = [pytest.mark.docker, pytest.mark.otter]
SECRET = "seed-secret-5c1e7b"
ENV = "/root/miniforge3/envs/otter-env"
MARK = "/autograder/PLANTED-RAN"  # written by planted code, if it ever runs as root
PLANT_NAMES = ("zz_planted.pth", "00-planted.py", "jupyter_nbconvert_config.py", "jupyter_notebook_config.py")

CHEAT = r'''
# %%
import glob, os, sys
import numpy as np
for path in ["/autograder/source/files/activation-grader", "/opt/venv/private", "{env}/private"]:
    sys.path.insert(0, path)
try:
    from reference.forward import *
except BaseException:
    pass

# %%
payload = "import os; open({mark!r}, 'a').write(os.environ.get('ACTIVATION_GRADER_SEED_SECRET', '-') + chr(10))\n"
dirs = set(p for p in sys.path if p) | set(glob.glob("{env}/lib/python3*/site-packages"))
dirs |= set(glob.glob("/usr/lib/python3*")) | set(glob.glob("/usr/local/lib/python3*/dist-packages"))
targets = []
for d in sorted(dirs):
    targets += [(d + "/zz_planted.pth", payload), (d + "/sitecustomize.py", payload), (d + "/usercustomize.py", payload)]
for home in ["/root", "/tmp", "/autograder", os.path.expanduser("~")]:
    targets += [(home + "/.ipython/profile_default/startup/00-planted.py", payload),
                (home + "/.local/lib/python3.11/site-packages/zz_planted.pth", payload),
                (home + "/.jupyter/jupyter_nbconvert_config.py", payload),
                (home + "/.config/matplotlib/matplotlibrc", "backend: Agg\n")]
for d in ["{env}/etc/jupyter", "/usr/local/etc/jupyter", "/etc/jupyter"]:
    targets += [(d + "/jupyter_nbconvert_config.py", payload), (d + "/jupyter_notebook_config.py", payload)]
planted = []
for path, text in targets:
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "a") as f:
            f.write(text)
        planted.append(path)
    except BaseException:
        pass

# %%
found = [v for k, v in os.environ.items() if k == "ACTIVATION_GRADER_SEED_SECRET"]
for env in glob.glob("/proc/*/environ"):
    try:
        for item in open(env, "rb").read().split(b"\0"):
            if item.startswith(b"ACTIVATION_GRADER_SEED_SECRET="):
                found.append(item.split(b"=", 1)[1].decode())
    except BaseException:
        pass
if found:
    raise RuntimeError("leaked " + found[0])
'''


def cheat_notebook() -> bytes:
    return as_notebook(CHEAT.format(env=ENV, mark=MARK)).encode()


def with_plugin_options(zip_bytes: bytes, **options) -> bytes:
    """The zip with the plugin's options in otter_config.json changed (the instructor's own edit)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as zin, zipfile.ZipFile(out, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item)
            if item.filename == "otter_config.json":
                config = json.loads(data)
                for plugin in config["plugins"]:
                    plugin["grader.otter_plugin.ActivationGraderPlugin"].update(options)
                data = json.dumps(config).encode()
            zout.writestr(item, data)
    return out.getvalue()


def gradescope_private_runtime(submission: bytes, zip_bytes: bytes, landlock: bool = False) -> dict:
    """One submission through setup.sh and run_autograder, the runtime under a 0700 /root, no Landlock
    (with ``landlock``, the engine's default seccomp profile, which allows it)."""
    import docker

    excluded = " ".join(f"-o -name {n}" for n in PLANT_NAMES[1:])
    no_uid = "setpriv --reuid=61999 --regid=61999 --clear-groups python3 -c 'import numpy' 2>/dev/null"
    script = (
        "set -e; userdel sandbox 2>/dev/null || true; "
        f"mkdir -p {ENV.rsplit('/', 1)[0]}; mv /opt/venv {ENV}; ln -s {ENV} /opt/venv; chmod 700 /root; "
        "mkdir -p /autograder/source /autograder/submission /autograder/results; "
        "cd /autograder/source && python -m zipfile -e /in/autograder.zip . && "
        "cp run_autograder /autograder/run_autograder && chmod +x /autograder/run_autograder && "
        "bash setup.sh >/dev/null && echo '{}' >/autograder/submission_metadata.json && "
        "cp /in/activations.ipynb /autograder/submission/ && cd / && sleep 1 && touch /in/started; "
        f"echo BEFORE $({no_uid} && echo readable || echo unreadable) $(stat -c %a /root); "
        f"ACTIVATION_GRADER_SEED_SECRET={SECRET} /autograder/run_autograder >/autograder/log.txt 2>&1 || true; "
        # later processes of the grader's side, as root, with the secret: a Python and an IPython
        f"ACTIVATION_GRADER_SEED_SECRET={SECRET} {ENV}/bin/python3 -c pass >/dev/null 2>&1 || true; "
        f"cd /tmp && HOME=/root ACTIVATION_GRADER_SEED_SECRET={SECRET} {ENV}/bin/python3 -m IPython -c pass "
        ">/dev/null 2>&1 || true; cd /; "
        f"echo AFTER $({no_uid} && echo readable || echo unreadable); "
        f"echo PLANTED; find / -xdev -path '*/activation-grader-scratch-*' -prune -o -path /in -prune -o "
        f"\\( -name {PLANT_NAMES[0]} {excluded} -o \\( -name sitecustomize.py -o -name usercustomize.py \\) "
        f"-newer /in/started \\) -print; "
        f"echo RAN; cat {MARK} 2>/dev/null || true; "
        "echo LOG; tail -c 3000 /autograder/log.txt; echo RESULTS; cat /autograder/results/results.json")
    client = docker.from_env(timeout=300)  # removing a container can take a while on a busy machine
    container = client.containers.create(IMAGE, ["bash", "-c", script], network_mode="none",
                                         security_opt=[] if landlock else [f"seccomp={json.dumps(SECCOMP)}"],
                                         labels={"activation-grader": "test"})
    try:
        container.put_archive("/", _tar({"in/autograder.zip": zip_bytes, "in/activations.ipynb": submission}))
        container.start()
        status = container.wait(timeout=900)
        output = container.logs().decode()
        assert status["StatusCode"] == 0, output[-4000:]
        before = output.split("BEFORE ", 1)[1].split("\n", 1)[0].split()
        after = output.split("AFTER ", 1)[1].split("\n", 1)[0].split()
        planted = output.split("PLANTED\n", 1)[1].split("RAN\n", 1)[0].split()
        ran = output.split("RAN\n", 1)[1].split("LOG\n", 1)[0]
        log, results = output.split("LOG\n", 1)[1].split("RESULTS\n", 1)
        return {"runtime_before": before[0], "root_mode": before[1], "runtime_after": after[0],
                "planted": planted, "ran": ran, "log": log, "text": results, "results": json.loads(results)}
    finally:
        container.remove(force=True)


def _scores(results: dict) -> dict[str, float]:
    scores: dict[str, float] = {}
    for test in results["tests"]:
        q = test["name"].split(":")[0]
        scores[q] = scores.get(q, 0) + test.get("score", 0)
    return scores


def _precondition(seen: dict) -> None:
    """The runtime really is out of reach for other uids, before grading and again after it (every
    entry made for the job's uid was removed)."""
    assert seen["runtime_before"] == "unreadable" and seen["root_mode"] == "700", seen
    assert seen["runtime_after"] == "unreadable", seen


def test_the_solution_scores_100_with_the_runtime_in_root_and_no_landlock(dist):
    seen = gradescope_private_runtime(dist["solution"].read_bytes(), dist["autograder_zip"].read_bytes())
    _precondition(seen)
    results = seen["results"]
    assert "(worker isolation: uid+seccomp," in results["output"], results["output"]
    assert sum(t["score"] for t in results["tests"]) == 100, seen["log"]


def test_a_cheat_gets_nothing_and_nothing_it_writes_runs_outside(dist):
    seen = gradescope_private_runtime(cheat_notebook(), dist["autograder_zip"].read_bytes())
    _precondition(seen)
    results = seen["results"]
    assert "(worker isolation: uid+seccomp," in results["output"], results["output"]
    assert sum(t["score"] for t in results["tests"]) == 0, _scores(results)
    assert seen["planted"] == [], "the job wrote where a later process would load it"
    assert seen["ran"] == "", "code planted by the job ran as root"
    assert SECRET not in seen["text"] and SECRET not in seen["log"]


def test_with_landlock_too_the_cheat_gets_nothing_and_plants_nothing(dist):
    """The same runtime in /root where the kernel and the profile allow Landlock: its write rules
    (the job's own directory only) stop the planting, on top of the file permissions."""
    seen = gradescope_private_runtime(cheat_notebook(), dist["autograder_zip"].read_bytes(), landlock=True)
    _precondition(seen)
    results = seen["results"]
    assert "(worker isolation: uid+landlock+seccomp," in results["output"], results["output"]
    assert sum(t["score"] for t in results["tests"]) == 0, _scores(results)
    assert seen["planted"] == [] and seen["ran"] == ""
    assert SECRET not in seen["text"] and SECRET not in seen["log"]


def test_lowered_explicitly_the_cheat_is_graded_unconfined_and_every_attack_shows(dist):
    """``isolation: none`` with ``require_isolation: none`` written in the config: honoured (graded, not
    refused), and there each attack of the cheat works, which is what the test above looks for."""
    zip_bytes = with_plugin_options(dist["autograder_zip"].read_bytes(), isolation="none", require_isolation="none")
    seen = gradescope_private_runtime(cheat_notebook(), zip_bytes)
    results = seen["results"]
    assert "(worker isolation: none," in results["output"], results["output"]
    scores = _scores(results)
    assert scores["q1"] > 0 and scores["q4"] > 0, scores  # the answer keys, imported from the zip's sources
    assert any(p.endswith("/zz_planted.pth") for p in seen["planted"]), seen["planted"]
    assert SECRET in seen["ran"], "the planted .pth did not run as root, with the grader's secret at hand"


def test_requiring_more_than_the_machine_gives_is_refused_in_results_json(dist):
    zip_bytes = with_plugin_options(dist["autograder_zip"].read_bytes(), require_isolation="root")
    seen = gradescope_private_runtime(cheat_notebook(), zip_bytes)
    results = seen["results"]
    assert results["score"] == 0 and sum(t["score"] for t in results["tests"]) == 0
    assert results["output"].startswith("This submission could not be isolated on this grading machine")
    assert "For the instructor: the worker's isolation here is 'uid+seccomp', below the required 'root'" in \
        results["output"]
    assert seen["planted"] == [] and seen["ran"] == ""
