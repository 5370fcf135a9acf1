"""An LMS download graded as it comes: `grade submissions.zip`, or a folder of such zips.

The archives are built here: a Canvas-like and a Moodle-like download of real submissions (the
golden solution and a mistake derived from it), and hostile ones (a zip bomb, names that leave
the archive, a symbolic link, a device, a nested archive). Each submission inside is graded and
named by its path in the archive; what is refused gets a row that says why, and costs nothing else.
"""
from __future__ import annotations

import csv
import os
import shutil
import json
import stat
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import nbformat
import pytest

from grader.pipeline import archives
from grader.pipeline.submissions import collect

from conftest import ROOT
from variants import SOLUTION, derive

CLI = [sys.executable, "-m", "grader"]
SOURCE = SOLUTION.read_text()
WRONG = derive(SOURCE, (("return s * (1.0 - s)", "return s"),))  # sigmoid_derivative without (1 - s)


def notebook(source: str) -> bytes:
    cells = [nbformat.v4.new_code_cell(c.strip()) for c in source.split("# %%") if c.strip()]
    return nbformat.writes(nbformat.v4.new_notebook(cells=cells)).encode()


def unix_member(name: str, mode: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = mode << 16
    return info


def bomb(path: Path, name: str, gib: float, declared: int | None = None) -> Path:
    """A zip whose one member is ``gib`` GiB of zeros in a few MB: identical deflate blocks.

    Written by hand (zipfile would have to compress the gigabytes); its CRC is left 0, as a
    bomb's may be: the grader must refuse it from the central directory, never reading it.
    ``declared``: the size its headers claim, if it lies.
    """
    size = int(gib * 2**30)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = c.compress(bytes(2**20)) + c.flush(zlib.Z_FULL_FLUSH)
    data = block * (size // 2**20) + c.flush()
    size = size if declared is None else declared
    raw = name.encode()
    local = struct.pack("<4s2B4HL2L2H", b"PK\x03\x04", 20, 0, 0, 8, 0, 0x21, 0, len(data), size, len(raw), 0)
    central = struct.pack("<4s4B4HL2L5H2L", b"PK\x01\x02", 20, 3, 20, 0, 0, 8, 0, 0x21, 0, len(data), size,
                          len(raw), 0, 0, 0, 0, (stat.S_IFREG | 0o644) << 16, 0)
    offset = len(local) + len(raw) + len(data)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, len(central) + len(raw), offset, 0)
    path.write_bytes(local + raw + data + central + raw + end)
    return path


@pytest.fixture(scope="module")
def downloads(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("lms")
    folder = root / "downloads"
    folder.mkdir()
    with zipfile.ZipFile(folder / "canvas.zip", "w", zipfile.ZIP_DEFLATED) as z:  # Canvas: flat, ids in names
        z.writestr("smithalice_1234_56789_activations.ipynb", notebook(SOURCE))
        z.writestr("jonesbob_2345_67890_activations.ipynb", notebook(WRONG))
        z.writestr("__MACOSX/._smithalice_1234_56789_activations.ipynb", b"\x00\x05\x16\x07 AppleDouble")
        z.writestr("grades.txt", "not a submission")
    with zipfile.ZipFile(folder / "moodle.zip", "w", zipfile.ZIP_DEFLATED) as z:  # Moodle: a folder each
        z.writestr("Carol Diaz_345_assignsubmission_file_/", b"")
        z.writestr("Carol Diaz_345_assignsubmission_file_/activations.py", SOURCE)
        z.writestr("Dan Eve_346_assignsubmission_file_/activations.py", "")
    with zipfile.ZipFile(folder / "hostile.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("../../escaped.ipynb", notebook(SOURCE))
        z.writestr("/etc/absolute.py", SOURCE)
        z.writestr(unix_member("erin/hw.ipynb", stat.S_IFLNK | 0o777), "/etc/passwd")
        z.writestr(unix_member("erin/tty.py", stat.S_IFCHR | 0o666), b"")
        inner = root / "inner.zip"
        with zipfile.ZipFile(inner, "w") as z2:
            z2.writestr("hw.ipynb", notebook(SOURCE))
        z.write(inner, "frank/submission.zip")
        z.writestr("grace/hw.py", SOURCE)  # the one good submission: graded all the same
    bomb(folder / "bomb.zip", "hw.ipynb", 3)
    return folder


def grade(args: list[str], out: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run([*CLI, "grade", *args, "--out", str(out), "--seed", "3", "--jobs", "2", "-q"],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return proc


def rows(out: Path) -> dict[str, dict]:
    with open(out / "final_grades.csv", newline="") as f:
        return {r["file"]: r for r in csv.DictReader(f)}


@pytest.fixture(scope="module")
def graded_folder(downloads, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("out")
    grade([str(downloads)], out)
    return out


def test_a_folder_of_lms_downloads_is_graded_member_by_member(graded_folder):
    table = rows(graded_folder)
    assert set(table) == {
        "bomb.zip",
        "canvas.zip/jonesbob_2345_67890_activations.ipynb", "canvas.zip/smithalice_1234_56789_activations.ipynb",
        "hostile.zip/../../escaped.ipynb", "hostile.zip//etc/absolute.py", "hostile.zip/erin/hw.ipynb",
        "hostile.zip/erin/tty.py", "hostile.zip/frank/submission.zip", "hostile.zip/grace/hw.py",
        "moodle.zip/Carol Diaz_345_assignsubmission_file_/activations.py",
        "moodle.zip/Dan Eve_346_assignsubmission_file_/activations.py"}
    scores = {name: float(r["total"]) for name, r in table.items()}
    assert scores["canvas.zip/smithalice_1234_56789_activations.ipynb"] == 100
    assert 80 < scores["canvas.zip/jonesbob_2345_67890_activations.ipynb"] < 100
    assert scores["moodle.zip/Carol Diaz_345_assignsubmission_file_/activations.py"] == 100
    assert scores["moodle.zip/Dan Eve_346_assignsubmission_file_/activations.py"] == 0
    assert scores["hostile.zip/grace/hw.py"] == 100
    assert {r["status"] for n, r in table.items() if n.startswith(("canvas", "moodle"))} == {"graded"}
    # the similarity report keeps each member's code beside its results, under the same stem and name
    for result in (graded_folder / "results").glob("*.json"):
        code = json.loads((graded_folder / "code" / result.name).read_text())
        assert code["file"] == json.loads(result.read_text())["extra_data"]["file"]


def test_hostile_members_and_a_bomb_are_refused_with_a_reason(graded_folder, downloads):
    table = rows(graded_folder)
    refused = {name: r["status"] for name, r in table.items() if r["status"] != "graded"}
    assert refused == {"bomb.zip": "too-large", "hostile.zip/../../escaped.ipynb": "refused",
                       "hostile.zip//etc/absolute.py": "refused", "hostile.zip/erin/hw.ipynb": "refused",
                       "hostile.zip/erin/tty.py": "refused", "hostile.zip/frank/submission.zip": "refused"}
    assert all(float(table[n]["total"]) == 0 for n in refused)
    feedback = {json.loads(p.read_text())["extra_data"]["file"]: json.loads(p.read_text())["extra_data"]["message"]
                for p in (graded_folder / "results").glob("*.json")}
    assert "would unpack to 3.0 GiB" in feedback["bomb.zip"]
    assert "leads out of the archive" in feedback["hostile.zip/../../escaped.ipynb"]
    assert "leads out of the archive" in feedback["hostile.zip//etc/absolute.py"]
    assert "symbolic link" in feedback["hostile.zip/erin/hw.ipynb"]
    assert "device" in feedback["hostile.zip/erin/tty.py"]
    assert "archive inside the archive" in feedback["hostile.zip/frank/submission.zip"]
    # nothing was unpacked anywhere: no file but the inputs and the outputs
    assert not list(downloads.parent.parent.rglob("escaped.ipynb"))
    assert sorted(p.name for p in downloads.iterdir()) == ["bomb.zip", "canvas.zip", "hostile.zip", "moodle.zip"]
    assert {p.parent.name for p in graded_folder.rglob("*") if p.is_file()} <= {graded_folder.name, "results",
                                                                                "feedback", "code"}


def test_one_zip_given_names_its_members_by_their_path_in_it(downloads, tmp_path):
    grade([str(downloads / "moodle.zip")], tmp_path)
    table = rows(tmp_path)
    assert sorted(table) == ["moodle.zip/Carol Diaz_345_assignsubmission_file_/activations.py",
                             "moodle.zip/Dan Eve_346_assignsubmission_file_/activations.py"]
    feedback = sorted(p.read_text().splitlines()[0] for p in (tmp_path / "feedback").glob("*.md"))
    assert feedback == ["# Feedback for `moodle.zip/Carol Diaz_345_assignsubmission_file_/activations.py`",
                        "# Feedback for `moodle.zip/Dan Eve_346_assignsubmission_file_/activations.py`"]
    assert sorted(p.name for p in (tmp_path / "results").glob("*.json")) == [
        "moodle.zip_Carol_Diaz_345_assignsubmission_file__activations.json",
        "moodle.zip_Dan_Eve_346_assignsubmission_file__activations.json"]
    written = {p.name: p.read_bytes() for p in (tmp_path / "results").glob("*.json")}
    grade([str(downloads / "moodle.zip")], tmp_path)  # the same command reuses both: not a byte rewritten
    assert {p.name: p.read_bytes() for p in (tmp_path / "results").glob("*.json")} == written
    assert rows(tmp_path) == table


def test_an_archive_with_too_many_members_is_refused_whole(tmp_path, monkeypatch):
    path = tmp_path / "many.zip"
    with zipfile.ZipFile(path, "w") as z:
        for i in range(6):
            z.writestr(f"s{i}/hw.py", "")
    monkeypatch.setattr(archives, "MAX_MEMBERS", 5)
    [item] = collect([path])
    assert item.name == "many.zip" and item.refused.status == "too-large"
    assert "lists 6 members, over the limit of 5" in item.refused.message
    monkeypatch.setattr(archives, "MAX_MEMBERS", 6)
    assert [i.name for i in collect([path])] == [f"many.zip/s{i}/hw.py" for i in range(6)]


def test_a_directory_of_a_million_entries_is_refused_before_it_is_read(tmp_path, monkeypatch):
    """A few MB of zip can list a million members: the end record says so, and nothing more is parsed."""
    path = tmp_path / "million.zip"
    entry = struct.pack("<4s4B4HL2L5H2L", b"PK\x01\x02", 20, 3, 20, 0, 0, 0, 0, 0x21, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0)
    n = 300_000
    directory = (entry + b"a") * n
    zip64 = struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, n, n, len(directory), 0)
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, len(directory), 1)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, len(directory), 0, 0)
    path.write_bytes(directory + zip64 + locator + end)
    parsed = []
    monkeypatch.setattr(archives.zipfile.ZipFile, "infolist", lambda self: parsed.append(1) or [])
    [item] = collect([path])
    assert item.refused.status == "too-large" and f"lists {n} members" in item.refused.message
    assert not parsed


def test_a_member_is_read_within_its_bound_and_never_past_its_declared_size(tmp_path):
    path = tmp_path / "big.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("big.py", b"#" * (archives.MAX_BYTES + 10))
        z.writestr("small.py", b"x = 1\n")
    big, small = collect([path])
    assert big.refused.status == "too-large" and "over the limit of 100 MiB" in big.refused.message
    assert small.read() == b"x = 1\n" and small.member.read(limit=3) == b"x = 1"[:4]


def test_a_member_that_lies_about_its_size_is_never_read_past_what_it_declares(tmp_path):
    """A bomb that declares 100 bytes and expands to 1 GiB: read is bounded by the declaration (and its CRC)."""
    [item] = collect([bomb(tmp_path / "liar.zip", "hw.py", 1, declared=100)])
    assert item.refused is None
    try:
        data = item.read()
    except archives.ArchiveRefused as exc:  # the CRC of what was read does not match
        assert exc.status == "unreadable" and "could not be read" in exc.message
    else:
        assert len(data) <= 100


def test_a_file_that_is_not_a_zip_gets_one_row_that_says_so(tmp_path):
    path = tmp_path / "oops.zip"
    path.write_text("not a zip")
    [item] = collect([path])
    assert item.refused.status == "unreadable" and "not a zip archive" in item.refused.message


def test_the_documented_lms_commands_run(downloads, tmp_path):
    text = (ROOT / "docs" / "grading.md").read_text()
    section = text.split("## LMS downloads", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    shutil.copy(downloads / "moodle.zip", tmp_path / "submissions.zip")
    (tmp_path / "downloads").mkdir()
    shutil.copy(downloads / "canvas.zip", tmp_path / "downloads" / "canvas.zip")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    for line in block.strip().splitlines():
        proc = subprocess.run(["bash", "-c", line], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=600)
        assert proc.returncode == 0, (line, proc.stderr)
    assert sorted(rows(tmp_path / "out")) == [  # the second command wrote over the first's CSV
        "canvas.zip/jonesbob_2345_67890_activations.ipynb", "canvas.zip/smithalice_1234_56789_activations.ipynb"]
