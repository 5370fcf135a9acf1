"""The grading image: the sandbox user can run NumPy & co. but not see the grader.

Student code runs as uid 10001 with no network and a read-only root file
system; the grader and the answer keys (packages ``grader`` and ``reference``)
are installed in the same image for root only. These tests check those
properties in real containers through the Docker SDK.

Without a reachable engine these tests fail when CI is set (CI must start
dockerd: docker/ci-setup.sh) and skip elsewhere. A missing image is built
(offline build, needs root) rather than skipped.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import pytest

from grader.sandbox.image import DEFAULT_TAG, ensure_image

pytestmark = pytest.mark.docker

IMAGE = os.environ.get("ACTIVATION_GRADER_IMAGE", DEFAULT_TAG)
SANDBOX_UID = 10001
SITE = "/opt/venv/lib/python3.11/site-packages"

# How student code is run: as in grader.sandbox.docker, minus the worker.
HARDENED = dict(
    network_mode="none",
    read_only=True,
    tmpfs={"/scratch": "rw,nosuid,nodev,size=64m,mode=1777"},
    cap_drop=["ALL"],
    security_opt=["no-new-privileges"],
    mem_limit="512m",
    pids_limit=64,
    working_dir="/scratch",
)


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str


def _unusable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: CI must start dockerd first (bash docker/ci-setup.sh)")
    pytest.skip(f"{reason} (with CI set this fails instead)")


@pytest.fixture(scope="module")
def client():
    """A Docker SDK client with the grading image present (built if missing).

    Module-scoped so that it runs before the per-test Docker gate in
    conftest.py, which would otherwise report a missing image before this
    fixture had the chance to build it.
    """
    try:
        import docker
    except ImportError as exc:
        _unusable(f"the docker SDK is not installed ({exc})")
    try:
        dc = docker.from_env(timeout=60)
        dc.ping()
    except Exception as exc:  # no socket, permission denied, engine starting
        _unusable(f"the Docker engine is not reachable ({exc})")
    ensure_image(IMAGE, offline=True)
    yield dc
    dc.close()


def run(client, command: list[str], user: str = "root", **options) -> Result:
    """Run ``command`` in a new container and collect its exit code and output."""
    container = client.containers.create(IMAGE, command, user=user, detach=True, **options)
    try:
        container.start()
        status = container.wait(timeout=120)
        stdout = container.logs(stdout=True, stderr=False).decode(errors="replace")
        stderr = container.logs(stdout=False, stderr=True).decode(errors="replace")
        return Result(status["StatusCode"], stdout, stderr)
    finally:
        container.remove(force=True)


def sandbox_python(client, code: str) -> Result:
    """Run Python code the way student code runs: uid 10001, hardened container."""
    return run(client, ["python3", "-I", "-c", code], user=str(SANDBOX_UID), **HARDENED)


def test_image_exists_with_the_expected_configuration(client):
    image = client.images.get(IMAGE)
    config = image.attrs["Config"]
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["PATH"].split(":")[0] == "/opt/venv/bin"
    assert env["MPLBACKEND"] == "Agg"
    assert env["OPENBLAS_NUM_THREADS"] == "1"
    assert env["OMP_NUM_THREADS"] == "1"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert config["User"] in ("", "root", "0")
    assert config["Cmd"] == ["python3"]


def test_sandbox_user_exists_with_uid_10001(client):
    result = run(client, ["id", "sandbox"], network_mode="none")
    assert result.exit_code == 0, result.stderr
    assert "uid=10001(sandbox)" in result.stdout
    assert "sudo" not in result.stdout


@pytest.mark.parametrize("package", ["grader", "reference"])
def test_sandbox_cannot_import_private_packages(client, package):
    result = sandbox_python(client, f"import {package}")
    assert result.exit_code != 0, f"uid {SANDBOX_UID} imported {package}"
    assert "ModuleNotFoundError" in result.stderr, result.stderr


@pytest.mark.parametrize("package", ["grader", "reference"])
def test_root_can_import_private_packages(client, package):
    """Guards the two tests above against passing because the package is absent."""
    result = run(client, ["python3", "-c", f"import {package}; print({package}.__file__)"], **HARDENED)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"{SITE}/{package}/")


def test_sandbox_cannot_read_private_files(client):
    probe = f"""
import importlib.util, os
site = {SITE!r}
for package in ("grader", "reference"):
    assert importlib.util.find_spec(package) is None, package
    for path in (f"{{site}}/{{package}}", os.path.realpath(f"{{site}}/{{package}}"), "/opt/venv/private"):
        try:
            os.listdir(path)
        except PermissionError:
            pass
        else:
            raise SystemExit(f"listed {{path}}")
    for path in (f"{{site}}/{{package}}/__init__.py", f"/opt/venv/private/{{package}}/__init__.py"):
        try:
            open(path, "rb").read(1)
        except PermissionError:
            pass
        else:
            raise SystemExit(f"read {{path}}")
print("sealed")
"""
    result = sandbox_python(client, probe)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "sealed"


def test_scientific_stack_imports_offline_with_read_only_root(client):
    probe = """
import numpy, scipy, scipy.special, matplotlib, IPython
import matplotlib.pyplot as plt
assert matplotlib.get_backend().lower() == "agg", matplotlib.get_backend()
plt.plot(numpy.linspace(-3, 3, 50), scipy.special.expit(numpy.linspace(-3, 3, 50)))
plt.savefig("/scratch/sigmoid.png")
try:
    open("/opt/venv/written-by-student", "w")
except OSError:
    pass
else:
    raise SystemExit("root file system is writable")
print(numpy.__version__)
"""
    result = sandbox_python(client, probe)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert result.stdout.strip()[:1].isdigit(), result.stdout


def test_container_has_no_network(client):
    probe = """
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.settimeout(3)
try:
    s.connect(("1.1.1.1", 53))
except OSError as exc:
    print("unreachable:", exc)
else:
    raise SystemExit("connected to 1.1.1.1:53")
"""
    result = sandbox_python(client, probe)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert result.stdout.startswith("unreachable"), result.stdout
