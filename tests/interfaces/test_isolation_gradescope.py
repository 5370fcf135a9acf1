"""Gradescope's layout through the autograder zip, as Gradescope runs it: root in a container with
no ``sandbox`` user, ``setup.sh`` then ``run_autograder``, a secret in the grading environment.

The attacker of ``tests/isolation/scenario.py`` is submitted as the notebook: it tries to import
the answer keys from the zip's sources, to reach a listener on 127.0.0.1 inside the container, to
find the secret (in the grading process's environment and in a root-only file), to kill every process it sees and to delete files in /tmp; it turns each success
into points. It must score 0, reach nothing, and leave the bystanders (a root ``sleep`` started
before grading and a file in /tmp) alive. The container is thrown away afterwards.
"""
from __future__ import annotations

import json
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "tests" / "isolation"))
from scenario import SECRET, as_notebook, attack_source  # noqa: E402
from test_docker_otter import IMAGE, _tar, dist  # noqa: E402,F401  (dist: the built zip, a fixture)

pytestmark = [pytest.mark.docker, pytest.mark.otter]
PORT = 4567
SOURCE = "/autograder/source/files/activation-grader"

LISTENER = ("import socket; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
            f"s.bind(('127.0.0.1', {PORT})); s.listen(8)\n"
            "while True:\n    c, _ = s.accept(); open('/listener.log', 'a').write('call\\n'); c.close()\n")


def gradescope(submission: bytes, zip_bytes: bytes) -> dict:
    from grader.sandbox.docker import docker_client

    script = ("set -e; userdel sandbox 2>/dev/null || true; "
              "mkdir -p /autograder/source /autograder/submission /autograder/results; "
              "cd /autograder/source && python -m zipfile -e /in/autograder.zip . && "
              "cp run_autograder /autograder/run_autograder && chmod +x /autograder/run_autograder && "
              "bash setup.sh >/dev/null && echo '{}' >/autograder/submission_metadata.json && "
              "cp /in/activations.ipynb /autograder/submission/ && "
              f"echo {SECRET} >/autograder/grader-secret && chmod 600 /autograder/grader-secret; "
              "python /in/listener.py & sleep 600 & BYSTANDER=$!; echo keep >/tmp/bystander; sleep 1; "
              f"GRADER_SECRET={SECRET} /autograder/run_autograder >/autograder/log.txt 2>&1 || true; "
              "sleep 0.5; "
              "echo VERDICT $(kill -0 $BYSTANDER 2>/dev/null && echo alive || echo dead) "
              "$(cat /tmp/bystander 2>/dev/null || echo gone) $(cat /listener.log 2>/dev/null | wc -l) "
              # the attacker's daemons, by command line (the image has no pgrep; [.] keeps grep from
              # finding itself)
              "$(for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' <$f 2>/dev/null; echo; done | grep -c 'sleep 4242[.]5'); "
              "echo RESULTS; cat /autograder/results/results.json")
    client = docker_client()
    container = client.containers.create(IMAGE, ["bash", "-c", script], network_mode="none",
                                         labels={"activation-grader": "test"})
    try:
        container.put_archive("/", _tar({"in/autograder.zip": zip_bytes, "in/activations.ipynb": submission,
                                         "in/listener.py": LISTENER.encode()}))
        container.start()
        status = container.wait(timeout=600)
        output = container.logs().decode()
        assert status["StatusCode"] == 0, output[-4000:]
        head, results = output.split("RESULTS\n", 1)
        verdict = head.split("VERDICT ", 1)[1].split()
        return {"bystander": verdict[0], "tmp_file": verdict[1], "connections": int(verdict[2]),
                "daemons": int(verdict[3]), "results": json.loads(results)}
    finally:
        container.remove(force=True)


def test_an_attacker_on_gradescope_gets_nothing_and_harms_nothing(dist):
    attacker = as_notebook(attack_source(SOURCE, PORT, "/autograder/grader-secret"))
    seen = gradescope(attacker.encode(), dist["autograder_zip"].read_bytes())
    results = seen["results"]
    assert seen["bystander"] == "alive" and seen["tmp_file"] == "keep", seen
    assert seen["connections"] == 0, "the attacker reached the loopback listener"
    assert seen["daemons"] == 0, "the attacker's daemon outlived grading"
    assert sum(t["score"] for t in results["tests"]) == 0, results
    assert "uid+landlock" in results["output"], results["output"]


def test_without_the_sandbox_the_same_attacker_scores(dist):
    """The attacks are real: graded with ``isolation: none`` (harmless cells only), the keys,
    the listener and the secret each earn points. The zip is rebuilt with that setting (and the
    requirement of ``uid`` lowered explicitly)."""
    import io
    import zipfile

    original = dist["autograder_zip"].read_bytes()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(original)) as zin, zipfile.ZipFile(out, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item)
            if item.filename == "otter_config.json":
                config = json.loads(data)
                for plugin in config["plugins"]:
                    for options in plugin.values():
                        options["isolation"] = "none"  # the zip requires uid: lowered explicitly
                        options["require_isolation"] = "none"
                data = json.dumps(config).encode()
            zout.writestr(item, data)
    attacker = as_notebook(attack_source(SOURCE, PORT, "/autograder/grader-secret", harmless=True))
    seen = gradescope(attacker.encode(), out.getvalue())
    scores = {t["name"].split(":")[0]: t["score"] for t in seen["results"]["tests"]}
    assert scores["q1"] > 0 and scores["q4"] > 0 and scores["q8"] > 0, scores
    assert seen["connections"] >= 1
