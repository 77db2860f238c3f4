"""Figures of overlapping cells: a field's partition next to its whole cells, on the same clump
(notebook 06; :mod:`cervix.cells.whole`, :mod:`cervix.inference.wholecells`)."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from cervix.cells.instances import Instances
from cervix.cells.whole import CellMask, overlap_table

__all__ = ["clump_box", "plot_partition_vs_whole"]


def clump_box(inst: Instances, margin: int = 16) -> tuple[int, int, int, int]:
    """``(y0, x0, y1, x1)`` around the pair of cells that share the most pixels (with ``margin``),
    the whole field when no cells overlap."""
    H, W = inst.cells.shape
    masks = inst.cell_masks
    rows = overlap_table(list(masks.values()), list(masks))
    if not rows:
        return 0, 0, H, W
    r = max(rows, key=lambda r: r["shared_px"])
    a, b = masks[r["cell_a"]].box, masks[r["cell_b"]].box
    return (
        max(0, min(a[0], b[0]) - margin),
        max(0, min(a[1], b[1]) - margin),
        min(H, max(a[2], b[2]) + margin),
        min(W, max(a[3], b[3]) + margin),
    )


def _draw(ax: plt.Axes, image: np.ndarray, cells: Sequence[CellMask], box: tuple[int, int, int, int]) -> None:
    """The image inside ``box`` with every cell's contour (and its nucleus, dashed) in its own colour."""
    y0, x0, y1, x1 = box
    ax.imshow(image[y0:y1, x0:x1], cmap="gray" if image.ndim == 2 else None)
    colours = plt.get_cmap("tab10")
    for i, c in enumerate(cells):
        for m, style in ((c.mask, "-"), (c.nucleus, "--")):
            full = np.zeros((y1 - y0 + 2, x1 - x0 + 2), float)  # one pixel of room so edges close
            cy0, cx0, cy1, cx1 = c.box
            iy0, ix0, iy1, ix1 = max(cy0, y0), max(cx0, x0), min(cy1, y1), min(cx1, x1)
            if iy1 <= iy0 or ix1 <= ix0 or not m.any():
                continue
            part = m[iy0 - cy0 : iy1 - cy0, ix0 - cx0 : ix1 - cx0]
            full[iy0 - y0 + 1 : iy1 - y0 + 1, ix0 - x0 + 1 : ix1 - x0 + 1] = part
            xs, ys = np.arange(-1, x1 - x0 + 1), np.arange(-1, y1 - y0 + 1)
            ax.contour(xs, ys, full, levels=[0.5], colors=[colours(i % 10)], linewidths=1.2, linestyles=style)
    ax.set_xlim(-0.5, x1 - x0 - 0.5)
    ax.set_ylim(y1 - y0 - 0.5, -0.5)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_partition_vs_whole(
    image: np.ndarray, inst: Instances, box: tuple[int, int, int, int] | None = None, title: str = ""
) -> plt.Figure:
    """Two panels on the same clump: (a) the partition (every pixel to one cell: contours meet along
    straight cuts), (b) the whole cells of the cell head (contours cross where cells overlap).

    Args:
        image: the field, (H, W, 3) uint8 RGB.
        inst: its cells with :attr:`Instances.whole` set (else both panels show the partition).
        box: ``(y0, x0, y1, x1)`` to show; default :func:`clump_box`.
        title: a suptitle (e.g. the field's name).
    """
    box = box or clump_box(inst)
    partition = Instances(inst.cells, inst.nuclei, inst.no_nucleus).cell_masks
    fig, axes = plt.subplots(1, 2, figsize=(6.8, 3.6))
    for ax, cells, name in (
        (axes[0], list(partition.values()), "(a) partition (nearest nucleus)"),
        (axes[1], list(inst.cell_masks.values()), "(b) whole cells (cell head)"),
    ):
        _draw(ax, image, cells, box)
        ax.set_title(name, fontsize="medium")
    if title:
        fig.suptitle(title, fontsize="medium")
    fig.tight_layout()
    return fig
