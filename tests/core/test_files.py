"""The no-silent-overwrite rule of run folders."""

from __future__ import annotations

import pytest


def test_full_disk_in_an_atomic_write(tmp_path, monkeypatch):
    import errno
    import os

    from cervix.core import files

    files.atomic_write_text(tmp_path / "qc.json", "old")

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(OSError, match=r"no space left on the device holding .*qc.json"):
        files.atomic_write_text(tmp_path / "qc.json", "new")
    monkeypatch.undo()
    assert (tmp_path / "qc.json").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["qc.json"]


def test_unwritable_output_is_refused_before_work(tmp_path):
    from cervix.core.files import ensure_writable

    (tmp_path / "afile").write_text("x")
    with pytest.raises(OSError, match="cannot write to the output folder"):
        ensure_writable(tmp_path / "afile" / "out")


# --------------------------------------------------------------------------------------------
# json_ready
# --------------------------------------------------------------------------------------------
def test_json_ready_numpy_scalars_and_arrays():
    import json

    import numpy as np

    from cervix.core.files import json_ready

    out = json_ready({"i": np.int64(3), "f": np.float32(0.5), "a": np.arange(4).reshape(2, 2), "u": np.uint8(255)})
    assert out == {"i": 3, "f": 0.5, "a": [[0, 1], [2, 3]], "u": 255}
    assert type(out["i"]) is int and type(out["f"]) is float and type(out["u"]) is int
    assert all(type(v) is int for row in out["a"] for v in row)
    assert json.dumps(out) == '{"i": 3, "f": 0.5, "a": [[0, 1], [2, 3]], "u": 255}'
    assert json_ready(np.array(2.5)) == 2.5  # a 0-d array


def test_json_ready_non_finite_to_none():
    import math

    import numpy as np

    from cervix.core.files import json_ready

    assert json_ready(float("nan")) is None and json_ready(math.inf) is None and json_ready(-math.inf) is None
    assert json_ready(np.float64("nan")) is None
    assert json_ready(np.array([1.0, np.nan, np.inf])) == [1.0, None, None]
    assert json_ready(1.25) == 1.25 and json_ready(0.0) == 0.0


def test_json_ready_paths_keys_and_nesting():
    from pathlib import Path

    import numpy as np

    from cervix.core.files import json_ready

    obj = {1: (Path("runs") / "a.pt", [np.int32(2), {"x": np.nan}]), "s": "text", "b": True, "n": None}
    assert json_ready(obj) == {"1": ["runs/a.pt", [2, {"x": None}]], "s": "text", "b": True, "n": None}
    assert json_ready(()) == [] and json_ready({}) == {}


# --------------------------------------------------------------------------------------------
# atomic writes
# --------------------------------------------------------------------------------------------
def test_atomic_write_text_round_trip_and_no_temp_file(tmp_path):
    from cervix.core.files import atomic_write_text

    target = tmp_path / "deep" / "er" / "notes.txt"
    assert atomic_write_text(target, "héllo\nwörld") == target  # parent folders created
    assert target.read_bytes() == "héllo\nwörld".encode()
    atomic_write_text(target, "second")  # replaces the old content
    assert target.read_text() == "second"
    assert [p.name for p in target.parent.iterdir()] == ["notes.txt"]


def test_atomic_write_bytes_round_trip(tmp_path):
    from cervix.core.files import atomic_write_bytes

    data = bytes(range(256))
    out = atomic_write_bytes(str(tmp_path / "b.bin"), data)  # a str path is accepted, a Path returned
    assert out == tmp_path / "b.bin" and out.read_bytes() == data
    assert [p.name for p in tmp_path.iterdir()] == ["b.bin"]


def test_atomic_write_failure_keeps_old_file_and_leaves_no_temp(tmp_path):
    from cervix.core.files import atomic_write, atomic_write_text

    atomic_write_text(tmp_path / "a.txt", "old")

    def half(fh):
        fh.write(b"partial")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        atomic_write(tmp_path / "a.txt", half)
    assert (tmp_path / "a.txt").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_atomic_write_csv_header_in_first_seen_order(tmp_path):
    import csv

    from cervix.core.files import atomic_write_csv

    rows = [{"b": 1, "a": "x"}, {"a": "y", "c": 2.5}]
    path = atomic_write_csv(tmp_path / "t.csv", rows)
    with open(path, newline="") as fh:
        got = list(csv.reader(fh))
    assert got == [["b", "a", "c"], ["1", "x", ""], ["", "y", "2.5"]]
    with open(path, newline="") as fh:
        assert list(csv.DictReader(fh)) == [{"b": "1", "a": "x", "c": ""}, {"b": "", "a": "y", "c": "2.5"}]
    assert [p.name for p in tmp_path.iterdir()] == ["t.csv"]


# --------------------------------------------------------------------------------------------
# write_png
# --------------------------------------------------------------------------------------------
def test_write_png_grey_round_trip(tmp_path):
    import cv2
    import numpy as np

    from cervix.core.files import write_png

    grey = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    path = write_png(tmp_path / "m" / "g.png", grey)
    back = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert back.dtype == np.uint8 and back.shape == (3, 4) and np.array_equal(back, grey)
    deep = (np.arange(6, dtype=np.uint16).reshape(2, 3) * 10000).astype(np.uint16)
    back16 = cv2.imread(str(write_png(tmp_path / "d.png", deep)), cv2.IMREAD_UNCHANGED)
    assert back16.dtype == np.uint16 and np.array_equal(back16, deep)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.png", "m"]
    assert [p.name for p in (tmp_path / "m").iterdir()] == ["g.png"]


def test_write_png_rgb_flag(tmp_path):
    import cv2
    import numpy as np

    from cervix.core.files import write_png

    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[..., 0] = 200  # red
    rgb[0, 0] = (10, 20, 30)
    # rgb=True: stored as RGB, so OpenCV (BGR) reads the channels reversed
    bgr_read = cv2.imread(str(write_png(tmp_path / "rgb.png", rgb, rgb=True)), cv2.IMREAD_COLOR)
    assert np.array_equal(bgr_read[..., ::-1], rgb)
    assert tuple(bgr_read[1, 1]) == (0, 0, 200) and tuple(bgr_read[0, 0]) == (30, 20, 10)
    # rgb=False: the array is written as OpenCV's BGR order, untouched
    raw = cv2.imread(str(write_png(tmp_path / "raw.png", rgb)), cv2.IMREAD_COLOR)
    assert np.array_equal(raw, rgb)


# --------------------------------------------------------------------------------------------
# ensure_writable
# --------------------------------------------------------------------------------------------
def test_ensure_writable_creates_folder_and_leaves_nothing(tmp_path):
    from cervix.core.files import ensure_writable

    out = ensure_writable(str(tmp_path / "a" / "b"))
    assert out == tmp_path / "a" / "b" and out.is_dir() and list(out.iterdir()) == []
    assert ensure_writable(out) == out  # an existing folder is fine


def test_ensure_writable_errors_name_the_folder(tmp_path, monkeypatch):
    import errno
    import tempfile

    from cervix.core.files import ensure_writable

    (tmp_path / "afile").write_text("x")
    with pytest.raises(FileExistsError, match=r"cannot write to the output folder .*afile: ") as exc:
        ensure_writable(tmp_path / "afile")  # the folder itself is a regular file
    assert exc.value.errno == errno.EEXIST and isinstance(exc.value.__cause__, FileExistsError)
    with pytest.raises(NotADirectoryError, match=r"cannot write to the output folder .*afile/out: ") as exc:
        ensure_writable(tmp_path / "afile" / "out")  # its parent is
    assert exc.value.errno == errno.ENOTDIR

    def denied(*a, **k):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    message = r"^\[Errno 13\] cannot write to the output folder .*ro: Permission denied$"
    with pytest.raises(PermissionError, match=message) as exc:
        ensure_writable(tmp_path / "ro")
    assert exc.value.errno == errno.EACCES and isinstance(exc.value.__cause__, PermissionError)
