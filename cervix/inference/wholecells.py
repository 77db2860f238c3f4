"""Whole cells of a field from the cell head: one window per detected nucleus, batched.

The first model's partition (:func:`cervix.cells.instances.separate`) gives the nuclei; for each
one the cell head sees a window centred on it (:func:`cervix.data.windows.cell_window`: RGB, that
nucleus, the cytoplasm probability) and answers with that cell's whole mask, overlaps with
neighbours included. The answer is resized back to field pixels, thresholded and kept to its part
connected to the given nucleus; a cell the head finds nothing for, and a partition cell without a
nucleus, keeps its partition mask. Each cell is a :class:`cervix.cells.whole.CellMask` (box +
local masks), so a field of hundreds of cells never holds a full-field array per cell.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import cv2
import numpy as np
import torch
from scipy import ndimage as ndi

from cervix.cells.instances import Instances
from cervix.cells.whole import CellMask
from cervix.core.device import device_and_amp
from cervix.core.labels import HEADS
from cervix.data.windows import cell_window, model_input, window_origin, window_transform
from cervix.inference.tiling import flip_averaged_probabilities

__all__ = [
    "predict_whole_cells",
]


def _local(mask: np.ndarray, given: np.ndarray) -> np.ndarray:
    """The part of ``mask`` connected to the given nucleus (all of it when they do not touch)."""
    lab, n = ndi.label(mask, structure=np.ones((3, 3)))
    if n <= 1:
        return mask | given
    ids = np.unique(lab[given & (lab > 0)])
    keep = ids if len(ids) else [int(np.argmax(np.bincount(lab.ravel())[1:])) + 1]
    return np.isin(lab, keep) | given


def _as_cell(mask: np.ndarray, nucleus: np.ndarray, origin: tuple[int, int]) -> CellMask:
    """A :class:`CellMask` from a cell and its nucleus in a window whose top-left is at ``origin`` = ``(x0, y0)``."""
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    box = (int(y0 + origin[1]), int(x0 + origin[0]), int(y1 + origin[1]), int(x1 + origin[0]))
    return CellMask(box, mask[y0:y1, x0:x1].copy(), nucleus[y0:y1, x0:x1].copy())


@torch.no_grad()
def predict_whole_cells(
    model: torch.nn.Module,
    cfg: Mapping[str, Any],
    image: np.ndarray,
    cytoplasm: np.ndarray,
    inst: Instances,
    batch_size: int = 16,
    ids: Sequence[int] | None = None,
) -> list[CellMask]:
    """Whole cells of one field, in the order of the partition's cell ids (cell ``i`` -> index ``i - 1``),
    or of ``ids``.

    Args:
        model: the cell head (5 input channels), in eval mode.
        cfg: its run config (``window``, ``image_size``, ``threshold``, ``amp``, ``scale``; ``tta``:
            average the whole-cell probabilities of identity, horizontal and vertical flips).
        image: (H, W, 3) uint8 RGB.
        cytoplasm: (H, W) float cytoplasm probability of the first model.
        inst: the first model's partition (its nuclei are the seeds).
        batch_size: windows per forward pass.
        ids: the partition cells to predict (default: all of them); a single-cell crop needs one.

    Returns:
        One :class:`CellMask` per partition cell (``inst.n`` of them), or per id of ``ids``.
    """
    H, W = image.shape[:2]
    window = max(32, int(round(int(cfg["window"]) / float(cfg.get("scale", 1.0)))))
    size, thr = int(cfg["image_size"]), float(cfg.get("threshold", 0.5))
    dev = next(model.parameters()).device
    _, dtype, _ = device_and_amp(cfg.get("amp", "none"), dev)
    resize = window_transform(size)
    objs = ndi.find_objects(inst.cells)  # boxes of the partition's cells
    nuc_objs = ndi.find_objects(inst.nuclei)
    jobs: list[tuple[int, tuple[int, int]]] = []  # (cell id, window origin)
    wanted = list(range(1, inst.n + 1)) if ids is None else [int(i) for i in ids]
    if any(not 1 <= cid <= inst.n for cid in wanted):
        raise ValueError(f"cell ids must lie in 1..{inst.n}, got {wanted}")
    out: dict[int, CellMask] = {}
    for cid in wanted:
        if cid > len(nuc_objs) or nuc_objs[cid - 1] is None or cid in inst.no_nucleus:
            sl = objs[cid - 1]
            m = inst.cells[sl] == cid
            out[cid] = CellMask((sl[0].start, sl[1].start, sl[0].stop, sl[1].stop), m, inst.nuclei[sl] == cid)
            continue
        sl = nuc_objs[cid - 1]
        ys, xs = np.nonzero(inst.nuclei[sl] == cid)
        origin = window_origin((ys.mean() + sl[0].start, xs.mean() + sl[1].start), window)
        jobs.append((cid, origin))
    for b in range(0, len(jobs), batch_size):
        chunk = jobs[b : b + batch_size]
        xs_, given = [], []
        for cid, origin in chunk:
            img, masks = cell_window(image, cytoplasm, inst.nuclei, origin, window, nucleus_id=cid)
            given.append(masks[..., 0] > 0)
            r = resize(image=img, mask=masks)
            xs_.append(model_input(r["image"], r["mask"]))
        x = torch.stack(xs_).to(dev)  # (B, 5, S, S)
        whole_cell = partial(model, heads=HEADS[:1])  # (B, 1, S, S): the whole-cell decoder only
        probs = flip_averaged_probabilities(whole_cell, x, bool(cfg.get("tta")), dev, dtype)[:, 0].cpu().numpy()
        for (cid, (x0, y0)), p, g in zip(chunk, probs, given):
            p = cv2.resize(p, (window, window), interpolation=cv2.INTER_LINEAR) if window != size else p
            m = p > thr
            m[: max(0, -y0)] = m[min(window, H - y0) :] = False  # nothing outside the field
            m[:, : max(0, -x0)] = m[:, min(window, W - x0) :] = False
            out[cid] = _as_cell(_local(m, g), g, (x0, y0))
    return [out[cid] for cid in wanted]
