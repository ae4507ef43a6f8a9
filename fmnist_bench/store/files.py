"""How a file under the results folder is written and read back, so that a kill or a full disk never leaves half of
one.

Every file is written to a temporary name in its own folder and moved into place with `os.replace`, so a reader
sees the old file, the new file, or none, never half of one (`atomic_write_*`, `write_csv`, `write_lines*`). Work in
progress is appended one fsync'd JSON line at a time (`append_document`) and read back without the cut-off last line a
kill may leave (`read_lines`). A write the system refuses (full disk, lost permission, read-only mount) becomes one
line that names the file and what to do (`unwritable`, `write_failure`). Kept apart from the names of the files
(`layout`) and from what they hold (`runs`, `stored`), so that every writer gets the same guarantees from one place.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import json
import os
import re
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Iterable

from ..errors import ResultsError
from ..processes import finishing_writes

__all__ = ["SCHEMA", "append_document", "atomic_write_bytes", "atomic_write_json", "atomic_write_text",
           "ensure_writable_dir", "keep_traceback", "read_json", "read_lines", "set_aside", "unwritable",
           "write_csv", "write_failure", "write_lines", "write_lines_gz"]

SCHEMA = 1


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def unwritable(exc: OSError, path: Path | None = None) -> ResultsError:
    """One line for a write that failed (full disk, lost permission, read-only mount): which file, and what to do.

    h5py (Keras checkpoints) raises an OSError without errno or filename, both written inside a multi-line message
    ("... filename = '...', ..., errno = 28, error message = '...'"): they are read from there.
    """
    text = str(exc)
    number = int(found[1]) if (found := re.search(r"errno = (\d+)", text)) else exc.errno
    name = found[1] if (found := re.search(r"\b(?:file)?name = '([^']+)'", text)) else exc.filename
    where = path or name or "the results folder"
    cause = os.strerror(number) if number else (text.strip().splitlines() or [type(exc).__name__])[0]
    return ResultsError(f"cannot write {where} ({cause}); free space or fix the folder's permissions, then run the "
                        "same command again: finished work is kept and resumes")


# A write refused by the system: full disk, quota, permission, read-only mount.
_WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS)
_FULL = (errno.ENOSPC, errno.EDQUOT)


def write_failure(exc: BaseException, *, full_disk_only: bool = False) -> ResultsError | None:
    """The one-line error of a write that failed, or None when `exc` is something else (a bug, a diverged model).

    An OSError (Python's own writes, h5py's Keras 3 checkpoints); or a backend's error whose message ends in the
    system's words for a refused write: Keras 2 saves checkpoints through TensorFlow's SaveV2 op, which raises
    `ResourceExhaustedError("... <file>; No space left on device [Op:SaveV2]")` (`PermissionDeniedError` for a lost
    permission), not an OSError. Matching the words, not the type, keeps out an out-of-memory error, which TensorFlow
    also raises as ResourceExhaustedError, and needs no import of the backend. With `full_disk_only`, only a full
    disk or quota counts (code that also reads, where a permission error may be about reading).
    """
    text = str(exc)
    if isinstance(exc, OSError):
        full = exc.errno in _FULL or any(os.strerror(number) in text for number in _FULL)
        return unwritable(exc) if full or not full_disk_only else None
    for number in _FULL if full_disk_only else _WRITE_ERRNOS:
        if found := re.search(rf"(\S+); {re.escape(os.strerror(number))}", text):
            return unwritable(OSError(number, os.strerror(number), found[1]))
    return None


def keep_traceback(log: Path, exc: BaseException) -> Path:
    """Append `exc`'s traceback to `log` (the user sees one line that names the file); `log` itself if that works,
    else the system's temporary folder's copy, so that a full results disk does not lose it."""
    text = f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')}\n" + "".join(traceback.format_exception(exc))
    for target in (log, Path(tempfile.gettempdir()) / f"fmnist-bench-{log.parent.name}-{log.name}"):
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("a", encoding="utf-8") as handle:
                handle.write(text)
            return target
        except OSError:
            continue
    return log


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write through a temporary file and a rename: a reader sees the old file or the new one, never a part.

    Raises:
        ResultsError: the file cannot be written (full disk, permissions); the temporary file is removed.
    """
    tmp = None
    try:
        with finishing_writes():  # Ctrl-C or SIGTERM now stops the process after this write, not in the middle
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; results are ordinary files
            os.replace(tmp, path)
            tmp = None  # in place: nothing to clean up, even if an interrupt deferred by the write follows
    except BaseException as exc:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        if isinstance(exc, OSError):
            raise unwritable(exc, path) from None
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, kind: str, payload: dict[str, Any]) -> None:
    """Write `{"schema": SCHEMA, "kind": kind, **payload}` with sorted keys (byte-stable for equal input)."""
    document = {"schema": SCHEMA, "kind": kind} | payload
    atomic_write_text(path, json.dumps(document, indent=2, sort_keys=True) + "\n")


def read_json(path: Path, kind: str) -> dict[str, Any]:
    """Read a document written by `atomic_write_json`.

    Raises:
        ResultsError: missing, unreadable, not JSON, another kind, or a schema this version does not know.
    """
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultsError(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultsError(f"{path} is unreadable or not JSON ({exc})") from None
    if not isinstance(document, dict) or document.get("kind") != kind:
        raise ResultsError(f"{path} is not a {kind} record")
    if document.get("schema") != SCHEMA:
        raise ResultsError(f"{path} has schema {document.get('schema')!r}; this fmnist-bench reads schema {SCHEMA}")
    return document


def write_csv(path: Path, rows: Iterable[dict[str, Any]], columns: list[str]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})
    atomic_write_text(path, buffer.getvalue())


def _json_lines(documents: Iterable[dict[str, Any]]) -> str:
    """One JSON document per line, keys sorted (byte-stable for equal input)."""
    return "".join(json.dumps(d, sort_keys=True) + "\n" for d in documents)


def append_document(path: Path, document: dict[str, Any]) -> None:
    """Append one JSON line and fsync it: what a kill leaves is the lines before, and at most one cut-off last
    line."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            handle.write(_json_lines([document]))
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:  # a cut-off line is dropped when read back, like one a kill leaves
        raise unwritable(exc, path) from None


def read_lines(path: Path) -> list[dict[str, Any]]:
    """The JSON documents of an append-only file (`append_document`) or its gzip archive.

    A `.gz` file is written whole and atomically, so any damage is an error; in an append-only file a last line
    that does not parse is what a kill in the middle of `append_document` leaves, and is dropped (its work is redone).

    Raises:
        ResultsError: the file cannot be read, or a line other than an appended last one is not JSON.
    """
    import gzip

    opener: Any = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            lines = handle.read().split("\n")
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise ResultsError(f"cannot read {path} ({exc})") from None
    documents = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            documents.append(json.loads(line))
        except ValueError:
            if path.suffix != ".gz" and number == len(lines):
                break
            raise ResultsError(f"{path} line {number} is not JSON; move the file aside and run again") from None
    return documents


def write_lines(path: Path, documents: Iterable[dict[str, Any]]) -> None:
    """Write JSON lines atomically: an append-only file (`append_document`) rewritten whole."""
    atomic_write_text(path, _json_lines(documents))


def write_lines_gz(path: Path, documents: Iterable[dict[str, Any]]) -> None:
    """Write JSON lines as one gzip file, atomically, byte-stable for equal input (fixed mtime, sorted keys)."""
    import gzip

    atomic_write_bytes(path, gzip.compress(_json_lines(documents).encode("utf-8"), mtime=0))


def ensure_writable_dir(path: Path) -> None:
    """Create `path` (and parents) or explain in one line why it cannot be a results folder."""
    if path.exists() and not path.is_dir():
        raise ResultsError(f"results path {path} is a file, not a folder; pass another --results-dir")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=path, prefix=".write-probe-", delete=True)
        probe.close()
    except OSError as exc:
        raise ResultsError(f"results folder {path} is not writable ({exc.strerror}); pass another --results-dir") \
            from None


def set_aside(path: Path, suffix: str) -> Path:
    """Move a file or folder to `<name>.<suffix>` beside it, kept for the user: nothing finished is ever deleted."""
    return path.rename(path.with_name(f"{path.name}.{suffix}"))
