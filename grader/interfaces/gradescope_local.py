"""Run the Gradescope autograder zip on one submission, locally, as Gradescope runs it.

Gradescope builds an image from the zip (``/autograder/source`` holds its files, ``setup.sh`` runs
there as root), then for each submission puts the uploaded files in ``/autograder/submission``,
writes ``/autograder/submission_metadata.json`` and runs ``/autograder/run_autograder`` as root;
the scores are ``/autograder/results/results.json``. :func:`run_zip` does the same in a fresh
container of a local image (``activation-grader:latest`` by default) with no network at all, so
an instructor sees what students will see before uploading the zip. The container is removed
afterwards; results.json and the logs are copied out to a local folder.

The zip is unpacked on the host, member by member (no absolute names, no ``..``, regular files
only), and sent into the container as a tar stream: nothing of it runs on the host.
"""
from __future__ import annotations

import io
import json
import posixpath
import tarfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from grader.sandbox.docker import docker_client
from grader.core.errors import GraderError

DEFAULT_IMAGE = "activation-grader:latest"
LABEL = {"activation-grader": "gradescope-run"}
#: Bounds on what is unpacked from the zip (it is the instructor's, but a wrong file should fail clearly).
MAX_MEMBERS = 10_000
MAX_BYTES = 512 * 2**20

#: What Gradescope writes next to the submission (the fields its documentation lists); ``--metadata`` replaces it.
METADATA = {"id": 1, "created_at": "2026-01-01T00:00:00+00:00", "assignment": {"title": "activations"},
            "users": [{"email": "student@example.edu", "name": "A Student"}], "previous_submissions": []}

#: Gradescope's steps, in the container. setup.sh's and run_autograder's output go to files that are copied out.
SCRIPT = """set -u
cp /autograder/source/run_autograder /autograder/run_autograder && chmod +x /autograder/run_autograder
(cd /autograder/source && bash ./setup.sh) >/autograder/results/setup.log 2>&1
status=$?
if [ "$status" -ne 0 ]; then echo "setup.sh failed with status $status"; exit 90; fi
cd /autograder && /autograder/run_autograder >/autograder/results/run_autograder.log 2>&1
echo "run_autograder exited with status $?"
"""


class GradescopeRunError(GraderError):
    """The zip could not be run (not a zip, setup.sh failed, no results.json): the message says which."""


@dataclass
class LocalRun:
    out_dir: Path                     # where results/ and the logs were copied
    results_json: Path
    results: dict
    seconds: float
    log: str = ""
    tests: list[dict] = field(default_factory=list)

    @property
    def score(self) -> float:
        return float(self.results.get("score", sum(t.get("score", 0) or 0 for t in self.tests)))

    @property
    def max_score(self) -> float:
        return float(sum(t.get("max_score", 0) or 0 for t in self.tests))

    def question_scores(self) -> dict[str, float]:
        """Score per question, keyed by the part of each test's name before ``:`` (``q1``, ...)."""
        return {str(t.get("name", "")).split(":", 1)[0]: float(t.get("score", 0) or 0) for t in self.tests}


def _zip_members(zip_path: Path) -> dict[str, tuple[bytes, int]]:
    try:
        zf = zipfile.ZipFile(zip_path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise GradescopeRunError(f"{zip_path} is not an autograder zip ({exc}): build it with "
                                 "`make assignment` (assignments/dist/autograder/activations-autograder.zip)") from None
    members: dict[str, tuple[bytes, int]] = {}
    total = 0
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        if len(infos) > MAX_MEMBERS:
            raise GradescopeRunError(f"{zip_path} has {len(infos)} files (at most {MAX_MEMBERS})")
        for info in infos:
            name = posixpath.normpath(info.filename)
            if name.startswith(("/", "../")) or name == ".." or "\\" in info.filename:
                raise GradescopeRunError(f"{zip_path}: member {info.filename!r} points outside the zip's folder")
            mode = (info.external_attr >> 16) & 0o170000
            if mode not in (0, 0o100000):
                raise GradescopeRunError(f"{zip_path}: member {info.filename!r} is not a regular file")
            total += info.file_size
            if total > MAX_BYTES:
                raise GradescopeRunError(f"{zip_path} unpacks to more than {MAX_BYTES // 2**20} MiB")
            executable = bool((info.external_attr >> 16) & 0o111)
            members[name] = (zf.read(info), 0o755 if executable else 0o644)
    for needed in ("run_autograder", "setup.sh"):
        if needed not in members:
            raise GradescopeRunError(f"{zip_path} has no {needed} at its top level: it is not a Gradescope "
                                     "autograder zip (build it with `make assignment`)")
    return members


def _tar(files: dict[str, tuple[bytes, int]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        dirs = sorted({posixpath.dirname(n) for n in files} - {""})
        for d in dirs:
            for i in range(1, d.count("/") + 2):
                info = tarfile.TarInfo("/".join(d.split("/")[:i]))
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                if info.name not in tar.getnames():
                    tar.addfile(info)
        for name, (data, mode) in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _copy_out(container, src: str, out_dir: Path) -> list[Path]:
    """Regular files of ``src`` in the container into ``out_dir`` (flat; nothing else is written)."""
    stream, _ = container.get_archive(src)
    data = b"".join(stream)
    written = []
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar.getmembers():
            if not member.isfile():
                continue
            name = posixpath.basename(member.name)
            if not name or name.startswith("."):
                continue
            extracted = tar.extractfile(member)
            if extracted is None:
                continue
            target = out_dir / name
            target.write_bytes(extracted.read())
            written.append(target)
    return written


def run_zip(zip_path: Path, submissions: list[Path], out_dir: Path, *, image: str = DEFAULT_IMAGE,
            metadata: bytes | None = None, timeout: float = 900.0) -> LocalRun:
    """Run ``zip_path`` on ``submissions`` as Gradescope does (see the module docstring).

    ``metadata``: the bytes of submission_metadata.json (None: a made-up one; ``b""`` leaves it empty,
    as `otter grade`'s image does)."""
    members = _zip_members(zip_path)
    files = {f"autograder/source/{name}": v for name, v in members.items()}
    for sub in submissions:
        if not sub.is_file():
            raise GradescopeRunError(f"{sub} is not a file: pass the submitted file itself (e.g. activations.ipynb)")
        files[f"autograder/submission/{sub.name}"] = (sub.read_bytes(), 0o644)
    files["autograder/submission_metadata.json"] = (json.dumps(METADATA, indent=2).encode() if metadata is None
                                                    else metadata, 0o644)
    files["autograder/results/.keep"] = (b"", 0o644)

    client = docker_client()
    try:
        client.images.get(image)
    except Exception:
        raise GradescopeRunError(f"no image {image!r}: build it with `make docker-image` (or pass --image)") from None
    start = time.perf_counter()
    container = client.containers.create(image, ["bash", "-c", SCRIPT], user="root", network_mode="none",
                                         working_dir="/autograder", labels=LABEL)
    try:
        container.put_archive("/", _tar(files))
        container.start()
        try:
            status = container.wait(timeout=timeout)
        except Exception:
            container.kill()
            raise GradescopeRunError(f"the autograder did not finish within {timeout:g} s") from None
        log = container.logs().decode("utf-8", "replace")
        out_dir.mkdir(parents=True, exist_ok=True)
        for stale in ("results.json", "setup.log", "run_autograder.log"):
            (out_dir / stale).unlink(missing_ok=True)
        _copy_out(container, "/autograder/results", out_dir)
    finally:
        container.remove(force=True)
    seconds = time.perf_counter() - start
    if status.get("StatusCode") == 90:
        raise GradescopeRunError(f"setup.sh failed on {image} (offline, as root): see {out_dir / 'setup.log'}")
    results_json = out_dir / "results.json"
    try:
        results = json.loads(results_json.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GradescopeRunError(f"run_autograder left no readable results.json ({type(exc).__name__}): see "
                                 f"{out_dir / 'run_autograder.log'}") from None
    return LocalRun(out_dir, results_json, results, seconds, log, list(results.get("tests", [])))
