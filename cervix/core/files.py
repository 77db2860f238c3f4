"""Writing outputs safely: fail before the work when a folder cannot be written, and write
every file atomically (a temporary file in the same folder, then ``os.replace``), so an
interrupted or failed write never leaves a truncated file under the final name."""

from __future__ import annotations

import csv
import errno
import io
import math
import os
import secrets
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

__all__ = [
    "ensure_writable",
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_csv",
    "write_png",
    "json_ready",
]


def json_ready(obj: Any) -> Any:
    """JSON-ready copy: numpy scalars and arrays to Python, NaN/inf to None (``null``), paths to str."""
    if isinstance(obj, Mapping):
        return {str(k): json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_ready(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_ready(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(float(obj)) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return obj


def _explain(exc: OSError, where: Path) -> OSError:
    if exc.errno == errno.ENOSPC:
        return OSError(errno.ENOSPC, f"no space left on the device holding {where}")
    return exc


def ensure_writable(folder: str | os.PathLike) -> Path:
    """Create ``folder`` if needed and check that a file can be written in it, before any work.

    Raises:
        OSError: naming the folder (a parent that is a regular file, no permission, no space).
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".cervix-write-test-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise type(exc)(exc.errno, f"cannot write to the output folder {folder}: {reason}") from exc
    return folder


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], Any], *, fsync: bool = False) -> Path:
    """Write ``path`` atomically through ``write(fh)`` on a binary file (parent folders are created).

    ``write`` fills a temporary file in the same folder (unique per process and call, created
    with the usual permissions), which then replaces ``path`` with ``os.replace``: the package's
    one home for "temporary file, then rename" (checkpoints, run logs, reports, masks).

    Args:
        path: the final file.
        write: ``write(fh)`` writes the content to the open binary file ``fh``.
        fsync: flush and ``os.fsync`` the data before the rename (checkpoints: the rename never
            lands before the data on disk).

    Raises:
        OSError: the write failed (a full disk says so, naming the path); whatever ``write``
            raises otherwise. Either way nothing is left as a temporary file and a previous file
            under ``path`` is intact.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "xb") as fh:
            write(fh)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        explained = _explain(exc, path)
        if explained is exc:
            raise
        raise explained from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (parent folders are created); see :func:`atomic_write`.

    Raises:
        OSError: the write failed (a full disk says so, naming the path); nothing is left
            under ``path`` or as a temporary file.
    """
    return atomic_write(path, lambda fh: fh.write(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """:func:`atomic_write_bytes` of UTF-8 text."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_csv(path: str | os.PathLike, rows: Sequence[Mapping[str, Any]]) -> Path:
    """Write dict rows as CSV atomically: a header of every key in first-seen order, then one line
    per row (empty cells where a row lacks a key); see :func:`atomic_write`."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(dict.fromkeys(k for r in rows for k in r)))
    writer.writeheader()
    writer.writerows(rows)
    return atomic_write_text(path, buf.getvalue())


def write_png(path: str | os.PathLike, array: np.ndarray, rgb: bool = False) -> Path:
    """Write a uint8/uint16 image as PNG atomically (``rgb``: a (H, W, 3) RGB array).

    Raises:
        OSError: encoding or writing failed (naming the path).
    """
    import cv2

    arr = cv2.cvtColor(array, cv2.COLOR_RGB2BGR) if rgb else array
    ok, buf = cv2.imencode(".png", arr)
    if not ok:
        raise OSError(f"could not encode {path} as PNG")
    return atomic_write_bytes(path, buf.tobytes())
