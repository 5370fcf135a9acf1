"""Static shards: --shard I/N, merging the shards, and the SLURM / Kubernetes examples (as text)."""
from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml
from click.testing import CliRunner

from grader.pipeline import batch
from grader.interfaces.cli import main
from grader.pipeline.executors import InlineExecutor
from grader.pipeline.tasks import Options
from grader.pipeline.merge import merge_shards
from grader.rubric.record import SubmissionRecord
from grader.reports.files import read_record

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden" / "solution.py"
SBATCH = ROOT / "examples" / "slurm" / "grade-array.sbatch"
INDEXED_JOB = ROOT / "examples" / "kubernetes" / "indexed-job.yaml"
MERGE_JOB = ROOT / "examples" / "kubernetes" / "merge-job.yaml"
BIN = Path(sys.executable).parent


def make_submissions(root: Path) -> Path:
    """The golden solution and variants: blank (twice), partly wrong, a notebook, a broken notebook."""
    text = GOLDEN.read_text()
    subs = root / "submissions"
    (subs / "late").mkdir(parents=True)
    (subs / "solution.py").write_text(text)
    (subs / "blank.py").write_text("")
    (subs / "blank-copy.py").write_text("")
    (subs / "partly_wrong.py").write_text(text.replace("return s * (1.0 - s)", "return s", 1))
    (subs / "broken.ipynb").write_text('{"cells": [')
    cells = [nbformat.v4.new_code_cell(c.strip()) for c in text.split("# %%") if c.strip()]
    (subs / "notebook.ipynb").write_text(nbformat.writes(nbformat.v4.new_notebook(cells=cells)))
    (subs / "late" / "solution.py").write_text(text.replace("def softmax(", "def softmax_(", 1))
    return subs


def comparable(record: SubmissionRecord) -> dict:
    """A record without what legitimately differs between two runs (time, executor)."""
    record = json.loads(json.dumps(record.to_dict()))
    for field in ("seconds", "cpu", "graded_at", "executor"):
        record["provenance"].pop(field, None)
    return record


def assert_same_output(a: Path, b: Path) -> None:
    assert (a / "final_grades.csv").read_text() == (b / "final_grades.csv").read_text()
    names = sorted(p.name for p in (a / "results").glob("*.json"))
    assert names == sorted(p.name for p in (b / "results").glob("*.json"))
    for name in names:
        assert comparable(read_record(a / "results" / name)) == comparable(read_record(b / "results" / name)), name
        stem = name[: -len(".json")]
        assert (a / "feedback" / f"{stem}.md").read_text() == (b / "feedback" / f"{stem}.md").read_text()


@pytest.fixture(scope="module")
def inline():
    executor = InlineExecutor()
    yield executor
    executor.shutdown()


def test_shard_of_partitions_in_sorted_order():
    items = list(range(10))
    parts = [batch.shard_of(items, (i, 3)) for i in range(3)]
    assert parts == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]
    assert sorted(sum(parts, [])) == items
    assert batch.shard_of(items, None) == items
    assert batch.shard_of(items, (0, 1)) == items


def test_three_shards_merged_equal_the_unsharded_run(tmp_path, inline, monkeypatch):
    monkeypatch.setattr("grader.reports.classreport.write_report", lambda out, **_: Path(out) / "report.html")
    subs = make_submissions(tmp_path)
    options = Options(seed=11)
    full = batch.run([subs], tmp_path / "full", options, executor=inline, progress=False)
    assert len(full.records) == 7 and full.graded == 7
    statuses = {r.file: r.status for r in full.records}
    assert statuses["broken.ipynb"] == "invalid-notebook" and statuses["solution.py"] == "graded"
    scores = {r.file: r.score for r in full.records}
    assert scores["solution.py"] == scores["notebook.ipynb"] > scores["partly_wrong.py"] > scores["blank.py"]
    assert scores["late/solution.py"] < scores["solution.py"]

    shards = []
    for i in range(3):
        part = batch.run([subs], tmp_path / f"shard-{i}", options, executor=inline, shard=(i, 3), progress=False)
        shards.append(tmp_path / f"shard-{i}")
        assert [r.file for r in part.records] == [r.file for r in batch.shard_of(full.records, (i, 3))]
    merged = merge_shards(shards, tmp_path / "all")
    assert not merged.duplicates and not merged.warnings
    assert_same_output(tmp_path / "full", tmp_path / "all")

    # a shard run again reuses everything it finished
    again = batch.run([subs], shards[1], options, executor=inline, shard=(1, 3), progress=False)
    assert again.graded == 0 and again.reused == len(again.records)


def test_names_that_share_a_file_stem_keep_their_names_and_stems_across_shards_and_merge(tmp_path, inline):
    subs = tmp_path / "submissions"
    subs.mkdir()
    for name, body in (("a b.py", "x = 1\n"), ("a_b.py", "x = 2\n"), ("a?b.py", "x = 3\n")):
        (subs / name).write_text(body)
    options = Options(seed=11)
    full = batch.run([subs], tmp_path / "full", options, executor=inline, progress=False)
    assert [(e.file, e.stem) for e in full.entries] == [("a b.py", "a_b"), ("a?b.py", "a_b-2"), ("a_b.py", "a_b-3")]
    shards = [tmp_path / f"shard-{i}" for i in range(2)]
    for i, shard in enumerate(shards):
        batch.run([subs], shard, options, executor=inline, shard=(i, 2), progress=False)
    assert sorted(p.name for p in (shards[1] / "results").iterdir()) == ["a_b-2.json"]
    merged = merge_shards(shards, tmp_path / "all", submissions=[subs], report=False)
    assert not merged.missing and not merged.duplicates
    assert (tmp_path / "all" / "final_grades.csv").read_text() == (tmp_path / "full" / "final_grades.csv").read_text()
    for stem in ("a_b", "a_b-2", "a_b-3"):
        assert read_record(tmp_path / "all" / "results" / f"{stem}.json").file == \
            read_record(tmp_path / "full" / "results" / f"{stem}.json").file


@pytest.mark.parametrize("env", [{"JOB_COMPLETION_INDEX": "1"}, {"SLURM_ARRAY_TASK_ID": "1"}])
def test_the_shard_comes_from_the_environment(tmp_path, env, monkeypatch):
    subs = tmp_path / "submissions"
    subs.mkdir()
    for name in ("a.py", "b.py", "c.py", "d.py"):
        (subs / name).write_text(f"x = {name[0]!r}\n")
    for var in ("JOB_COMPLETION_INDEX", "SLURM_ARRAY_TASK_ID"):
        monkeypatch.delenv(var, raising=False)
    result = CliRunner().invoke(main, ["grade", str(subs), "--out", str(tmp_path / "out"), "-j", "1", "-q",
                                       "--no-report"], env={**env, "ACTIVATION_GRADER_SHARDS": "3"})
    assert result.exit_code == 0, result.output
    rows = (tmp_path / "out" / "final_grades.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["b.py"]


# -- SLURM -----------------------------------------------------------------------------------------
def render_sbatch(text: str, n: int) -> str:
    """The script for N shards: what a user does by editing the --array line."""
    rendered, count = re.subn(r"^#SBATCH --array=\S+$", f"#SBATCH --array=0-{n - 1}", text, flags=re.MULTILINE)
    assert count == 1
    return rendered


def array_size(text: str) -> int:
    (spec,) = re.findall(r"^#SBATCH --array=(\S+)$", text, flags=re.MULTILINE)
    start, end = re.fullmatch(r"(\d+)-(\d+)", spec).groups()
    assert start == "0", "the array must be 0-(N-1)"
    return int(end) + 1


def test_sbatch_text():
    text = SBATCH.read_text()
    assert text.startswith("#!/bin/bash\n")
    assert array_size(text) == 8
    assert array_size(render_sbatch(text, 5)) == 5
    directives = re.findall(r"^#SBATCH (\S+)", text, flags=re.MULTILINE)
    assert all(d.startswith("--") for d in directives)
    # every #SBATCH line comes before the first command, or SLURM ignores it
    first_command = next(i for i, line in enumerate(text.splitlines()) if line and not line.startswith("#"))
    assert all(i < first_command for i, line in enumerate(text.splitlines()) if line.startswith("#SBATCH"))
    assert 'activation-grader grade "$SUBMISSIONS" --out "$OUT/shard-$I" --shard "$I/$N"' in text
    assert "--dependency=\"afterany:${SLURM_ARRAY_JOB_ID}\"" in text
    assert "activation-grader merge $OUT/shard-* --out $OUT/all" in text
    subprocess.run(["bash", "-n", str(SBATCH)], check=True)


def test_sbatch_array_runs_shards_then_merge(tmp_path):
    """Run the rendered script as SLURM would, task by task, then the merge it queued."""
    n = 2
    subs = make_submissions(tmp_path)
    for name in ("notebook.ipynb", "partly_wrong.py", "blank-copy.py", "late/solution.py"):
        (subs / name).unlink()  # three submissions keep it quick
    script = tmp_path / "grade-array.sbatch"
    script.write_text(render_sbatch(SBATCH.read_text(), n))
    stubs = tmp_path / "bin"
    stubs.mkdir()
    (stubs / "sbatch").write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\0" "$a"; done >> "$SBATCH_LOG"\n'
                                  'echo 4243\n')
    (stubs / "sbatch").chmod(0o755)
    # the real command line
    (stubs / "activation-grader").write_text(
        f"#!{sys.executable}\nfrom grader.interfaces.cli import main\nmain()\n")
    (stubs / "activation-grader").chmod(0o755)
    env = {**os.environ, "PATH": f"{stubs}:{BIN}:{os.environ['PATH']}", "SBATCH_LOG": str(tmp_path / "sbatch.log"),
           "SLURM_ARRAY_JOB_ID": "4242", "SLURM_ARRAY_TASK_COUNT": str(array_size(script.read_text())),
           "SLURM_ARRAY_TASK_MIN": "0", "SLURM_CPUS_PER_TASK": "1"}
    for var in ("ACTIVATION_GRADER_SHARDS", "SUBMISSIONS", "OUT", "SLURM_RESTART_COUNT"):
        env.pop(var, None)
    for i in range(n):
        done = subprocess.run(["bash", str(script)], cwd=tmp_path, env={**env, "SLURM_ARRAY_TASK_ID": str(i)},
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert f"shard {i}/{n} done" in done.stdout
    calls = (tmp_path / "sbatch.log").read_text().split("\0")[:-1]
    assert calls.count("--dependency=afterany:4242") == 1  # only the first task queues the merge
    wrap = calls[calls.index("--wrap") + 1]
    assert wrap == "activation-grader merge out/shard-* --out out/all --submissions submissions"
    for i in range(n):
        assert (tmp_path / "out" / f"shard-{i}" / "final_grades.csv").is_file()
    merged = subprocess.run(["sh", "-c", wrap], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert merged.returncode == 0, merged.stderr
    rows = (tmp_path / "out" / "all" / "final_grades.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["blank.py", "broken.ipynb", "solution.py"]
    assert "Merged 3 submission(s) from 2 directories" in merged.stdout


# -- Kubernetes ------------------------------------------------------------------------------------
def load_job(path: Path = INDEXED_JOB) -> dict:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    assert len(docs) == 1
    return docs[0]


def render_job(job: dict, n: int) -> dict:
    """The Job for N shards: completions and ACTIVATION_GRADER_SHARDS set together."""
    job = json.loads(json.dumps(job))
    job["spec"]["completions"] = n
    job["spec"]["parallelism"] = min(job["spec"].get("parallelism", n), n)
    (container,) = job["spec"]["template"]["spec"]["containers"]
    for var in container["env"]:
        if var["name"] == "ACTIVATION_GRADER_SHARDS":
            var["value"] = str(n)
    return job


def shards_of(job: dict) -> int:
    (container,) = job["spec"]["template"]["spec"]["containers"]
    env = {v["name"]: v.get("value") for v in container.get("env", [])}
    assert env["ACTIVATION_GRADER_SHARDS"] == str(job["spec"]["completions"]), "N must be written alike twice"
    return job["spec"]["completions"]


def test_indexed_job_text():
    job = load_job()
    assert job["apiVersion"] == "batch/v1" and job["kind"] == "Job"
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    assert shards_of(job) == 8 and 1 <= spec["parallelism"] <= spec["completions"]
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] in ("Never", "OnFailure")
    (container,) = pod["containers"]
    assert container["image"] == "activation-grader:latest"
    command = " ".join(container["command"] + container["args"])
    assert "JOB_COMPLETION_INDEX" in command and "activation-grader grade /data/submissions" in command
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert mounts == {"data": "/data"} and "persistentVolumeClaim" in volumes["data"]
    assert "SYS_ADMIN" in container["securityContext"]["capabilities"]["add"]
    assert shards_of(render_job(job, 3)) == 3


def test_indexed_job_pods_grade_their_shard(tmp_path):
    """Run each pod's command with a stand-in activation-grader: the shard and directory it gets."""
    n = 3
    job = render_job(load_job(), n)
    (container,) = job["spec"]["template"]["spec"]["containers"]
    stubs = tmp_path / "bin"
    stubs.mkdir()
    (stubs / "activation-grader").write_text('#!/bin/sh\necho "$ACTIVATION_GRADER_SHARDS $JOB_COMPLETION_INDEX $*"\n')
    (stubs / "activation-grader").chmod(0o755)
    env = {"PATH": f"{stubs}:/usr/bin:/bin", **{v["name"]: v["value"] for v in container["env"]}}
    assert container["command"][:2] == ["/bin/sh", "-c"]
    seen = []
    for i in range(n):
        done = subprocess.run([*container["command"], *container["args"]], env={**env, "JOB_COMPLETION_INDEX": str(i)},
                              capture_output=True, text=True, check=True)
        shards, index, *argv = shlex.split(done.stdout)
        assert argv[:2] == ["grade", "/data/submissions"]
        assert argv[argv.index("--out") + 1] == f"/data/out/shard-{i}"
        seen.append(f"{index}/{shards}")
    assert seen == [f"{i}/{n}" for i in range(n)]


def test_merge_job_reads_what_the_indexed_job_writes():
    job, merge = load_job(), load_job(MERGE_JOB)
    assert merge["kind"] == "Job" and merge["spec"].get("completionMode", "NonIndexed") == "NonIndexed"
    (container,) = merge["spec"]["template"]["spec"]["containers"]
    command = " ".join(container["command"] + container["args"])
    assert "activation-grader merge /data/out/shard-* --out /data/out/all --submissions /data/submissions" in command
    claim = lambda j: j["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"]
    assert claim(job) == claim(merge)
