"""Where results go, and the rules that keep everything else safe.

A results folder is written by this tool or not at all:

* every folder the tool writes carries a marker file (:data:`MARKER`) naming the
  tool, the kind of result and whether it is complete; a path that exists and has
  no such marker (a folder of notes, ``.``, the scenarios folder, a plain file) is
  never written into, moved or deleted — the command is refused before any
  simulation runs;
* a finished results folder of ours is replaced only with ``--force``;
* run, compare, calibrate and sensitivity folders are filled in a hidden sibling
  (``.corridor-partial-*``) and renamed into place when complete, so a crash or a
  kill never leaves a half-written results folder under the requested name;
* a lock file beside the target (``.corridor-lock-*``, an ``flock`` the kernel drops
  when the process dies) refuses a second writer of the same folder;
* hidden partial folders left by a killed run are ours (they carry the marker) and
  are removed by the next run that writes beside them, which says so on stderr;
* folders and files are created with the user's umask (readable by others unless
  the umask says otherwise).

Every refusal is a :class:`~sim.errors.ScenarioError` naming ``--out`` (exit 2).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import fcntl
import hashlib
import json
import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

from sim import __version__
from sim.errors import ScenarioError

MARKER = ".corridor-results.json"
TOOL = "corridor-sim"
PARTIAL = ".corridor-partial-"
OLD = ".corridor-old-"
LOCK = ".corridor-lock-"
PATH_MAX = 4096


def _tag(name: str) -> str:
    """A short fixed-length tag of a folder name (hidden sibling names stay short)."""
    return hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def read_marker(folder: Path) -> dict | None:
    """The marker of a folder this tool wrote, or None (not ours, or not a folder)."""
    try:
        data = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if isinstance(data, dict) and data.get("tool") == TOOL:
        return data
    return None


def _files(folder: Path) -> list[str]:
    """Every file under ``folder`` (relative paths), the marker excepted."""
    return sorted(
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if (p.is_file() or p.is_symlink()) and p.name != MARKER
    )


def write_marker(folder: Path, kind: str, state: str) -> None:
    """Mark ``folder`` as a ``kind`` results folder of this tool (``partial``/``complete``),
    listing the files it holds (so that ``--force`` can tell them from a user's)."""
    data = {
        "tool": TOOL,
        "version": __version__,
        "kind": kind,
        "state": state,
        "written_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "pid": os.getpid(),
        "files": _files(folder),
    }
    (folder / MARKER).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def _refuse(out: Path, expected: str) -> ScenarioError:
    return ScenarioError("--out", str(out), expected)


def _os_error(out: Path, exc: OSError) -> ScenarioError:
    reason = exc.strerror or str(exc)
    return _refuse(out, f"expected a folder that can be written ({reason})")


def check_target(out: Path, kind: str, force: bool, resume: bool = False) -> dict | None:
    """Refuse ``out`` unless writing there can destroy nothing the tool did not write.

    Returns the marker of an existing folder of ours (None when ``out`` is new).
    ``resume`` lets a sweep continue in its own folder; ``force`` lets any folder of
    ours be replaced.
    """
    if len(os.fsencode(str(out))) >= PATH_MAX:
        raise _refuse(out, f"expected a path shorter than {PATH_MAX} bytes")
    if not out.name:
        raise _refuse(out, "expected a folder name (not the root folder)")
    try:
        exists = out.exists() or out.is_symlink()
    except OSError as exc:  # a name too long, a symlink loop
        raise _os_error(out, exc) from None
    if not exists:
        return None
    marker = read_marker(out) if out.is_dir() and not out.is_symlink() else None
    if marker is None:
        raise _refuse(
            out, "exists and is not a results folder written by corridor; choose a new path"
        )
    if resume and marker.get("kind") == kind:
        return marker
    if not force:
        what = "an unfinished" if marker.get("state") != "complete" else "a finished"
        raise _refuse(
            out,
            f"is {what} {marker.get('kind', '')} results folder; add --force to replace it "
            "or choose another --out",
        )
    foreign = foreign_files(out, marker)
    if foreign:
        shown = ", ".join(foreign[:3]) + (" ..." if len(foreign) > 3 else "")
        raise _refuse(
            out, f"holds files corridor did not write ({shown}); move them before --force"
        )
    return marker


def foreign_files(folder: Path, marker: dict) -> list[str]:
    """Files in a results folder of ours that the tool did not write (a user's notes).

    The tool's own later additions count as its own: ``report.html`` and a sweep's
    ``points/``, ``plots/`` and summary files.
    """
    own = set(marker.get("files") or [])
    later = {"report.html", "sweep.json", "sweep.csv", "design.json", "scenario.resolved.json"}
    sweep = marker.get("kind") == "sweep"

    def ours(rel: str) -> bool:
        if rel in own or rel in later:
            return True
        return sweep and rel.split(os.sep, 1)[0] in ("points", "plots")

    return [rel for rel in _files(folder) if not ours(rel)]


class _Lock:
    """An exclusive ``flock`` on a hidden file beside the target folder."""

    def __init__(self, out: Path) -> None:
        self.path = out.parent / f"{LOCK}{_tag(out.name)}"
        self.fd: int | None = None

    def acquire(self, out: Path) -> None:
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise _refuse(
                    out, "is being written by another corridor process; wait for it to finish"
                ) from None
            # the holder before us may have unlinked the file: lock the file that is there
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self.fd = fd
                return
            os.close(fd)

    def release(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.path)
            os.close(self.fd)
            self.fd = None


def _is_locked(parent: Path, tag: str, remove: bool = False) -> bool:
    """Is some live process holding the lock of the folder with this tag?

    With ``remove``, an unheld lock file (left by a killed run) is removed while we
    hold it, so that a process which opened it meanwhile notices and starts again.
    """
    path = parent / f"{LOCK}{tag}"
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    else:
        if remove:
            with contextlib.suppress(OSError):
                os.unlink(path)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def clean_stale(parent: Path, held: str) -> list[Path]:
    """Remove hidden partial/old folders and lock files of ours in ``parent`` that no live
    process owns.

    ``held`` is the tag whose lock this process holds: its folders are stale by
    definition, since only the lock holder writes them.
    """
    removed = []
    try:
        entries = list(parent.iterdir())
    except OSError:
        return removed
    for entry in entries:
        name = entry.name
        if name.startswith(LOCK) and name[len(LOCK) :] != held:
            _is_locked(parent, name[len(LOCK) :], remove=True)
            continue
        prefix = PARTIAL if name.startswith(PARTIAL) else OLD if name.startswith(OLD) else None
        if prefix is None or entry.is_symlink() or not entry.is_dir():
            continue
        tag = name[len(prefix) :].split("-", 1)[0]
        if not _own_tree(entry):
            continue
        if tag != held and _is_locked(parent, tag):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed


def _own_tree(entry: Path) -> bool:
    """A hidden folder of ours: its marker, or (an ``old`` folder) its only child's marker."""
    if read_marker(entry) is not None:
        return True
    children = list(entry.iterdir()) if entry.is_dir() else []
    return len(children) == 1 and read_marker(children[0]) is not None


class ResultsFolder:
    """A results folder being written: ``tmp`` (hidden) until :meth:`publish`."""

    def __init__(self, out: Path, kind: str, tmp: Path, replace: bool) -> None:
        self.out = out
        self.kind = kind
        self.tmp = tmp
        self.replace = replace

    def publish(self) -> Path:
        """Mark the folder complete and rename it to its final name (atomic)."""
        write_marker(self.tmp, self.kind, "complete")
        if self.replace and self.out.exists():
            if read_marker(self.out) is None:  # changed under our feet: touch nothing
                raise _refuse(self.out, "exists and is not a results folder written by corridor")
            old = _set_aside(self.out)
            os.rename(self.tmp, self.out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(self.tmp, self.out)
        return self.out


def _say_cleaned(removed: list[Path]) -> None:
    for path in removed:
        sys.stderr.write(f"corridor: removed {path}, left by an interrupted run\n")


def _make_parent(out: Path) -> Path:
    parent = out.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise _refuse(out, f"expected {parent} to be a folder") from None
    except OSError as exc:
        raise _os_error(out, exc) from None
    name_max = os.pathconf(parent, "PC_NAME_MAX") if hasattr(os, "pathconf") else 255
    if len(os.fsencode(out.name)) > name_max:
        raise _refuse(out, f"expected a folder name of at most {name_max} bytes")
    return parent


@contextlib.contextmanager
def _locked(out: Path, kind: str, force: bool, resume: bool) -> Iterator[tuple[Path, dict | None]]:
    """Check ``out`` (before and again once locked), hold its lock, clean stale hidden
    folders beside it: ``(parent, marker of an existing folder of ours or None)``."""
    check_target(out, kind, force, resume)
    parent = _make_parent(out)
    lock = _Lock(out)
    try:
        lock.acquire(out)
    except OSError as exc:
        raise _os_error(out, exc) from None
    try:
        marker = check_target(out, kind, force, resume)
        _say_cleaned(clean_stale(parent, _tag(out.name)))
        yield parent, marker
    finally:
        lock.release()


def _set_aside(out: Path) -> Path:
    """Move a results folder of ours into a hidden sibling (to be deleted): a crash then
    leaves a hidden folder the next run cleans, never a half-deleted one under its name."""
    old = out.parent / f"{OLD}{_tag(out.name)}-{uuid.uuid4().hex[:8]}"
    os.mkdir(old)
    os.replace(out, old / "previous")
    return old


@contextlib.contextmanager
def open_results(out: Path, kind: str, force: bool = False) -> Iterator[ResultsFolder]:
    """Check ``out``, lock it, and give a hidden folder to fill; call ``publish()`` at the end.

    Everything here happens before the simulation starts, so a path that cannot be
    written is refused up front. If the body raises (or is interrupted), the hidden
    folder is removed and nothing under ``out`` changes.
    """
    out = Path(os.path.abspath(out))
    with _locked(out, kind, force, resume=False) as (parent, marker):
        tmp = parent / f"{PARTIAL}{_tag(out.name)}-{uuid.uuid4().hex[:8]}"
        try:
            try:
                os.mkdir(tmp)  # 0o777 & ~umask
                write_marker(tmp, kind, "partial")
            except OSError as exc:
                raise _os_error(out, exc) from None
            yield ResultsFolder(out, kind, tmp, replace=marker is not None)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def open_incremental(out: Path, kind: str, force: bool = False) -> Iterator[tuple[Path, bool]]:
    """A results folder written in place as work finishes (sweeps): ``(folder, resumed)``.

    An existing folder of ours of the same kind is resumed; ``force`` replaces one of
    any kind. The lock is held for the whole body.
    """
    out = Path(os.path.abspath(out))
    with _locked(out, kind, force, resume=not force) as (_, marker):
        if marker is not None and force:
            shutil.rmtree(_set_aside(out), ignore_errors=True)
            marker = None
        resumed = marker is not None
        if not resumed:
            try:
                os.mkdir(out)
                write_marker(out, kind, "partial")
            except OSError as exc:
                raise _os_error(out, exc) from None
        yield out, resumed


def is_disk_problem(exc: BaseException) -> bool:
    """An OSError about space or size limits (worth retrying after freeing space)."""
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
