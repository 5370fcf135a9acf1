"""Seeds: from the content, from --seed, or from a secret's pool; cached plans grade as fresh ones."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from grader.pipeline import grading
from grader.pipeline import plans as plan_cache
from grader.pipeline.grading import grade
from grader.pipeline.tasks import Options, seed_of, task_key
from grader.pipeline.plans import build_plans, cached_plans
from grader.pipeline.warm import close_workers
from grader.rubric.probes import DEFAULT_SEED_POOL, SEED_SECRET_ENV, pool_seed, submission_seed
from grader.sandbox.process import Limits

from conftest import ROOT
from variants import variant

GOLDEN = ROOT / "tests" / "golden"
CONTENTS = [f"# student {i}\n".encode() for i in range(400)]
LIMITS = Limits(timeout=30, step_timeout=5)


def test_without_a_secret_the_seed_is_the_content_hash_as_before():
    for content in CONTENTS[:20]:
        want = int.from_bytes(hashlib.sha256(content).digest()[:4], "little")
        assert submission_seed(content) == want == seed_of(content, Options())
    assert len({submission_seed(c) for c in CONTENTS}) == len(CONTENTS)  # no pool without a secret


def test_same_content_and_secret_give_the_same_seed():
    for content in CONTENTS[:50]:
        assert submission_seed(content, secret="s3cret") == submission_seed(bytes(content), secret=b"s3cret")
        assert seed_of(content, Options(seed_secret="s3cret")) == submission_seed(content, secret="s3cret")


def test_seed_n_wins_over_a_secret():
    assert submission_seed(CONTENTS[0], 7, secret="s3cret") == 7
    assert seed_of(CONTENTS[1], Options(seed=7, seed_secret="s3cret")) == 7


@pytest.mark.parametrize("pool", [1, 8, DEFAULT_SEED_POOL])
def test_the_pool_size_is_respected(pool):
    seeds = [submission_seed(c, secret="s3cret", pool=pool) for c in CONTENTS]
    assert set(seeds) == {pool_seed("s3cret", i) for i in range(pool)}  # every seed of the pool, no other
    counts = np.bincount([sorted(set(seeds)).index(s) for s in seeds])
    assert counts.min() >= len(CONTENTS) / pool / 3  # roughly uniform over the pool


def test_a_pool_needs_a_seed():
    with pytest.raises(ValueError, match="at least one seed"):
        submission_seed(CONTENTS[0], secret="s3cret", pool=0)


def test_another_secret_gives_another_pool_and_another_draw():
    a = [submission_seed(c, secret="secret A") for c in CONTENTS]
    b = [submission_seed(c, secret="secret B") for c in CONTENTS]
    assert not set(a) & set(b)  # the pools themselves differ
    index = lambda seeds, secret: [[pool_seed(secret, i) for i in range(DEFAULT_SEED_POOL)].index(s)  # noqa: E731
                                   for s in seeds]
    same_slot = np.mean(np.array(index(a, "secret A")) == np.array(index(b, "secret B")))
    assert same_slot < 0.15  # which slot a content gets depends on the secret (chance: 1/32)
    plain = {submission_seed(c) for c in CONTENTS}
    assert not plain & set(a)  # and neither is the public content-hash seed


def test_different_contents_under_a_secret_mostly_differ():
    seeds = [submission_seed(c, secret="s3cret") for c in CONTENTS[:100]]
    pairs = [(i, j) for i in range(100) for j in range(i + 1, 100)]
    shared = sum(seeds[i] == seeds[j] for i, j in pairs) / len(pairs)
    assert shared < 3 / DEFAULT_SEED_POOL


def test_the_key_follows_the_secret():
    content = CONTENTS[3]
    assert task_key(content, Options(seed_secret="a")) == task_key(content, Options(seed_secret="a"))
    assert task_key(content, Options(seed_secret="a")) != task_key(content, Options(seed_secret="b"))
    assert task_key(content, Options(seed_secret="a")) != task_key(content, Options())


def test_cached_plans_are_read_only_and_shared():
    plan_cache._plan_cache.clear()
    plans, hit = cached_plans(11)
    again, hit_again = cached_plans(11)
    assert (hit, hit_again) == (False, True) and again is plans
    arrays = [v for plan in plans.values() for v in plan.expected.values() if isinstance(v, np.ndarray)]
    assert arrays and not any(a.flags.writeable for a in arrays)
    with pytest.raises(ValueError):
        arrays[0][...] = 0


def _grade(path: Path, options: Options, content: bytes | None = None) -> dict:
    content = path.read_bytes() if content is None else content
    return grade({"name": path.name, "content": content, "options": options.to_dict()})


def _scores(record: dict) -> dict:
    return {q: (e["score"], [(c["name"], c["points"], c["message"]) for c in e["criteria"]])
            for q, e in record["exercises"].items()}


@pytest.mark.parametrize("name", ["solution.py", "wrong_q3_q5_q7_q10.py"])
def test_cached_plans_grade_exactly_as_fresh_ones(name, monkeypatch):
    path, content = GOLDEN / name, variant(name).encode()
    options = Options(seed_secret="s3cret", limits=LIMITS)
    plan_cache._plan_cache.clear()
    try:
        first, second = _grade(path, options, content), _grade(path, options, content)
        assert (first["provenance"]["cpu"]["plans_cached"], second["provenance"]["cpu"]["plans_cached"]) == (False,
                                                                                                           True)
        assert first["provenance"]["seed"] == second["provenance"]["seed"] == seed_of(content, options)
        monkeypatch.setattr(grading, "cached_plans", lambda seed: (build_plans(seed), False))
        fresh = _grade(path, options, content)
    finally:
        close_workers()
    assert not fresh["provenance"]["cpu"]["plans_cached"]
    assert _scores(first) == _scores(second) == _scores(fresh)
    assert first["score"] == fresh["score"] and (first["score"] == 100) == (name == "solution.py")


def test_a_result_says_where_its_cpu_went_and_never_holds_the_secret():
    try:
        record = _grade(GOLDEN / "solution.py", Options(seed_secret="never-shown-1234", limits=LIMITS))
    finally:
        close_workers()
    cpu = record["provenance"]["cpu"]
    trusted, child = cpu["trusted"], cpu["child"]
    assert set(trusted) == {"read", "plans", "send", "frames", "decode", "checks", "total"}
    assert all(isinstance(v, float) and v >= 0 for v in trusted.values())
    assert trusted["total"] >= trusted["plans"] + trusted["checks"] > 0
    assert set(child) == {"setup", "cells", "calls", "encode", "total", "isolation", "zygote"}
    assert child["calls"] > 0 and child["total"] >= child["calls"] + child["encode"]
    assert "never-shown-1234" not in json.dumps(record)


def test_the_command_takes_the_secret_from_the_option_or_the_environment(tmp_path):
    sub = tmp_path / "subs"
    sub.mkdir()
    for i in range(3):
        (sub / f"s{i}.py").write_text((GOLDEN / "solution.py").read_text() + f"\n# student {i}\n")
    cli = [sys.executable, "-m", "grader", "grade", str(sub), "--quiet", "--no-report", "--jobs", "1"]
    env = {k: v for k, v in os.environ.items() if k != SEED_SECRET_ENV}
    runs = {"option": ([*cli, "--out", str(tmp_path / "a"), "--seed-secret", "s3cret"], env),
            "environment": ([*cli, "--out", str(tmp_path / "b")], {**env, SEED_SECRET_ENV: "s3cret"}),
            "none": ([*cli, "--out", str(tmp_path / "c")], env)}
    seeds = {}
    for how, (cmd, e) in runs.items():
        proc = subprocess.run(cmd, capture_output=True, text=True, env=e, cwd=ROOT)
        assert proc.returncode == 0, proc.stderr
        out = Path(cmd[cmd.index("--out") + 1])
        seeds[how] = {}
        for i in range(3):
            text = (out / "results" / f"s{i}.json").read_text()
            assert "s3cret" not in text and "s3cret" not in (out / "feedback" / f"s{i}.md").read_text()
            seeds[how][i] = json.loads(text)["extra_data"]["provenance"]["seed"]
    want = {i: submission_seed((sub / f"s{i}.py").read_bytes(), secret="s3cret") for i in range(3)}
    assert seeds["option"] == seeds["environment"] == want
    assert seeds["none"] == {i: submission_seed((sub / f"s{i}.py").read_bytes()) for i in range(3)}
