"""The worker's configuration is one schema (``grader/sandbox/worker/config.py``): typed and
documented fields, a JSON round trip that refuses what does not follow it (naming the field), one
builder for both sandboxes, and no string-keyed read of it anywhere else in the sandbox.

Nothing here runs student code: the one worker started (``none`` mode) is given a broken
configuration and must refuse to start.
"""
from __future__ import annotations

import ast
import dataclasses
import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from grader.sandbox.docker import READABLE, DockerWorker
from grader.sandbox.process import Limits, WorkerDied, Zygote, worker_config
from grader.sandbox.worker.config import KINDS, MODES, PRELOAD, STRINGS, ConfigError, WorkerConfig

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "grader" / "sandbox" / "worker" / "config.py"
FIELDS = dataclasses.fields(WorkerConfig)


# --- the schema itself ------------------------------------------------------------------------------
def test_every_field_has_a_kind_and_a_comment_saying_what_it_is_for():
    lines = SCHEMA.read_text().splitlines()
    tree = ast.parse(SCHEMA.read_text())
    (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "WorkerConfig"]
    declared = [n for n in cls.body if isinstance(n, ast.AnnAssign)]
    assert [n.target.id for n in declared] == [f.name for f in FIELDS]
    for node in declared:
        assert ast.unparse(node.annotation) in KINDS, node.target.id
        assert lines[node.lineno - 2].strip().startswith("#:"), f"{node.target.id} has no #: comment above it"


def test_a_field_of_a_kind_the_schema_does_not_know_is_refused():
    @dataclasses.dataclass(frozen=True)
    class Wider(WorkerConfig):
        ratio: float = 0.5

    with pytest.raises(TypeError, match="Wider.ratio: the schema has no kind 'float'"):
        Wider(**_valid())


def _valid(**changes) -> dict:
    base = {"mode": "uid", "uid": 61000, "gid": 61000, "scratch_base": "/scratch", "memory_bytes": 1 << 30,
            "cpu_seconds": 65, "file_bytes": 1 << 26, "tmpfs_bytes": 1 << 28, "nproc": 64}
    return {**base, **changes}


# --- the round trip ----------------------------------------------------------------------------------
PATHS = st.lists(st.text(min_size=1, max_size=30), max_size=5).map(tuple)
SIZES = st.integers(min_value=0, max_value=1 << 62)


@st.composite
def configs(draw) -> WorkerConfig:
    return WorkerConfig(
        mode=draw(st.sampled_from(MODES)), uid=draw(st.integers(0, 1 << 31)), gid=draw(st.integers(0, 1 << 31)),
        scratch_base=draw(st.text(max_size=40)), memory_bytes=draw(SIZES), cpu_seconds=draw(st.integers(1, 10**6)),
        file_bytes=draw(SIZES), tmpfs_bytes=draw(SIZES), nproc=draw(st.integers(1, 1 << 20)),
        disk_bytes=draw(SIZES), disk_entries=draw(st.integers(0, 10**7)), new_root=draw(st.text(max_size=40)),
        allow=draw(PATHS), hide=draw(PATHS), etc=draw(PATHS), read=draw(PATHS), listable=draw(PATHS),
        preload=draw(PATHS))


@settings(max_examples=200, deadline=None)
@given(configs())
def test_every_configuration_survives_its_json(config):
    text = config.to_json()
    again = WorkerConfig.from_json(text)
    assert again == config
    assert again.to_json() == text
    assert WorkerConfig.from_json(text.encode("utf-8")) == config  # as the worker reads it: bytes


def test_fields_with_a_default_may_be_left_out():
    config = WorkerConfig.from_json(json.dumps(_valid()))
    assert (config.disk_bytes, config.disk_entries, config.preload, config.allow) == (0, 20000, PRELOAD, ())


@pytest.mark.parametrize("data, field", [
    (_valid(extra=1), "unknown key 'extra'"),
    ({k: v for k, v in _valid().items() if k != "memory_bytes"}, "memory_bytes is missing"),
    (_valid(uid="61000"), "uid must be int, not str"),
    (_valid(nproc=True), "nproc must be int, not bool"),
    (_valid(memory_bytes=1.5), "memory_bytes must be int, not float"),
    (_valid(scratch_base=None), "scratch_base must be str, not NoneType"),
    (_valid(allow="/usr"), f"allow must be {re.escape(STRINGS)}, not str"),
    (_valid(read=["/usr", 3]), f"read must be {re.escape(STRINGS)}, not tuple"),
    (_valid(mode="auto"), "mode must be one of root, userns, uid, landlock, none, not 'auto'"),
])
def test_what_does_not_follow_the_schema_is_refused_by_name(data, field):
    with pytest.raises(ConfigError, match=field):
        WorkerConfig.from_json(json.dumps(data))


@pytest.mark.parametrize("text", ["[1, 2]", "not json", '"mode"'])
def test_what_is_not_a_json_object_is_refused(text):
    with pytest.raises(ConfigError, match="worker configuration: "):
        WorkerConfig.from_json(text)


def test_the_trusted_side_cannot_build_a_wrong_one_either():
    with pytest.raises(ConfigError, match="cpu_seconds must be int"):
        WorkerConfig(**_valid(cpu_seconds="65"))
    with pytest.raises(ConfigError, match="mode must be one of"):
        worker_config(Limits(), "auto", 61000, "/tmp/x", read=())


# --- one builder for both sandboxes, the wire as before ---------------------------------------------
def test_both_sandboxes_build_it_in_one_place_with_their_differences_as_arguments():
    limits = Limits(memory_bytes=3 << 30, file_bytes=5 << 20, tmpfs_bytes=7 << 20, nproc=33, disk_entries=999)
    zygote = Zygote(0, limits, "none")
    try:
        host = zygote.config()
    finally:
        zygote.close()
    docker = DockerWorker(2, limits).config()
    for config in (host, docker):
        assert (config.memory_bytes, config.cpu_seconds, config.file_bytes, config.tmpfs_bytes) == (
            3 << 30, limits.cpu_seconds, 5 << 20, 7 << 20)
        assert config.gid == config.uid and config.preload == PRELOAD
        assert WorkerConfig.from_json(config.to_json()) == config
    assert (host.mode, host.nproc, host.disk_bytes, host.disk_entries) == ("none", 33, 7 << 20, 999)
    assert host.new_root and host.allow and host.hide and host.etc  # what a namespaced zygote needs
    assert (docker.mode, docker.uid, docker.scratch_base, docker.read) == ("uid", 61002, "/scratch", tuple(READABLE))
    assert (docker.nproc, docker.disk_bytes, docker.new_root, docker.allow) == (4096, 0, "", ())


def test_configurations_as_the_two_sandboxes_wrote_them_before_the_schema_still_read_the_same():
    """The wire is unchanged in effect: the dicts each sandbox used to send are read into the values
    the worker used (a key the Docker sandbox left out takes the default it fell back to)."""
    host = {"mode": "root", "uid": 61005, "gid": 61005, "new_root": "/tmp/r", "scratch_base": "/tmp/s",
            "allow": ["/usr"], "hide": ["/src/grader"], "etc": ["/etc/ld.so.cache"], "read": ["/usr"],
            "listable": [], "preload": list(PRELOAD), "memory_bytes": 1 << 31, "cpu_seconds": 65,
            "file_bytes": 1 << 26, "tmpfs_bytes": 1 << 28, "nproc": 64, "disk_bytes": 1 << 28, "disk_entries": 20000}
    docker = {"mode": "uid", "uid": 61000, "gid": 61000, "read": ["/usr"], "listable": [], "scratch_base": "/scratch",
              "preload": list(PRELOAD), "memory_bytes": 1 << 31, "cpu_seconds": 65, "file_bytes": 1 << 26,
              "tmpfs_bytes": 1 << 28, "nproc": 4096}
    for old in (host, docker):
        config = WorkerConfig.from_json(json.dumps(old))
        for key, value in old.items():
            assert getattr(config, key) == (tuple(value) if isinstance(value, list) else value), key
    config = WorkerConfig.from_json(json.dumps(docker))
    assert (config.disk_bytes, config.disk_entries, config.etc) == (0, 20000, ())  # was .get("disk_bytes"): none


def test_a_worker_given_a_configuration_off_the_schema_does_not_start_and_says_why(monkeypatch):
    import grader.sandbox.process as process

    def off_schema(config: WorkerConfig) -> bytes:
        data = json.dumps({**json.loads(config.to_json()), "landlock_abi": 6}).encode()
        return process.HEADER.pack(len(data)) + data

    monkeypatch.setattr(process, "config_frame", off_schema)
    zygote = Zygote(0, Limits(), "none")
    try:
        with pytest.raises(WorkerDied) as died:
            zygote.start()
        assert "unknown key 'landlock_abi'" in str(died.value) + zygote.log_tail()
    finally:
        zygote.close()


# --- no string-keyed read of the configuration outside its schema ------------------------------------
CONFIG_NAME = re.compile(r"^_?(config|cfg|conf|settings|worker_config)$")


def _is_config(node: ast.AST) -> bool:
    """A name for the worker's configuration: ``config``, ``cfg``, ``self.config``, ``self.config()``..."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Name):
        return bool(CONFIG_NAME.match(node.id))
    return isinstance(node, ast.Attribute) and bool(CONFIG_NAME.match(node.attr))


def string_keyed_reads(source: str) -> list[str]:
    """Every ``config["key"]``, ``config.get("key")`` (``setdefault``, ``pop``) or ``"key" in config``
    on a configuration-like name, as ``line: code``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        hit = (isinstance(node, ast.Subscript) and _is_config(node.value)
               or isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
               and node.func.attr in ("get", "setdefault", "pop", "__getitem__") and _is_config(node.func.value)
               or isinstance(node, ast.Compare) and any(isinstance(op, (ast.In, ast.NotIn)) for op in node.ops)
               and any(_is_config(c) for c in node.comparators))
        if hit:
            found.append(f"{node.lineno}: {ast.unparse(node)}")
    return found


@pytest.mark.parametrize("code", [
    'config["mode"]', "cfg['uid']", 'config.get("disk_entries", 20000)', 'self.config()["scratch_base"]',
    'conf.setdefault("seccomp", True)', 'x = self._config["read"]', '"rebind" in config',
    'settings.get("nproc")', 'worker_config(limits)["mode"]',
])
def test_the_check_finds_a_string_keyed_read(code):
    (hit,) = string_keyed_reads(code)
    assert hit.startswith("1: ") and ast.dump(ast.parse(hit[3:], mode="eval").body) in ast.dump(ast.parse(code))


@pytest.mark.parametrize("code", ['config.mode', 'config.disk_entries', 'state.get("Running")', 'job["chunks"]',
                                  'self.config().scratch_base', 'isolation.landlock_abi'])
def test_the_check_leaves_reads_by_attribute_and_other_dicts_alone(code):
    assert string_keyed_reads(code) == []


def test_no_string_keyed_read_of_the_worker_configuration_outside_its_schema():
    found = {}
    for path in sorted((ROOT / "grader" / "sandbox").rglob("*.py")):
        if path != SCHEMA:
            hits = string_keyed_reads(path.read_text())
            if hits:
                found[str(path.relative_to(ROOT))] = hits
    assert not found, f"read the worker's configuration by attribute (config.<field>), not by key: {found}"


def test_the_check_would_have_found_the_reads_before_the_schema():
    """The worker as it was (``config["mode"]`` and ``config.get(...)`` in its parts): the check finds them."""
    before = '''
def serve_job(size, config):
    watch = job_dir(config, pid) if config.get("disk_bytes") and config["mode"] not in NAMESPACED else None
    over = over_budget(watch, config["disk_bytes"], config.get("disk_entries", 20000), held=held or 0)
'''
    assert sorted(hit.split(":")[0] for hit in string_keyed_reads(before)) == ["3", "3", "4", "4"]
