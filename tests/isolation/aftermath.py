"""What a hostile submission leaves for the ones after it, run inside a throw-away container or
namespace ONLY (never on the host itself).

    python aftermath.py REPO [grade options...]

Grades, with ``--jobs 1`` (one warm worker, in this order): a correct notebook that draws a
figure (its time is the yardstick), then each attacker of ``SCENARIO_ATTACKS`` (``deep``: a
3,000- and a 20,000-level directory chain; ``flood``: a 64 MiB frame announced, the result pipe
kept full by 20 ``tee`` daemons; ``fill``: 63 MiB files until the disk is full), each followed
by correct notebooks (one with the same figure). ``SCENARIO_NOFILE`` sets the grader's
open-files limit. Bystanders: a process of the grader's own uid, files in /tmp, /dev/shm and
/var/tmp. Prints one ``VERDICT`` line of JSON: the exit status, each record's status, score
and seconds, whether final_grades.csv has every row, the bystanders, the grader's directories
left in TMPDIR, and the processes of any job (of a uid from 61000 up, or marked by the
attackers) still running once ``grade`` has exited.
"""
from __future__ import annotations

import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent / "aftermath"
MARKS = ("ag-flood-writer", "sleep\x004243.5")


def submissions(repo: Path, attacks: list[str]) -> dict[str, str]:
    solution = (repo / "tests" / "golden" / "solution.py").read_text()
    figure = solution + "\n" + (HERE / "figure.py").read_text()
    out = {"a00_figure": figure}
    n = 1
    for attack in attacks:
        if attack == "deep":
            sources = [(HERE / "deep_chain.py").read_text().replace("DEPTH", str(d)) for d in (3000, 20000)]
        elif attack == "flood":
            sources = [(HERE / "pipe_flood_daemons.py").read_text()]
        elif attack == "fill":
            sources = [(HERE / "disk_filler.py").read_text()]
        else:
            raise SystemExit(f"unknown attack {attack}")
        for source in sources:
            out[f"a{n:02d}_attack_{attack}"] = source
            out[f"a{n + 1:02d}_after_{attack}_figure"] = figure
            out[f"a{n + 2:02d}_after_{attack}"] = solution
            n += 3
    return out


def job_processes() -> list[str]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            lines = open(f"/proc/{entry}/status").read().splitlines()
            status = dict(line.split(":", 1) for line in lines if ":" in line)
            cmdline = open(f"/proc/{entry}/cmdline", "rb").read().decode(errors="replace")
        except (OSError, ValueError):
            continue
        if status.get("State", "").strip().startswith(("Z", "X")):
            continue
        uids = [int(u) for u in status.get("Uid", "").split()[:3]]
        name = status.get("Name", "").strip()
        if any(u >= 61000 for u in uids) or name == MARKS[0] or MARKS[1] in cmdline:
            found.append(f"{entry} uid={uids} {name} {cmdline[:60]!r}")
    return found


def main() -> None:
    repo, options = Path(sys.argv[1]), sys.argv[2:]
    attacks = os.environ.get("SCENARIO_ATTACKS", "deep,flood,fill").split(",")
    work = Path(os.environ.get("SCENARIO_DIR", "/tmp/aftermath"))
    subs = submissions(repo, attacks)
    solution = (repo / "tests" / "golden" / "solution.py").read_text()
    files = [Path(d) / f"bystander-{os.getpid()}" for d in ("/tmp", "/dev/shm", "/var/tmp")]
    for f in files:
        f.write_text("keep me")
    bystander = subprocess.Popen(["sleep", "600"])
    nofile = os.environ.get("SCENARIO_NOFILE")

    def limit() -> None:
        if nofile:
            resource.setrlimit(resource.RLIMIT_NOFILE, (int(nofile), int(nofile)))

    tmp = tempfile.gettempdir()
    before = set(os.listdir(tmp))
    started = time.time()
    # the deep chains and the flood on one worker (--jobs 1: everything after them runs there);
    # the disk filler next to a second worker, whose results are written while it fills the disk
    runs = [("one", [n for n in subs if "fill" not in n], 1), ("two", [n for n in subs if "fill" in n], 2)]
    exits, errors, records, rows = [], "", {}, []
    for run, names, jobs in runs:
        if len(names) <= 1:
            continue
        (work / run).mkdir(parents=True, exist_ok=True)
        for name in names:
            (work / run / f"{name}.py").write_text(subs[name])
        if run == "two":  # the yardstick again, and correct notebooks for the second worker
            for name in ("a00_figure",) + tuple(f"z{i}_solution" for i in range(4)):
                (work / run / f"{name}.py").write_text(subs["a00_figure"] if "figure" in name else solution)
        proc = subprocess.run([sys.executable, "-m", "grader", "grade", str(work / run),
                               "--out", str(work / f"out-{run}"), "--jobs", str(jobs), "--regrade", "--no-report", *options], capture_output=True,
                              text=True, cwd=repo, preexec_fn=limit, timeout=900)
        exits.append(proc.returncode)
        errors += proc.stderr[-3000:]
        for path in sorted((work / f"out-{run}" / "results").glob("*.json")):
            try:
                records[f"{run}/{path.stem}"] = json.loads(path.read_text()).get("extra_data", {})
            except ValueError:
                records[f"{run}/{path.stem}"] = {"status": "unreadable"}
        grades = work / f"out-{run}" / "final_grades.csv"
        expected = sorted(p.stem for p in (work / run).glob("*.py"))
        got = sorted(row["file"].rsplit(".", 1)[0] for row in csv.DictReader(grades.open())) if grades.exists() else []
        rows.append(got == expected)
    seconds = round(time.time() - started, 1)
    time.sleep(0.5)
    verdict = {
        "exits": exits, "stderr": errors[-4000:], "seconds": seconds,
        "all_rows": rows,
        "records": {name: {"status": r.get("status"), "score": r.get("score"),
                           "seconds": r.get("provenance", {}).get("seconds"),
                           "isolation": r.get("provenance", {}).get("isolation"),
                           "notes": r.get("notes")} for name, r in records.items()},
        "bystander_alive": bystander.poll() is None,
        "files_kept": {str(f): f.exists() for f in files},
        "left_in_tmp": sorted(e for e in set(os.listdir(tmp)) - before if e.startswith("activation-grader")),
        "job_processes": job_processes(),
        "nofile": nofile,
    }
    bystander.kill()
    print("VERDICT " + json.dumps(verdict))


if __name__ == "__main__":
    main()
