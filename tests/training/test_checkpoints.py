"""Tests for cervix.training.checkpoints: weights-only loading, plain contents, atomic and full-disk-safe saving.

(The checkpoints :func:`cervix.training.loop.fit` writes are tested in test_engine.py.)
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cervix.training.checkpoints import CheckpointError, load_checkpoint, save_checkpoint


def test_save_checkpoint_refuses_non_plain_and_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "c.pt"
    with pytest.raises(TypeError, match="weights_only"):
        save_checkpoint(path, {"arr": np.zeros(3)})
    save_checkpoint(path, {"w": torch.ones(2), "epoch": 1})

    def broken_save(obj, fh, *a, **k):
        fh.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"w": torch.zeros(2), "epoch": 2})
    monkeypatch.undo()
    assert load_checkpoint(path)["epoch"] == 1  # the old file is intact
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temporary left


class Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_load_checkpoint_refuses_non_weights_only(tmp_path):
    bad = tmp_path / "pickled.pt"
    torch.save({"model": {}, "obj": Evil()}, bad)
    with pytest.raises(CheckpointError, match="pickled.pt.*not a weights-only checkpoint"):
        load_checkpoint(bad)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"this is not a checkpoint at all" * 10)
    with pytest.raises(CheckpointError, match="junk.pt"):
        load_checkpoint(junk)
    lst = tmp_path / "list.pt"
    torch.save([torch.ones(1)], lst)
    with pytest.raises(CheckpointError, match="list.pt"):
        load_checkpoint(lst)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")


def test_full_disk_while_saving_a_checkpoint_says_so(tmp_path, monkeypatch):
    import errno

    save_checkpoint(tmp_path / "best.pt", {"w": torch.zeros(2)})

    def full(*a, **k):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0")

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(OSError, match=r"no space left on the device holding .*best.pt") as e:
        save_checkpoint(tmp_path / "best.pt", {"w": torch.ones(2)})
    assert e.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert torch.equal(load_checkpoint(tmp_path / "best.pt")["w"], torch.zeros(2))  # intact
    assert [p.name for p in tmp_path.iterdir()] == ["best.pt"]  # no temporary file left
