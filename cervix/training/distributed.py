"""Multi-process training under ``torchrun``: the process group and what rank 0 shares.

:func:`setup_distributed` initialises the process group when ``RANK`` / ``WORLD_SIZE`` /
``LOCAL_RANK`` are set (NCCL on CUDA, gloo on CPU) and does nothing otherwise, so the same code
runs on one process. In :func:`cervix.training.loop.fit` only rank 0 evaluates, logs, prints and saves;
:func:`broadcast` hands its metrics and stop decision to the other ranks.
"""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.distributed as dist

__all__ = [
    "setup_distributed",
    "cleanup_distributed",
    "ddp_active",
    "is_main_process",
    "broadcast",
]


def setup_distributed() -> tuple[int, int, int]:
    """Initialise the process group when started by torchrun; return (rank, world_size, local_rank).

    NCCL on CUDA, gloo on CPU. Outside torchrun returns ``(0, 1, 0)`` and does nothing.
    """
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0))
    world = int(os.environ.get("WORLD_SIZE", 1))
    if world <= 1 or "RANK" not in os.environ:
        return 0, 1, 0
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        backend = "nccl"
    else:
        backend = "gloo"
    dist.init_process_group(backend=backend)
    return dist.get_rank(), dist.get_world_size(), local_rank


def cleanup_distributed() -> None:
    """Destroy the process group if one is initialised."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def ddp_active() -> bool:
    """True inside an initialised process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def is_main_process() -> bool:
    """True outside DDP and on rank 0."""
    return not ddp_active() or dist.get_rank() == 0


def broadcast(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank (a picklable object); ``obj`` itself outside DDP."""
    if not ddp_active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]
