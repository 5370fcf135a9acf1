"""The same warm worker as ``grader.sandbox.process.Zygote``, inside a container.

The container runs the worker program (``--zygote`` in ``uid`` mode) as root
with only the capabilities it needs to start a job as another uid (SETUID,
SETGID, CHOWN, KILL), no network, ``no-new-privileges``, a read-only root
filesystem, tmpfs scratch, and memory, pids and CPU limits. Each job runs as a
uid of its own (61000 + slot, no capability) confined by Landlock and seccomp,
so it can neither read the grader, nor signal, ``prlimit`` or renice the worker. The trusted
side stays on the host: it talks to the zygote over the container's attached
stdin/stdout through the Engine API (docker SDK) and computes every score
itself. The grader in the image is readable by root only.

Containers are warm: one serves many submissions in turn, each in a fresh
child process with a fresh scratch directory; between two submissions the
zygote ends every process the job left (it is their subreaper, and the job's
uid is dedicated) and empties the job's directory. ``fresh=True`` starts a new container for every submission
instead. A container that stops answering is killed from outside and
replaced; it is always removed.
"""
from __future__ import annotations

import json
import select
import socket
import struct
import time
from typing import Any

from grader.core.errors import SandboxError
from grader.sandbox.isolation import ETC, PROC
from grader.sandbox.process import Limits, WorkerDied, ZygoteChannel, config_frame, worker_config, worker_source
from grader.sandbox.worker.config import WorkerConfig

STUDENT_UID_BASE = 61000  # no passwd entry in the image: a uid for student code only
CAPABILITIES = ["SETUID", "SETGID", "CHOWN", "KILL"]
# What a job may read in the image (Landlock); /opt/venv/private, which holds the grader and the
# answer keys (root, 0700), is not in it.
READABLE = ["/usr", "/bin", "/sbin", "/lib", "/lib64", "/opt/venv/bin", "/opt/venv/lib", "/opt/venv/share",
            "/opt/venv/pyvenv.cfg", *ETC, *PROC]
ZYGOTE_MEMORY = 512 * 1024**2  # on top of the student's limit: the zygote's numpy and matplotlib


class DockerUnavailable(SandboxError):
    """No Docker engine, or no grading image: says how to get one."""

    mode = "docker"


def docker_client():
    import docker

    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except Exception as exc:
        raise DockerUnavailable(f"cannot reach the Docker engine ({exc}). Start it (e.g. `dockerd &` as root, "
                                f"or `docker/ci-setup.sh`) and try again.") from None
    return client


class DockerWorker(ZygoteChannel):
    """One warm container (see the module docstring)."""

    def __init__(self, slot: int = 0, limits: Limits = Limits(), image: str = "activation-grader:latest",
                 fresh: bool = False) -> None:
        self.slot = slot
        self.limits = limits
        self.image = image
        self.fresh = fresh
        self.client = None
        self.container = None
        self.info: dict[str, Any] = {}
        self._jobs = 0

    # -- lifecycle ------------------------------------------------------------------------------
    def config(self) -> WorkerConfig:
        """The worker's configuration in the container: ``uid`` mode, a uid per slot, the image's
        allowlist; RLIMIT_NPROC counts the uid across every container, so the container's pids
        limit is what binds; ``/scratch`` is a tmpfs of the disk budget's size (nothing to measure)."""
        uid = STUDENT_UID_BASE + self.slot % 4000
        return worker_config(self.limits, "uid", uid, "/scratch", read=READABLE, nproc=4096, measure_disk=False)

    def start(self) -> dict:
        """Start the container; :class:`DockerUnavailable` when the engine does not answer (it stopped or is
        restarting: the grading side's failure, never the submission's)."""
        import requests

        try:
            return self._start()
        except requests.exceptions.ConnectionError as exc:
            self.close()
            raise DockerUnavailable(f"the Docker engine stopped answering ({type(exc).__name__}); start it again "
                                    f"(or wait for its restart) and run the same command again") from None

    def _start(self) -> dict:
        if self.client is None:
            self.client = docker_client()
        import docker

        try:
            self.client.images.get(self.image)
        except docker.errors.ImageNotFound:
            raise DockerUnavailable(f"the image {self.image} does not exist: build it with "
                                    f"`activation-grader image build --offline` (or without --offline "
                                    f"where Docker Hub is reachable).") from None
        self._prune()
        tmpfs = f"rw,nosuid,nodev,size={self.limits.tmpfs_bytes},mode=1777"
        self.container = self.client.containers.create(
            self.image, ["python3", "-I", "-c", worker_source(), "--zygote"],
            user="0:0", network_mode="none", read_only=True,
            tmpfs={"/scratch": tmpfs, "/tmp": tmpfs}, shm_size=64 * 1024**2,
            mem_limit=self.limits.memory_bytes + ZYGOTE_MEMORY,
            memswap_limit=self.limits.memory_bytes + ZYGOTE_MEMORY,
            pids_limit=128, nano_cpus=1_000_000_000, cap_drop=["ALL"], cap_add=CAPABILITIES,
            security_opt=["no-new-privileges"],
            stdin_open=True, tty=False, working_dir="/scratch", detach=True,
            environment={"MPLBACKEND": "Agg", "MPLCONFIGDIR": "/tmp", "HOME": "/scratch"},
            labels={"activation-grader": "worker"}, init=False,
        )
        sock = self.container.attach_socket(params={"stdin": 1, "stdout": 1, "stream": 1})
        self._sock: socket.socket = sock._sock
        self._sock.setblocking(True)
        self._raw = bytearray()  # the Engine's multiplexed stream
        self._buffer = bytearray()  # the zygote's stdout, demultiplexed
        self.container.start()
        self._write(config_frame(self.config()))  # on stdin: never in the container's command line
        kind, payload = self._next_message(time.monotonic() + 120)
        if kind != b"R":
            raise WorkerDied("the worker in the container did not start")
        self.info = json.loads(payload)
        self.info["isolation"] = "docker+" + str(self.info.get("isolation"))
        self._jobs = 0
        return self.info

    def _prune(self) -> None:
        """Remove stopped workers that a killed grader could not remove itself."""
        try:
            for c in self.client.containers.list(all=True, filters={"label": "activation-grader=worker",
                                                                    "status": "exited"}):
                c.remove(force=True)
        except Exception:
            pass

    def close(self) -> None:
        if self.container is not None:
            try:
                self.container.remove(force=True)
            except Exception:
                pass
            self.container = None

    def restart(self) -> None:
        self.close()

    # -- one job ---------------------------------------------------------------------------------------
    def begin(self, job: dict) -> None:
        if self.container is None or (self.fresh and self._jobs > 0):
            self.close()
            self.start()
        self._jobs += 1
        self._send_job(job)

    # -- the transport: the Engine's multiplexed stream (8-byte headers; stream 1 is stdout) ------
    def _write(self, data: bytes) -> None:
        self._sock.sendall(data)

    def _read(self, timeout: float) -> bytes | None:
        ready, _, _ = select.select([self._sock], [], [], timeout)
        if not ready:
            return None
        data = self._sock.recv(1 << 20)
        if not data:
            raise WorkerDied(f"the container stopped{self._exit_detail()}")
        self._raw += data
        out = bytearray()
        while len(self._raw) >= 8:
            stream, size = self._raw[0], struct.unpack_from(">I", self._raw, 4)[0]
            if len(self._raw) < 8 + size:
                break
            if stream == 1:
                out += self._raw[8:8 + size]
            del self._raw[:8 + size]
        return bytes(out)

    def lost_by_grader(self) -> str | None:
        """After the container stopped mid-job: why, when it was the grading side's doing (the engine stopped or
        restarted, the container was stopped or removed from outside), or None when it may have been the
        submission's (out of memory). Student code runs as an unprivileged uid: it cannot stop the zygote,
        which is the container's first process, by any other means."""
        import docker

        if self.container is None:
            return None
        try:
            self.container.reload()
        except docker.errors.NotFound:
            return "the worker's container was removed from outside"
        except Exception as exc:
            return f"the Docker engine stopped answering ({type(exc).__name__})"
        state = self.container.attrs.get("State", {})
        if state.get("OOMKilled"):
            return None
        if state.get("Running"):  # the zygote still runs: the engine dropped our stream
            return "the Docker engine dropped the connection to the worker's container"
        if state.get("ExitCode") in (128 + 9, 128 + 15):
            return ("the worker's container was stopped from outside (the Docker engine stopped or restarted, or "
                    "`docker stop`/`docker kill`)")
        return None

    def _exit_detail(self) -> str:
        try:
            self.container.reload()
            state = self.container.attrs["State"]
            oom = " (out of memory)" if state.get("OOMKilled") else ""
            return f" with status {state.get('ExitCode')}{oom}"
        except Exception:
            return ""
