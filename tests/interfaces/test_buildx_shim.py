"""`activation-grader docker install-buildx-shim`: the shipped stand-in for `docker buildx`.

It goes where the docker CLI looks for a user's plugins ($DOCKER_CONFIG/cli-plugins), makes
`docker buildx version` answer, never replaces a plugin that is not its own, and `--remove` takes
out only its own. Every test points DOCKER_CONFIG at a temporary directory: the machine's docker
configuration is never touched. (The stand-in building an image is shown by test_docker_otter.py,
which runs the documented `otter grade`.)
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent

pytestmark = pytest.mark.skipif(shutil.which("docker") is None, reason="no docker CLI on PATH")


def _cli(config: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DOCKER_CONFIG": str(config)}
    return subprocess.run([str(BIN / "activation-grader"), "docker", "install-buildx-shim", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def _buildx(config: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", "buildx", *args], env={**os.environ, "DOCKER_CONFIG": str(config)},
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def config(tmp_path) -> Path:
    path = tmp_path / "docker-config"
    if _buildx(path, "version").returncode == 0:
        pytest.skip("this docker CLI has a buildx of its own: the shim installs nothing (tested below)")
    return path


def test_installs_the_stand_in_and_buildx_answers(config):
    proc = _cli(config)
    assert proc.returncode == 0, proc.stderr
    plugin = config / "cli-plugins" / "docker-buildx"
    assert f"installed the buildx stand-in (classic docker build) at {plugin}" in proc.stdout
    assert os.access(plugin, os.X_OK)
    assert "classic docker build stand-in" in _buildx(config, "version").stdout
    again = _cli(config)
    assert again.returncode == 0 and "already installed" in again.stdout


def test_the_stand_in_refuses_what_it_does_not_cover(config):
    assert _cli(config).returncode == 0
    proc = _buildx(config, "bake")
    assert proc.returncode == 2 and "unsupported command 'bake'" in proc.stderr
    proc = _buildx(config, "build", "--push", ".")
    assert proc.returncode == 2 and "unsupported option --push" in proc.stderr


def test_another_docker_buildx_is_left_alone(config):
    plugin = config / "cli-plugins" / "docker-buildx"
    plugin.parent.mkdir(parents=True)
    plugin.write_text("#!/bin/sh\nexit 1\n")  # someone's broken plugin
    plugin.chmod(0o755)
    proc = _cli(config)
    assert proc.returncode == 1 and "is not this project's stand-in" in proc.stderr
    assert plugin.read_text() == "#!/bin/sh\nexit 1\n"
    proc = _cli(config, "--remove")
    assert proc.returncode == 1 and "left alone" in proc.stderr and plugin.exists()


def test_remove_takes_out_only_the_stand_in(config):
    assert _cli(config).returncode == 0
    neighbour = config / "cli-plugins" / "docker-compose"
    neighbour.write_text("#!/bin/sh\n")
    proc = _cli(config, "--remove")
    assert proc.returncode == 0 and "removed" in proc.stdout
    assert not (config / "cli-plugins" / "docker-buildx").exists() and neighbour.exists()
    assert _buildx(config, "version").returncode != 0
    assert "nothing to remove" in _cli(config, "--remove").stdout


def test_where_buildx_exists_nothing_is_installed(tmp_path, monkeypatch):
    from grader.interfaces import buildx_shim

    monkeypatch.setattr(buildx_shim, "buildx_version", lambda environ=None: "github.com/docker/buildx v0.12.1")
    done = buildx_shim.install(environ={"DOCKER_CONFIG": str(tmp_path / "cfg")})
    assert done.path is None and "already available (github.com/docker/buildx v0.12.1)" in done.message
    assert not (tmp_path / "cfg").exists()
