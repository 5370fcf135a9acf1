"""``uid`` mode's file permissions for the job's uid alone (grader.sandbox.job_access), on files of the test's
own (pytest's tmp_path): a runtime in a 0700 directory becomes reachable for that uid, and only
the runtime; a secret it could read is hidden from it; a world-writable place where a later process
would import what it finds loses "write" for it. Each is checked from a process that really runs as
that uid, next to another uid (a bystander) for which nothing changed, and everything is put back
exactly as it was afterwards. Needs root (to change uid), as ``uid`` mode does."""
from __future__ import annotations

import os
import stat

import pytest

from grader.sandbox.isolation import IsolationUnavailable
from grader.sandbox.job_access import ACL_ACCESS, arrange, read_acl, set_user_entry

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="uid mode, and these checks, need root")
JOB, OTHER = 64990, 64991


def as_uid(uid: int, action) -> bool:
    """Whether ``action()`` succeeds in a forked process running as ``uid`` (no groups)."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            action()
            code = 0
        except BaseException:
            pass
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.WEXITSTATUS(status) == 0


def snapshot(paths) -> dict:
    out = {}
    for p in paths:
        try:
            acl = os.getxattr(p, ACL_ACCESS)
        except OSError:
            acl = None
        out[str(p)] = (stat.S_IMODE(os.stat(p).st_mode), acl)
    return out


@pytest.fixture
def private_root(tmp_path):
    """``home`` (0700, like /root) holding a runtime (``home/miniforge/lib/mod.py``) and a private file."""
    tmp_path.chmod(0o755)
    home = tmp_path / "home"
    runtime = home / "miniforge"
    (runtime / "lib").mkdir(parents=True)
    (runtime / "lib" / "mod.py").write_text("x = 1\n")
    (home / "notes.txt").write_text("private\n")
    (home / "notes.txt").chmod(0o600)
    home.chmod(0o700)
    return home, runtime


def test_a_runtime_in_a_0700_directory_becomes_readable_for_the_job_uid_only(private_root):
    home, runtime = private_root
    before = snapshot([home, runtime, runtime / "lib"])
    module = runtime / "lib" / "mod.py"
    assert not as_uid(JOB, lambda: open(module).read())  # as today: `uid` mode could not run there
    access = arrange(JOB, [str(runtime)], [], without_landlock=False)
    try:
        assert as_uid(JOB, lambda: open(module).read())
        assert not as_uid(JOB, lambda: os.listdir(home)), "the job may search /root, never list it"
        assert not as_uid(JOB, lambda: open(home / "notes.txt").read())
        assert not as_uid(OTHER, lambda: open(module).read()), "another uid gained access"
        assert stat.S_IMODE(home.stat().st_mode) & 0o007 == 0
    finally:
        access.revoke()
    assert snapshot([home, runtime, runtime / "lib"]) == before
    assert not as_uid(JOB, lambda: open(module).read())


def test_without_landlock_a_readable_secret_is_hidden_from_the_job_uid(tmp_path):
    tmp_path.chmod(0o755)
    site = tmp_path / "site-packages"
    (site / "numpy").mkdir(parents=True)
    (site / "numpy" / "__init__.py").write_text("")
    (site / "reference").mkdir()
    (site / "reference" / "keys.py").write_text("KEY = 42\n")
    secret = site / "reference" / "keys.py"
    before = snapshot([site, site / "reference"])
    bystander = arrange(OTHER, [str(site)], [], without_landlock=False)  # (pytest's tmp is 0700)
    access = arrange(JOB, [str(site)], [str(site / "reference")], without_landlock=True)
    try:
        assert not as_uid(JOB, lambda: open(secret).read())
        assert as_uid(JOB, lambda: open(site / "numpy" / "__init__.py").read())
        assert as_uid(OTHER, lambda: open(secret).read()), "the bystander uid lost access"
    finally:
        access.revoke()
        bystander.revoke()
    assert snapshot([site, site / "reference"]) == before
    # with Landlock the secret is out of the job's sight already: nothing is changed for it
    access = arrange(JOB, [str(site)], [str(site / "reference")], without_landlock=False)
    assert str(site / "reference") not in access.changed
    access.revoke()
    assert snapshot([site, site / "reference"]) == before


def test_without_landlock_the_job_uid_cannot_plant_where_a_later_process_imports(tmp_path, monkeypatch):
    """A world-writable site-packages (and IPython directory below a world-writable home): the job's
    uid can write to neither; another uid still can (nothing of theirs changed)."""
    tmp_path.chmod(0o755)
    site = tmp_path / "site-packages"
    site.mkdir()
    site.chmod(0o777)
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o1777)
    monkeypatch.setattr("sys.path", [str(site)])
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("IPYTHONDIR", raising=False)
    before = snapshot([site, home])
    bystander = arrange(OTHER, [str(site)], [], without_landlock=False)
    access = arrange(JOB, [str(site)], [], without_landlock=True)
    try:
        assert not as_uid(JOB, lambda: open(site / "evil.pth", "w").write("import os\n"))
        assert not as_uid(JOB, lambda: open(site / "sitecustomize.py", "w").write("x = 1\n"))
        assert not as_uid(JOB, lambda: os.makedirs(home / ".ipython" / "profile_default" / "startup"))
        assert as_uid(OTHER, lambda: open(site / "theirs.pth", "w").write("\n"))
    finally:
        access.revoke()
        bystander.revoke()
    assert snapshot([site, home]) == before
    assert not (site / "evil.pth").exists() and not (home / ".ipython").exists()


def test_an_entry_that_cannot_be_set_refuses_the_mode(private_root, monkeypatch):
    """A filesystem without ACLs: the runtime stays unreachable, so ``uid`` mode is refused (never a
    weaker mode), and nothing set before the failure is left behind."""
    home, runtime = private_root
    before = snapshot([home, runtime])

    def unsupported(*args, **kwargs):
        raise OSError(95, "Operation not supported")

    monkeypatch.setattr(os, "setxattr", unsupported)
    with pytest.raises(IsolationUnavailable, match="install Python where every user can read it"):
        arrange(JOB, [str(runtime)], [], without_landlock=False)
    assert snapshot([home, runtime]) == before


def test_two_uids_entries_coexist_and_each_revoke_removes_only_its_own(private_root):
    home, runtime = private_root
    mine = arrange(JOB, [str(runtime)], [], without_landlock=False)
    theirs = arrange(OTHER, [str(runtime)], [], without_landlock=False)
    mine.revoke()
    assert {e[2] for e in read_acl(str(home)) if e[0] == 2} == {OTHER}
    assert as_uid(OTHER, lambda: open(runtime / "lib" / "mod.py").read())
    assert not as_uid(JOB, lambda: open(runtime / "lib" / "mod.py").read())
    theirs.revoke()
    assert read_acl(str(home)) == [(1, 7, 0xFFFFFFFF), (4, 0, 0xFFFFFFFF), (32, 0, 0xFFFFFFFF)]
    set_user_entry(str(home), JOB, None)  # removing what is not there changes nothing
    assert stat.S_IMODE(home.stat().st_mode) == 0o700


def test_a_worker_that_cannot_arrange_uid_mode_refuses_to_start_and_leaves_nothing(monkeypatch):
    """``uid`` mode whose arrangement fails: the worker does not start (IsolationUnavailable, never a
    weaker mode) and its directories and uid claim are released."""
    import glob

    import grader.sandbox.process as sandbox

    def refuse(*args, **kwargs):
        raise IsolationUnavailable("isolation 'uid' could not let search /root")

    monkeypatch.setattr(sandbox, "arrange", refuse)
    before = set(glob.glob("/tmp/activation-grader-*"))
    zygote = sandbox.Zygote(0, sandbox.Limits(), "uid")
    with pytest.raises(IsolationUnavailable, match="could not let search"):
        zygote.start()
    assert zygote.proc is None and zygote._uid_claim is None
    assert set(glob.glob("/tmp/activation-grader-*")) <= before
