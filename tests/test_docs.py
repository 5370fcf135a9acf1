"""Every shell command shown in README.md and docs/*.md runs here, so the documentation cannot drift
from the code.

Each fenced block whose language is ``sh``, ``bash``, ``shell`` or ``console`` (for ``console``,
the lines after ``$ ``) is one test, named by its file and line (``docs/grading.md:3``). It runs
as a ``bash -e -o pipefail`` script in a scratch copy of the repository (the files git knows of,
as they are in the working tree) with the environment the page assumes:

- README.md's blocks run as pasted on a fresh machine: the copy has no ``out/``, no built
  assignment, and ``.venv/bin`` is not on ``PATH`` (the copy's ``.venv`` is a link to the
  environment running these tests, already set up, so ``make setup`` finds it up to date);
- docs/*.md's blocks run with that environment active (``. .venv/bin/activate``), as the manual
  says at its start.

What a page names as the user's own files exists in the copy (``PLACEHOLDERS``), ``HOME`` is a
scratch directory (``~/sched.json``), and the few commands that cannot run as written inside a
test run as ``SUBSTITUTIONS`` says, each with its reason. Words after the language name pytest
markers (```` ```sh docker ````: the block needs Docker, and fails rather than skips in CI without
it; ``otter``, ``dask``, ``slow``). ``SKIPPED`` lists the blocks that cannot run in any test, each
with why and what tests it instead; it only shrinks.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from conftest import ROOT, SAMPLES

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL = {"sh", "bash", "shell", "console"}
MARKERS = {"docker", "otter", "dask", "slow"}  # pyproject.toml's markers a block may carry
TIMEOUT = 1800

#: The user's files a page names, made in the scratch copy before a block runs.
PLACEHOLDERS = {
    "submissions/": "a copy of samples/ (a correct, a partly wrong, a blank and a damaged notebook)",
    "submission.ipynb": "a copy of samples/alice_correct.ipynb",
    "submissions.zip": "samples/ zipped into submissions/, as an LMS download holds a class",
    "downloads/": "a folder of LMS downloads: submissions.zip in it twice, as section-1.zip and section-2.zip",
}

#: (pattern, replacement, why) applied to a block's text before it runs. Keep it short.
SUBSTITUTIONS: list[tuple[str, str, str]] = [
    (r"\bpip install\b", "pip install --dry-run",
     "the environment is shared with the test run: pip resolves the requirement against it (which "
     "has every extra) and changes nothing (it needs PyPI for the build requirements, as make setup does)"),
    (r"\bmake bench(?: BENCH_ARGS=(?:\"[^\"]*\"|'[^']*'|\S*))?",
     "make bench BENCH_ARGS='--n 6 --otter-sample 1 --latency-sample 2'",
     "the full benchmark takes ten minutes or more; this runs every part of it on a few notebooks"),
]
#: The environment of every block: a test suite shown in the docs is collected, not run again
#: inside itself (this very suite is what `make test` runs).
ENVIRONMENT = {"PYTEST_ADDOPTS": "--collect-only -q"}

#: Blocks that no test machine can run, by their commands (``Block.commands``: comments left out, a
#: line continuation joined): why, and what tests them instead. An entry whose block has changed fails
#: ``test_every_skip_names_a_block_that_exists``, so every skip is looked at again when its block is.
SKIPPED = {
    "mkdir -p grades; otter grade -n activations -a assignments/dist/autograder/activations-autograder.zip "
    "-o grades submissions/":
        "builds Otter's image from ubuntu:22.04 with Docker Hub, GitHub and PyPI, which test machines cannot "
        "reach; the same zip is graded by `otter grade` offline (the next block) and by `otter run`",
    "activation-grader docker install-buildx-shim; mkdir -p grades; otter grade -n activations -a "
    "assignments/dist/autograder/activations-autograder.zip --image activation-grader:latest --no-network "
    "-o grades submissions/":
        "needs the assignment built (make assignment, earlier on its page); tests/interfaces/test_docker_otter.py "
        "takes this block from docs/otter.md and runs it as it stands after building it (its own -n and "
        "DOCKER_CONFIG)",
    "activation-grader gradescope run assignments/dist/autograder/activations-autograder.zip "
    "samples/bob_partly_wrong.ipynb --out gradescope-results":
        "needs the assignment built (make assignment, earlier on its page) and Docker; tests/interfaces/"
        "test_gradescope_run.py runs the command on the built zip",
    "activation-grader image build --offline":
        "rebuilds activation-grader:latest, which every Docker test uses; CI builds it with the same script "
        "(docker/ci-setup.sh runs docker/build-image.sh --offline) before the tests",
    "activation-grader image build":
        "pulls python:3.11-slim-bookworm from Docker Hub, which test machines cannot reach",
    "sbatch --array=0-15 examples/slurm/grade-array.sbatch":
        "needs a SLURM cluster; tests/pipeline/test_shards.py runs the script's tasks and its merge job",
    "kubectl apply -f examples/kubernetes/indexed-job.yaml; kubectl wait --for=condition=complete "
    "job/activation-grader --timeout=6h; kubectl apply -f examples/kubernetes/merge-job.yaml":
        "needs a Kubernetes cluster; tests/pipeline/test_shards.py runs the pods' commands and the merge job",
}


@dataclass(frozen=True)
class Block:
    page: str        # relative to the repository
    line: int        # of the opening fence, from 1
    language: str
    markers: tuple[str, ...]
    script: str

    @property
    def commands(self) -> str:
        """The block's commands without comments, one line each, as ``SKIPPED`` names them."""
        text = re.sub(r"\\\n\s*", " ", self.script)
        lines = (re.sub(r"\s+#.*$", "", line).strip() for line in text.splitlines())
        return "; ".join(" ".join(line.split()) for line in lines if line and not line.startswith("#"))

    def __str__(self) -> str:
        return f"{self.page}:{self.line}"


def console_commands(text: str) -> str:
    """The commands of a ``console`` block: lines after ``$ ``, with their continuation lines."""
    out, continued = [], False
    for line in text.splitlines():
        if continued or line.startswith("$ "):
            out.append(line[2:] if not continued else line)
            continued = line.rstrip().endswith("\\")
    return "\n".join(out) + "\n"


def blocks_of(text: str, page: str) -> list[Block]:
    found = []
    for token in MarkdownIt("commonmark").parse(text):
        if token.type != "fence":
            continue
        words = token.info.split()
        if not words or words[0] not in SHELL:
            continue
        script = console_commands(token.content) if words[0] == "console" else token.content
        found.append(Block(page, token.map[0] + 1, words[0], tuple(words[1:]), script))
    return found


def all_blocks() -> list[Block]:
    return [b for page in PAGES for b in blocks_of(page.read_text(encoding="utf-8"),
                                                    page.relative_to(ROOT).as_posix())]


BLOCKS = all_blocks()


def substitute(script: str) -> str:
    for pattern, replacement, _ in SUBSTITUTIONS:
        script = re.sub(pattern, replacement, script)
    return script


def _param(block: Block):
    marks = [getattr(pytest.mark, m) for m in block.markers if m in MARKERS]
    if block.commands in SKIPPED:
        marks.append(pytest.mark.skip(reason=SKIPPED[block.commands]))
    return pytest.param(block, marks=marks, id=str(block))


# --- the scratch copy -------------------------------------------------------------------------------
def repository_files() -> list[str]:
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    return sorted({f for f in listed if f and ((ROOT / f).is_file() or (ROOT / f).is_symlink())})


def scratch_copy(into: Path) -> Path:
    """The working tree's files (not what git ignores: no out/, .venv or built assignment), with their
    times, so that make sees the shared environment as up to date with pyproject.toml."""
    repo = into / "repo"
    for name in repository_files():
        target = repo / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target, follow_symlinks=False)
    (repo / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    shutil.copytree(SAMPLES, repo / "submissions")
    shutil.copy2(SAMPLES / "alice_correct.ipynb", repo / "submission.ipynb")
    with zipfile.ZipFile(repo / "submissions.zip", "w") as zf:
        for sample in sorted(SAMPLES.iterdir()):
            zf.write(sample, f"submissions/{sample.name}")
    (repo / "downloads").mkdir()
    for section in ("section-1.zip", "section-2.zip"):
        shutil.copy2(repo / "submissions.zip", repo / "downloads" / section)
    return repo


def environment(repo: Path, home: Path, page: str) -> dict[str, str]:
    venv_bin = str(Path(sys.prefix) / "bin")
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and Path(p).resolve() != Path(venv_bin).resolve()]
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTEST_ADDOPTS")
           and not k.startswith("PYTEST_")}
    env.update(ENVIRONMENT, HOME=str(home), PATH=os.pathsep.join(path))
    if page != "README.md":  # the manual's commands assume `. .venv/bin/activate`
        env.update(VIRTUAL_ENV=str(repo / ".venv"), PATH=os.pathsep.join([str(repo / ".venv" / "bin"), *path]))
    return env


@pytest.fixture(scope="module")
def environment_is_set_up() -> None:
    stamp = Path(sys.prefix) / ".installed"
    if not stamp.exists() or stamp.stat().st_mtime < (ROOT / "pyproject.toml").stat().st_mtime:
        pytest.fail(f"{sys.prefix} is not set up from this pyproject.toml: run `make setup` (make test does)")


def run_block(block: Block, tmp: Path) -> subprocess.CompletedProcess:
    repo = scratch_copy(tmp)
    home = tmp / "home"
    home.mkdir()
    script = tmp / "block.sh"
    script.write_text(substitute(block.script))
    log = tmp / "block.log"
    # Output to a file, not a pipe: what a block leaves in the background (a Dask scheduler) would
    # hold a pipe open; the block is over when its shell is.
    with open(log, "wb") as out:
        proc = subprocess.Popen(["bash", "--noprofile", "--norc", "-e", "-o", "pipefail", str(script)], cwd=repo,
                                env=environment(repo, home, block.page), stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        deadline, ended = time.monotonic() + TIMEOUT, False
        try:  # wait for the shell without reaping it: its pid, the group's id, stays taken until we do
            while not ended and time.monotonic() < deadline:
                ended = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
                if not ended:
                    time.sleep(0.05)
        finally:
            try:  # what the block left running: its own session's process group only
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            returncode = proc.wait()
    output = log.read_text(errors="replace") + ("" if ended else "\n(timed out)")
    return subprocess.CompletedProcess(proc.args, returncode if ended else -1, output, "")


@pytest.mark.parametrize("block", [_param(b) for b in BLOCKS])
def test_documented_commands_run(block: Block, tmp_path, environment_is_set_up):
    proc = run_block(block, tmp_path)
    assert proc.returncode == 0, (
        f"{block}: the documented block failed (exit {proc.returncode}); it ran as\n"
        f"{substitute(block.script)}\n--- output (end) ---\n{proc.stdout[-6000:]}")


# --- the rules the blocks follow ------------------------------------------------------------------------
def test_blocks_are_found_in_the_readme_and_every_page_with_commands():
    pages = {b.page for b in BLOCKS}
    assert {"README.md", "docs/grading.md", "docs/otter.md", "docs/scaling.md"} <= pages
    assert sum(b.page == "README.md" for b in BLOCKS) >= 3  # the quick starts


@pytest.mark.parametrize("block", BLOCKS, ids=str)
def test_every_block_marker_is_a_known_pytest_marker(block):
    assert set(block.markers) <= MARKERS, f"{block}: unknown words after the language: {block.markers}"


@pytest.mark.parametrize("block", BLOCKS, ids=str)
def test_no_block_is_usage_syntax(block):
    """Shell blocks are commands to paste: usage lines (`[OPTIONS]`, `[--jobs N]`) go in a `text` fence."""
    for line in block.script.splitlines():
        code = line.split("  #")[0]
        assert not re.search(r"\s\[-{1,2}\w|\[OPTIONS\]|\|\w+\]|<[a-z_]+>", code), f"{block}: {line!r}"


def test_every_skip_names_a_block_that_exists():
    commands = {b.commands for b in BLOCKS}
    assert set(SKIPPED) <= commands, f"skips for blocks no page has any more: {set(SKIPPED) - commands}"


def test_blocks_are_read_from_markdown_with_their_lines_and_markers():
    text = ("# t\n\n```sh\nmake grade\n```\n\ntext\n\n```sh docker\nactivation-grader grade x --sandbox docker\n```\n"
            "\n```python\nprint(1)\n```\n\n```console\n$ make test \\\n    -q\noutput line\n$ ls\n```\n"
            "\n```text\nactivation-grader grade PATH... [OPTIONS]\n```\n")
    found = blocks_of(text, "page.md")
    assert [(b.line, b.language, b.markers) for b in found] == [(3, "sh", ()), (9, "sh", ("docker",)),
                                                                   (17, "console", ())]
    assert found[2].script == "make test \\\n    -q\nls\n"
    assert str(found[1]) == "page.md:9"


def test_substitutions_scale_down_what_cannot_run_as_written():
    assert substitute("make bench BENCH_ARGS=\n") == "make bench BENCH_ARGS='--n 6 --otter-sample 1 --latency-sample 2'\n"
    assert substitute("make bench   # all\n").startswith("make bench BENCH_ARGS='--n 6")
    assert substitute("pip install '.[dask]'") == "pip install --dry-run '.[dask]'"


def test_a_failing_block_fails_with_its_page_and_line(tmp_path):
    block = Block("docs/example.md", 12, "sh", (), "true\nfalse\necho not reached\n")
    proc = run_block(block, tmp_path)
    assert proc.returncode == 1 and "not reached" not in proc.stdout


def test_a_pipeline_that_fails_fails_the_block(tmp_path):
    proc = run_block(Block("docs/example.md", 1, "sh", (), "false | cat\n"), tmp_path)
    assert proc.returncode != 0


def test_readme_blocks_start_without_the_environment_and_docs_blocks_with_it(tmp_path):
    readme = run_block(Block("README.md", 1, "sh", (), "! command -v activation-grader\ntest ! -e out\n"),
                       tmp_path / "a")
    assert readme.returncode == 0, readme.stdout
    docs = run_block(Block("docs/grading.md", 1, "sh", (), "command -v activation-grader\nls submissions/\n"
                           "cmp submission.ipynb samples/alice_correct.ipynb\nunzip -l submissions.zip\n"
                           "cmp downloads/section-2.zip submissions.zip\n"),
                     tmp_path / "b")
    assert docs.returncode == 0, docs.stdout
    assert docs.stdout.count("alice_correct.ipynb") == 2  # in the folder and in the zip
    assert "submissions/dave_damaged.ipynb" in docs.stdout


def test_what_a_block_leaves_running_is_ended_and_nothing_else(tmp_path):
    bystander = subprocess.Popen(["sleep", "300"])  # ours, started outside the block
    try:
        proc = run_block(Block("docs/example.md", 1, "sh", (), "sleep 300 &\necho $! > left.pid\n"), tmp_path)
        assert proc.returncode == 0, proc.stdout
        left = int((tmp_path / "repo" / "left.pid").read_text())
        for _ in range(100):  # killed at once; reaped by whoever adopted it
            status = Path(f"/proc/{left}/status")
            if not status.exists() or "\nState:\tZ" in status.read_text():
                break
            time.sleep(0.05)
        else:
            pytest.fail(f"the block's background process {left} is still running")
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


def test_the_readme_is_a_front_page_with_three_quick_starts_that_run():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 250
    headings = [(i + 1, line) for i, line in enumerate(text.splitlines()) if line.startswith("## ")]
    starts = [(line_no, h) for line_no, h in headings if h.startswith("## Quick start")]
    assert len(starts) == 3, starts
    readme_blocks = [b.line for b in BLOCKS if b.page == "README.md"]
    ends = [line_no for line_no, _ in headings]
    for line_no, heading in starts:
        end = min([e for e in ends if e > line_no], default=10**9)
        assert any(line_no < b < end for b in readme_blocks), f"{heading} shows no command"
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert f"(docs/{page.name})" in text, f"the README's map leaves out docs/{page.name}"
