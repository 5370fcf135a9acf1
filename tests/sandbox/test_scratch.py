"""Removing a job's directory (``grader.sandbox.worker.scratch``): any depth, few descriptors, bounded time, only
the tree itself; and the disk budget's measure. These build trees in the test's own temporary
directory and remove them; no attacker runs here (those run in throw-away containers and
namespaces: ``tests/sandbox/test_aftermath.py``)."""
from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import textwrap

import pytest

from conftest import ROOT
from grader.sandbox.worker.scratch import over_budget, remove_tree


def chain(top, depth: int, files_every: int = 0) -> None:
    """``depth`` nested directories below ``top``, made with mkdir + chdir as a job would."""
    here = os.open(".", os.O_RDONLY)
    try:
        os.chdir(top)
        for i in range(depth):
            os.mkdir("d")
            os.chdir("d")
            if files_every and i % files_every == 0:
                with open("f", "w") as f:
                    f.write("x")
    finally:
        os.fchdir(here)
        os.close(here)


def in_child(code: str, nofile: int) -> dict:
    """Run ``code`` (which sets ``result``) in a child whose open-files limit is ``nofile``."""
    program = textwrap.dedent(f"""
        import json, os, resource, sys, time
        sys.path.insert(0, {str(ROOT)!r})
        resource.setrlimit(resource.RLIMIT_NOFILE, ({nofile}, {nofile}))
        from grader.sandbox.worker.scratch import remove_tree, over_budget
        result = {{}}
    """) + inspect.getsource(chain) + textwrap.dedent(code) + "\nprint('RESULT', json.dumps(result))\n"
    proc = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.split("RESULT ", 1)[1])


@pytest.mark.parametrize("depth,nofile", [(3000, 1024), (3000, 32), (20000, 64)])
def test_a_deep_chain_is_removed_with_few_descriptors(tmp_path, depth, nofile):
    """Far below the open-files limit whatever the depth (shutil.rmtree recursed, the former
    cleanup held one descriptor a level): the limit here is far under the depth."""
    top = tmp_path / "job"
    top.mkdir()
    result = in_child(f"""
        chain({str(top)!r}, {depth}, files_every=500)
        before = len(os.listdir("/proc/self/fd"))
        result["left"] = remove_tree({str(top)!r}, seconds=120)
        result["fds"] = len(os.listdir("/proc/self/fd")) - before
    """, nofile)
    assert result == {"left": 0, "fds": 0}
    assert not top.exists()


def test_keep_top_empties_the_directory_and_keeps_it(tmp_path):
    top = tmp_path / "job"
    (top / "a" / "b").mkdir(parents=True)
    (top / "a" / "b" / "f").write_text("x")
    (top / "g").write_text("y")
    assert remove_tree(str(top), keep_top=True) == 0
    assert top.is_dir() and os.listdir(top) == []


def test_unreadable_and_unwritable_directories_are_removed(tmp_path):
    """A job may make its directories mode 000 or 500 (mkdir's mode needs no chmod)."""
    top = tmp_path / "job"
    top.mkdir()
    chain(top, 40)
    deep = top / "/".join(["d"] * 40)
    (deep / "locked").mkdir(mode=0o000)
    (deep / "ro").mkdir()
    (deep / "ro" / "f").write_text("x")
    os.chmod(deep / "ro", 0o500)
    os.chmod(top / "d" / "d", 0o500)  # unwritable, above the depth where subtrees are moved up
    assert remove_tree(str(top)) == 0
    assert not top.exists()


def test_only_the_tree_is_touched(tmp_path):
    """Links to the outside (to a directory, to a file, deep below) are removed as links: what they
    point to survives, as do the tree's siblings."""
    outside = tmp_path / "outside"
    (outside / "sub").mkdir(parents=True)
    (outside / "sub" / "keep.txt").write_text("keep me")
    sibling = tmp_path / "sibling.txt"
    sibling.write_text("keep me")
    top = tmp_path / "job"
    top.mkdir()
    chain(top, 100)
    deep = top / "/".join(["d"] * 100)
    for where in (top, deep):
        os.symlink(outside, where / "to-dir")
        os.symlink(outside / "sub" / "keep.txt", where / "to-file")
    assert remove_tree(str(top)) == 0
    assert not top.exists()
    assert (outside / "sub" / "keep.txt").read_text() == "keep me" and sibling.read_text() == "keep me"


def test_out_of_time_it_stops_and_says_so(tmp_path):
    top = tmp_path / "job"
    top.mkdir()
    chain(top, 200)
    left = remove_tree(str(top), seconds=0.0)
    assert left > 0 and top.exists()
    assert remove_tree(str(top)) == 0 and not top.exists()  # and a later call finishes the job


def test_a_missing_tree_is_nothing_to_do(tmp_path):
    assert remove_tree(str(tmp_path / "never-made")) == 0


def test_the_budget_counts_bytes_entries_depth_and_what_it_cannot_list(tmp_path):
    top = tmp_path / "job"
    (top / "tmp").mkdir(parents=True)
    (top / "tmp" / "a.png").write_bytes(b"\1" * 300_000)
    assert over_budget(str(top), 10 * 1024**2, 100) is None  # a normal job's directory
    (top / "big").write_bytes(b"\1" * (11 * 1024**2))
    assert "MiB of disk" in over_budget(str(top), 10 * 1024**2, 100)
    assert over_budget(str(top), 100 * 1024**2, 100) is None
    sparse = top / "sparse"  # what counts is what is allocated, not a file's apparent size
    with open(sparse, "wb") as f:
        f.truncate(1024**3)
    assert over_budget(str(top), 100 * 1024**2, 100) is None
    for i in range(120):
        (top / f"f{i}").touch()
    assert "files and directories" in over_budget(str(top), 100 * 1024**2, 100)
    assert over_budget(str(top), 100 * 1024**2, 1000) is None
    chain(top / "tmp", 40)
    assert "nested more than 32 deep" in over_budget(str(top), 100 * 1024**2, 1000)
    remove_tree(str(top / "tmp"))
    if os.geteuid() != 0:  # (root lists it anyway)
        (top / "hidden").mkdir(mode=0o300)
        assert "cannot list" in over_budget(str(top), 100 * 1024**2, 1000)
    assert over_budget(str(tmp_path / "gone"), 1, 1) is None


def test_closing_a_worker_removes_a_deep_leftover_and_never_raises(tmp_path):
    """What the zygote could not remove (a chain left when it was killed mid-cleanup) is removed
    when the grader closes the worker: shutil.rmtree recursed once (RecursionError), which left
    the slot broken. The worker is only launched (never given a job); bystanders of our uid
    survive."""
    from grader.sandbox.process import Zygote

    bystander = subprocess.Popen(["sleep", "60"])
    kept = tmp_path / "bystander.txt"
    kept.write_text("keep me")
    try:
        zygote = Zygote(mode="none")
        zygote.launch()
        made = list(zygote._dirs)
        leftover = os.path.join(made[-1], "job-1")
        os.mkdir(leftover)
        chain(leftover, 3000)
        os.symlink(tmp_path, os.path.join(leftover, "to-outside"))
        zygote.close()
        assert not any(os.path.lexists(d) for d in made)
        assert zygote.proc is None and zygote._dirs == []
        assert bystander.poll() is None and kept.read_text() == "keep me"
    finally:
        bystander.kill()
        bystander.wait()
