"""Writing outputs safely: fail before the work when a folder cannot be written, and write
every file atomically (a temporary file in the same folder, then ``os.replace``), so an
interrupted or failed write never leaves a truncated file under the final name."""
from __future__ import annotations

import errno
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np

__all__ = ["ensure_writable", "atomic_write_bytes", "atomic_write_text", "write_png", "json_ready"]


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


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (parent folders are created).

    Raises:
        OSError: the write failed (a full disk says so, naming the path); nothing is left
            under ``path`` or as a temporary file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise _explain(exc, path) from exc
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """:func:`atomic_write_bytes` of UTF-8 text."""
    return atomic_write_bytes(path, text.encode("utf-8"))


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
