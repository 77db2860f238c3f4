"""Tests for cervix.training.distributed: one process outside torchrun, and a 2-process gloo run of fit.

All on CPU with toy models and TensorDatasets (the real models are not needed by the loop).
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from torch import nn

from cervix.training.distributed import (
    broadcast,
    cleanup_distributed,
    ddp_active,
    is_main_process,
    setup_distributed,
)

ROOT = Path(__file__).resolve().parents[2]


DDP_SCRIPT = textwrap.dedent("""
    import sys, torch
    from torch import nn
    from torch.utils.data import TensorDataset
    from cervix.training.distributed import cleanup_distributed, setup_distributed
    from cervix.training.loop import TrainConfig, fit
    from cervix.training.sampling import make_loader
    rank, world, _ = setup_distributed()
    assert world == 2, world
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 4, generator=g); y = x.sum(1, keepdim=True)
    train = make_loader(TensorDataset(x, y), batch_size=5, shuffle=True, seed=0)
    assert len(train) == 4  # 20 samples per rank
    val = make_loader(TensorDataset(x[:10], y[:10]), batch_size=5, shuffle=False)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    ev = lambda m, loader: {"val_loss": sum(nn.functional.mse_loss(m(a), b).item() for a, b in loader)}
    h = fit(model, train, val, nn.functional.mse_loss, ev,
            TrainConfig(epochs=2, lr=1e-2, warmup_epochs=0, progress=False, tensorboard=False),
            sys.argv[1], config={"task": "toy"})
    assert len(h) == 2
    cleanup_distributed()
""")


def test_ddp_two_process_gloo(tmp_path):
    script = tmp_path / "ddp_toy.py"
    script.write_text(DDP_SCRIPT)
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node=2",
            "--standalone",
            str(script),
            str(tmp_path / "run"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ck = torch.load(tmp_path / "run" / "best.pt", weights_only=True)
    assert ck["world_size"] == 2 and ck["config"]["task"] == "toy"
    assert ck["global_step"] in (4, 8) and ck["epoch"] in (1, 2)
    assert not any(k.startswith("module.") for k in ck["model"])  # the unwrapped weights
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    model.load_state_dict(ck["model"])
    rows = list(csv.DictReader(open(tmp_path / "run" / "history.csv")))
    assert [r["epoch"] for r in rows] == ["1", "2"]  # written once, by rank 0


@pytest.fixture
def no_torchrun(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    assert not dist.is_initialized()


def test_single_process_outside_torchrun(no_torchrun):
    assert setup_distributed() == (0, 1, 0)
    assert not dist.is_initialized()  # nothing was started
    assert ddp_active() is False and is_main_process() is True
    obj = {"val_loss": 0.5, "stop": False}
    assert broadcast(obj) is obj
    assert broadcast(None) is None
    cleanup_distributed()  # harmless without a process group, and twice
    cleanup_distributed()
    assert not dist.is_initialized() and setup_distributed() == (0, 1, 0)


@pytest.mark.parametrize("env", [{"WORLD_SIZE": "1", "RANK": "0", "LOCAL_RANK": "0"}, {"WORLD_SIZE": "2"}])
def test_one_process_or_no_rank_does_not_start_a_group(no_torchrun, monkeypatch, env):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert setup_distributed() == (0, 1, 0)
    assert not dist.is_initialized() and ddp_active() is False and is_main_process() is True
