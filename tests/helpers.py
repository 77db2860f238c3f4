"""Helpers the tests share (imported as ``from helpers import ...``; ``tests/`` is on the path):
writing images, drawing toy fields, a stand-in cell head."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

#: Training settings that make a classifier run take seconds in tests.
FAST = dict(encoder="convnext_atto", image_size=32, epochs=1, batch_size=8, amp="none")


def write_image(path: Path, arr: np.ndarray) -> Path:
    """Write an RGB (or grey / 16-bit / RGBA as given) array with OpenCV, creating folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    a = arr
    if a.ndim == 3 and a.shape[2] == 3:
        a = cv2.cvtColor(a, cv2.COLOR_RGB2BGR)
    elif a.ndim == 3 and a.shape[2] == 4:
        a = cv2.cvtColor(a, cv2.COLOR_RGBA2BGRA)
    assert cv2.imwrite(str(path), a), path
    return path


def cell_sample(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A toy field: random ellipse cells with a nucleus inside; (image RGB, cytoplasm, nucleus)."""
    img = np.full((h, w, 3), 230, np.uint8)
    cyt = np.zeros((h, w), np.uint8)
    nuc = np.zeros((h, w), np.uint8)
    for _ in range(3):
        cx, cy = int(rng.integers(w // 4, 3 * w // 4)), int(rng.integers(h // 4, 3 * h // 4))
        r = int(rng.integers(max(3, min(h, w) // 8), max(4, min(h, w) // 4)))
        cv2.ellipse(cyt, (cx, cy), (r, int(r * 0.8)), 0, 0, 360, 255, -1)
        cv2.circle(nuc, (cx, cy), max(1, r // 3), 255, -1)
    img[cyt > 0] = (120, 170, 190)
    img[nuc > 0] = (60, 40, 120)
    return img, cyt, nuc


class DiskHead(torch.nn.Module):
    """A stand-in cell head: the whole cell is a disc of ``radius`` input pixels around the window's
    centre (where the given nucleus is), the nucleus head repeats the given nucleus."""

    def __init__(self, radius: float, offset: float = 0.0):
        super().__init__()
        self.radius, self.offset = radius, offset  # offset: the disc's shift down and right (input px)
        self.p = torch.nn.Parameter(torch.zeros(()))  # a device to find
        self.heads_asked: list[tuple[str, ...]] = []

    def forward(self, x: torch.Tensor, heads: tuple[str, ...] = ("cytoplasm", "nucleus")) -> torch.Tensor:
        self.heads_asked.append(heads)
        s = x.shape[-1]
        yy, xx = torch.meshgrid(torch.arange(s), torch.arange(s), indexing="ij")
        c = (s - 1) / 2 + self.offset
        disc = (((yy - c) ** 2 + (xx - c) ** 2) <= self.radius**2).float()
        out = {"cytoplasm": (disc * 20 - 10).expand(x.shape[0], 1, s, s), "nucleus": x[:, 3:4] * 20 - 10}
        return torch.cat([out[h] for h in heads], 1)
