"""Tests for cervix.core.device: device and precision settings, autocast, unwrapping wrappers, moving batches."""

from __future__ import annotations

import collections
import contextlib

import pytest
import torch
from torch import nn

from cervix.core.device import AMP_CHOICES, autocast_context, device_and_amp, to_device, unwrap

CPU = torch.device("cpu")


def test_amp_choices():
    assert AMP_CHOICES == ("none", "bf16", "fp16")


def test_device_and_amp_cpu_defaults(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert device_and_amp() == (CPU, None, False)
    assert device_and_amp("none", "cpu") == (CPU, None, False)


def test_device_and_amp_default_device_follows_local_rank(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv("LOCAL_RANK", "3")
    dev, dtype, scaler = device_and_amp()
    assert dev == torch.device("cuda", 3) and dtype is None and scaler is False
    monkeypatch.delenv("LOCAL_RANK")
    assert device_and_amp()[0] == torch.device("cuda", 0)


def test_device_and_amp_bf16_on_cpu():
    dev, dtype, scaler = device_and_amp("bf16", "cpu")
    assert dev == CPU and dtype is torch.bfloat16 and scaler is False
    # a torch.device is accepted as well as a string
    assert device_and_amp("bf16", CPU) == (CPU, torch.bfloat16, False)


def test_device_and_amp_fp16_needs_cuda():
    with pytest.warns(UserWarning, match="fp16 autocast needs CUDA"):
        assert device_and_amp("fp16", "cpu") == (CPU, torch.bfloat16, False)
    # on a CUDA device (no GPU needed to resolve it) fp16 comes with a GradScaler
    assert device_and_amp("fp16", "cuda:1") == (torch.device("cuda", 1), torch.float16, True)


@pytest.mark.parametrize("amp", ["fp32", "BF16", "", None])
def test_device_and_amp_rejects_unknown_amp(amp):
    with pytest.raises(ValueError, match=r"amp must be one of \('none', 'bf16', 'fp16'\)"):
        device_and_amp(amp, "cpu")


def test_autocast_context_none_is_a_no_op():
    ctx = autocast_context(CPU, None)
    assert isinstance(ctx, contextlib.nullcontext)
    a = torch.ones(2, 3)
    with ctx:
        assert (a @ a.T).dtype == torch.float32
        assert not torch.is_autocast_enabled("cpu")


def test_autocast_context_bf16_on_cpu():
    a, b = torch.ones(2, 3), torch.ones(3, 4)
    with autocast_context(CPU, torch.bfloat16):
        out = a @ b
        assert torch.is_autocast_enabled("cpu")
    assert out.dtype == torch.bfloat16 and torch.equal(out.float(), torch.full((2, 4), 3.0))
    assert not torch.is_autocast_enabled("cpu")  # left on exit


def test_unwrap_plain_module_is_itself():
    m = nn.Linear(2, 2)
    assert unwrap(m) is m
    seq = nn.Sequential(m)
    assert unwrap(seq) is seq


def test_unwrap_a_module_that_merely_has_a_module_attribute():
    class Holder(nn.Module):  # not a wrapper: its child happens to be called "module"
        def __init__(self) -> None:
            super().__init__()
            self.module = nn.Linear(2, 2)

    h = Holder()
    assert unwrap(h) is h


class _FakeDDP(nn.parallel.DistributedDataParallel):
    """A DistributedDataParallel without a process group: just the ``.module`` it wraps."""

    def __init__(self, module: nn.Module) -> None:
        nn.Module.__init__(self)
        self.module = module


class _FakeCompiled(nn.Module):
    """What torch.compile returns, as far as unwrap sees it: ``_orig_mod``."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self._orig_mod = module


def test_unwrap_data_parallel_and_ddp():
    inner = nn.Linear(2, 2)
    assert unwrap(nn.DataParallel(inner)) is inner
    assert unwrap(_FakeDDP(inner)) is inner
    assert unwrap(_FakeCompiled(inner)) is inner
    # nested wrappers are all peeled off
    assert unwrap(nn.DataParallel(_FakeDDP(_FakeCompiled(inner)))) is inner


def test_to_device_nested_containers():
    t1, t2, t3 = torch.arange(3), torch.ones(2, 2), torch.zeros(1)
    batch = {"image": t1, "extra": [t2, (t3, "name", 7)], "meta": {"path": "a.png", "n": None}}
    out = to_device(batch, CPU)
    assert set(out) == {"image", "extra", "meta"}
    assert torch.equal(out["image"], t1) and out["image"].device == CPU
    assert isinstance(out["extra"], list) and isinstance(out["extra"][1], tuple)
    assert torch.equal(out["extra"][0], t2) and torch.equal(out["extra"][1][0], t3)
    assert out["extra"][1][1:] == ("name", 7)
    assert out["meta"] == {"path": "a.png", "n": None}


def test_to_device_mappings_become_dicts_and_others_pass_through():
    od = collections.OrderedDict([("b", torch.ones(1)), ("a", 2)])
    out = to_device(od, CPU)
    assert type(out) is dict and list(out) == ["b", "a"] and out["a"] == 2
    obj = object()
    assert to_device(obj, CPU) is obj
    assert to_device("text", CPU) == "text" and to_device(3.5, CPU) == 3.5 and to_device(None, CPU) is None
    assert to_device([], CPU) == [] and to_device((), CPU) == ()


def test_to_device_moves_tensors_keeping_dtype_and_shape():
    t = torch.tensor([1.5, 2.5], dtype=torch.float64)
    out = to_device([t], torch.device("meta"))
    assert out[0].device.type == "meta" and out[0].dtype == torch.float64 and out[0].shape == (2,)


def test_to_device_namedtuple_batch():
    Batch = collections.namedtuple("Batch", "x y")
    out = to_device(Batch(torch.ones(1), 2), CPU)
    assert isinstance(out, Batch) and out.y == 2
