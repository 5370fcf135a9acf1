"""Zip archives as an LMS hands them over (Canvas, Moodle, Blackboard): read in place, never unpacked.

An archive is the students' upload, so it is hostile like the notebooks inside it. Nothing of it
is ever written to disk: the central directory is checked once (:func:`open_archive`), and each
notebook or script is read into memory, within bounds, when its turn to be graded comes
(:meth:`Member.read`). What is refused is named, with why, and costs nothing else:

- the whole archive, when it is not a zip, has more than ``MAX_MEMBERS`` members, or declares
  more than ``MAX_TOTAL_BYTES`` once unpacked (a zip bomb declares what it expands to, and
  ``zipfile`` never reads a member past its declared size);
- a member whose name leaves the archive (``../``, an absolute path, a drive letter), a link, a
  device or a pipe, an encrypted member, or another archive inside (not opened: unpack it and
  grade the folder).

Every other member is skipped as a folder would skip it: what is not a notebook or a script,
hidden files, ``__MACOSX/`` and ``.ipynb_checkpoints/``.
"""
from __future__ import annotations

import stat
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath

from grader.core.errors import GraderError
from grader.pipeline.notebook import MAX_BYTES, SUFFIXES
from grader.rubric.record import Status

#: Members an archive may list, whatever they are.
MAX_MEMBERS = 10_000
#: What all its members together may declare once unpacked.
MAX_TOTAL_BYTES = 2 * 2**30
#: Suffixes of archives: never opened when found inside an archive.
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tgz", ".gz", ".bz2", ".xz", ".7z", ".rar", ".zst")
#: Folders a zip tool adds that hold no submission.
SKIPPED_PARTS = ("__MACOSX", ".ipynb_checkpoints")


class ArchiveRefused(GraderError):
    """An archive or a member that is not opened; ``status`` is the CSV status, ``message`` the why."""

    def __init__(self, status: Status | str, message: str) -> None:
        super().__init__(message)
        self.status = Status.of(status)


@dataclass(frozen=True)
class Member:
    """One notebook or script inside an archive (``refused``: why it is not opened, or None)."""

    archive: Path
    name: str                     # its path inside the archive, "/"-separated, as listed
    info: zipfile.ZipInfo | None
    refused: ArchiveRefused | None = None

    def read(self, limit: int = MAX_BYTES) -> bytes:
        """Its bytes, at most ``limit`` + 1 of them (one more says "too large" to the reader)."""
        if self.refused is not None:
            raise self.refused
        assert self.info is not None
        try:
            stat_ = self.archive.stat()
            with _opened(self.archive, stat_.st_mtime_ns, stat_.st_size).open(self.info) as f:
                return f.read(limit + 1)
        except (OSError, zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError,
                RuntimeError, ValueError) as exc:  # damaged data, a CRC mismatch, a method zipfile lacks
            raise ArchiveRefused("unreadable", f"this member of {self.archive.name} could not be read "
                                               f"({type(exc).__name__}: {str(exc)[:200]}); upload it again.") from None


@lru_cache(maxsize=2)
def _opened(path: Path, mtime_ns: int, size: int) -> zipfile.ZipFile:
    """The archive, open: its central directory is read once, not once per member (a class of
    thousands), and again only if the file changed. The batch reads its members one after the
    other, in one thread."""
    return zipfile.ZipFile(path)


def is_archive(path: Path | str) -> bool:
    return str(path).lower().endswith(".zip")


def open_archive(path: Path) -> list[Member]:
    """The members of ``path`` to grade or to refuse, sorted by path; ArchiveRefused for the whole."""
    _check_directory(path)
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (OSError, zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as exc:
        raise ArchiveRefused("unreadable", f"not a zip archive that can be read ({type(exc).__name__}: "
                                           f"{str(exc)[:200]}); download it again from the LMS.") from None
    if len(infos) > MAX_MEMBERS:  # an end record that lied
        raise _too_many(len(infos))
    total = sum(max(0, i.file_size) for i in infos)
    if total > MAX_TOTAL_BYTES:
        raise ArchiveRefused("too-large", f"the archive would unpack to {total / 2**30:.1f} GiB, over the limit "
                                          f"of {MAX_TOTAL_BYTES / 2**30:.0f} GiB (a zip bomb, or the outputs of "
                                          f"many notebooks): it was not opened.")
    members = []
    for info in infos:
        name = info.filename.replace("\\", "/")
        why = _refusal(info, name)
        if why is not None:
            members.append(Member(path, name, None, ArchiveRefused("refused", why)))
        elif _is_submission(name):
            if info.file_size > MAX_BYTES:
                members.append(Member(path, name, None, ArchiveRefused("too-large", (
                    f"the file is {info.file_size / 2**20:.1f} MiB, over the limit of {MAX_BYTES / 2**20:.0f} MiB: "
                    f"clear the outputs (Kernel > Restart & Clear Output) and save again."))))
            else:
                members.append(Member(path, name, info))
    return sorted(members, key=lambda m: m.name.split("/"))  # as a folder's files: by path, part by part


#: The central directory's size: 10,000 members with long names fit in far less.
MAX_DIRECTORY_BYTES = 64 * 2**20


def _check_directory(path: Path) -> None:
    """Refuse an archive whose end record lists too many members or too large a directory, before
    ``zipfile`` reads that directory into memory (a few MB of zip can list millions of entries)."""
    try:
        with open(path, "rb") as f:
            end = zipfile._EndRecData(f)  # the end record only: what ZipFile reads first, too
    except OSError:
        return  # ZipFile says what is wrong
    if not end:
        return
    entries, size = end[zipfile._ECD_ENTRIES_TOTAL], end[zipfile._ECD_SIZE]
    if entries > MAX_MEMBERS:
        raise _too_many(entries)
    if size > MAX_DIRECTORY_BYTES:
        raise ArchiveRefused("too-large", f"the archive's directory is {size / 2**20:.0f} MiB, over the limit of "
                                          f"{MAX_DIRECTORY_BYTES / 2**20:.0f} MiB: unpack it and grade the folder.")


def _too_many(entries: int) -> ArchiveRefused:
    return ArchiveRefused("too-large", f"the archive lists {entries} members, over the limit of {MAX_MEMBERS}: "
                                       f"split it, or unpack it and grade the folder.")


def _refusal(info: zipfile.ZipInfo, name: str) -> str | None:
    """Why a member is refused, or None. Only what could be dangerous or a submission is refused;
    a folder, a hidden file or a file of another kind is simply not graded."""
    parts = PurePosixPath(name).parts
    if name.startswith("/") or ".." in parts or (parts and len(parts[0]) == 2 and parts[0][1] == ":"):
        return "its name leads out of the archive (an absolute path or '..'): it was not opened."
    if info.create_system == 3:  # Unix: the high 16 bits are st_mode
        mode = info.external_attr >> 16
        kind = stat.S_IFMT(mode)
        if stat.S_ISLNK(mode):
            return "a symbolic link, not a file: it was not opened."
        if kind and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            return "a device, pipe or socket, not a file: it was not opened."
    if info.is_dir() or _skipped(parts):
        return None
    if name.lower().endswith(ARCHIVE_SUFFIXES):
        return "an archive inside the archive: it was not opened. Unpack it and grade the folder."
    if info.flag_bits & 0x1 and _is_submission(name):
        return "an encrypted member: it was not opened. Upload it without a password."
    return None


def _skipped(parts: tuple[str, ...]) -> bool:
    return any(p in SKIPPED_PARTS for p in parts) or bool(parts) and parts[-1].startswith(".")


def _is_submission(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return not name.endswith("/") and not _skipped(parts) and name.endswith(SUFFIXES)
