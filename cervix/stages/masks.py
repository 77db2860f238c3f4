"""Masks of a trained segmentation run (``cervix masks``, notebook 03): writing them for a folder
of images, their QC table, agreement with true masks, tiled against whole-image inference, and
the cell-size normalisation shown side by side (:mod:`cervix.inference.sizing`)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cervix.core.config import run_min_nucleus_score
from cervix.core.labels import HEADS, class_order
from cervix.core.masks import binarise
from cervix.data.records import Record
from cervix.inference.sizing import parse_diameter, run_cell_size, sized_masks
from cervix.inference.tiling import predict_tiled
from cervix.inference.writing import list_images, write_masks
from cervix.metrics.scores import seg_metrics
from cervix.stages.segmentation import inference_kwargs, load_segmentation

__all__ = [
    "tiled_vs_whole",
    "compare_mask_folders",
    "qc_table",
    "generate_masks",
    "size_examples",
    "compare_sizes",
]


@torch.no_grad()
def tiled_vs_whole(model: torch.nn.Module, cfg: Mapping[str, Any], records: Sequence[Record]):
    """Dice between masks from tiled inference and from one whole-image forward pass, per image.

    The model's CBAM pools over its input, so tiles see different channel statistics than the
    whole image; this measures how much that changes the masks (1.0 = identical).
    """
    import pandas as pd

    kw = inference_kwargs(cfg)
    thr = tuple(cfg.get("thresholds", (0.5, 0.5)))
    rows = []
    for rec in records:
        image = rec.load().image
        tiled = predict_tiled(model, image, **kw)
        h, w = image.shape[:2]
        whole = predict_tiled(model, image, **{**kw, "tile": 32 * int(np.ceil(max(h, w) * kw["scale"] / 32)) + 64})
        m = seg_metrics(tiled[None], np.stack(binarise(whole, thr))[None] > 127, thr)
        rows.append({"path": rec.path, "dice_cytoplasm": m["dice_cytoplasm"], "dice_nucleus": m["dice_nucleus"]})
    return pd.DataFrame(rows)


def compare_mask_folders(pred_root: str | os.PathLike, true_root: str | os.PathLike):
    """Per-image Dice of predicted masks against true masks in the same masks-root layout.

    Both roots hold ``cytoplasm/<rel>.png`` and ``nucleus/<rel>.png``; returns a DataFrame with
    ``rel``, ``class`` (first folder of ``rel``), ``dice_cytoplasm``, ``dice_nucleus``, sorted worst first.
    """
    import pandas as pd

    from cervix.data.decode import load_mask

    pred_root, true_root = Path(pred_root), Path(true_root)
    rows = []
    for p in sorted((pred_root / HEADS[0]).rglob("*.png")):
        rel = p.relative_to(pred_root / HEADS[0])
        pred = np.stack([load_mask(pred_root / h / rel) > 127 for h in HEADS])
        true = np.stack([load_mask(true_root / h / rel, shape=pred.shape[1:]) > 127 for h in HEADS])
        m = seg_metrics(pred[None], true[None])
        rows.append(
            {
                "rel": str(rel),
                "class": rel.parts[0] if len(rel.parts) > 1 else "",
                "dice_cytoplasm": m["dice_cytoplasm"],
                "dice_nucleus": m["dice_nucleus"],
            }
        )
    if not rows:
        raise FileNotFoundError(f"no masks under {pred_root / HEADS[0]}")
    df = pd.DataFrame(rows)
    df["class"] = pd.Categorical(df["class"], categories=class_order(df["class"].unique()), ordered=True)
    df["dice_mean"] = (df["dice_cytoplasm"] + df["dice_nucleus"]) / 2
    return df.sort_values("dice_mean").reset_index(drop=True)


def qc_table(qc: Mapping[str, Any]):
    """The per-image rows of a mask QC summary as a DataFrame with a ``class`` column (first folder)."""
    import pandas as pd

    df = pd.DataFrame(qc["images"])
    names = [Path(r).parts[0] if len(Path(r).parts) > 1 else "" for r in df["rel"]]
    df["class"] = pd.Categorical(names, categories=class_order(set(names)), ordered=True)  # tables in class order
    df["flags"] = [";".join(f) for f in df["flags"]]
    return df


def _image_list(images: Path, walk: str) -> list[tuple[Path, str]]:
    if walk in ("auto", "masks") and (images / "images").is_dir():
        images = images / "images"  # a masks-format folder: predict its images/
    if not images.is_dir():
        raise FileNotFoundError(f"--images: no such folder: {images}")
    return list_images(images)


def generate_masks(
    checkpoint: str | os.PathLike,
    images: str | os.PathLike,
    out: str | os.PathLike,
    walk: str = "auto",
    tile: int | None = None,
    overlap: float | None = None,
    tta: bool = False,
    thresholds: Sequence[float] | None = None,
    amp: str | None = None,
    single_cell: bool = False,
    progress: bool = True,
    cell_diameter: float | str | None = "default",
    min_nucleus_score: float | None = None,
) -> dict[str, Any]:
    """Write cytoplasm and nucleus masks for every image under ``images`` (``cervix masks``).

    Writes ``<out>/cytoplasm/<relative path>.png`` and ``<out>/nucleus/...`` (uint8 {0, 255}), so a
    classes folder gives exactly the masks root the classifier reads; plus ``qc.json``/``qc.csv``.
    Tile, overlap, scale, normalisation and thresholds come from the run's config unless given.
    ``single_cell=True`` (for single-cell crops) keeps only the centre cell of each image
    (:func:`cervix.cells.instances.centre_instance`): a model trained on fields segments every cell in view.
    ``cell_diameter``: ``"auto"`` (each image's cell size estimated and normalised to the run's,
    the default with ``single_cell``), a cell diameter in pixels, or None (the run's scale, the
    default for fields); see :mod:`cervix.inference.sizing`. ``min_nucleus_score``: nuclei of a
    lower mean probability are left out (:func:`cervix.cells.instances.suppress_weak_nuclei`; None:
    the run's).

    Returns:
        The QC dict of :func:`cervix.inference.writing.write_masks` (``summary``, ``rows``, ``flagged``,
        ``errors``).
    """
    diameter = parse_diameter(("auto" if single_cell else None) if cell_diameter == "default" else cell_diameter)
    model, cfg = load_segmentation(checkpoint)
    kw = inference_kwargs(cfg, tile, overlap, tta, amp)
    thr = tuple(thresholds) if thresholds is not None else tuple(cfg.get("thresholds", (0.5, 0.5)))
    items = _image_list(Path(images), walk)
    size = run_cell_size(cfg, diameter)
    return write_masks(
        model,
        items,
        out,
        thr,
        progress=progress,
        single_cell=single_cell,
        cell_diameter=diameter,
        cell_size=size,
        min_nucleus_score=run_min_nucleus_score(cfg) if min_nucleus_score is None else float(min_nucleus_score),
        **kw,
    )


def size_examples(
    crops: str | os.PathLike | None = None, n: int = 4, magnify: float = 3.0
) -> list[tuple[str, np.ndarray]]:
    """``(name, image)`` crops to show the cell-size normalisation on.

    The real SIPaKMeD crops of the real-format samples (``$CERVIX_REAL_SAMPLES/sipakmed/crops``,
    one per class) when they are there; else the first ``n`` crops under ``crops`` magnified
    ``magnify`` times and letterboxed to a square with their median colour, a stand-in for a
    lab that distributes its crops at another magnification.
    """
    import cv2

    from cervix.core.paths import real_samples_dir
    from cervix.data.decode import load_image

    real = real_samples_dir() / "sipakmed" / "crops"
    if real.is_dir():
        files = [next(iter(sorted(d.glob("*.png"))), None) for d in sorted(p for p in real.iterdir() if p.is_dir())]
        return [(f"SIPaKMeD {f.parent.name}", load_image(f)) for f in files if f is not None][:n]
    if crops is None:
        raise FileNotFoundError(f"no real samples at {real} and no crops folder given")
    out = []
    for path, rel in list_images(crops)[:n]:
        img = load_image(path)
        h, w = img.shape[:2]
        img = cv2.resize(img, (round(w * magnify), round(h * magnify)), interpolation=cv2.INTER_CUBIC)
        side, (H, W) = max(img.shape[:2]), img.shape[:2]
        colour = np.median(img.reshape(-1, 3), axis=0).astype(np.uint8).tolist()
        t, left = (side - H) // 2, (side - W) // 2
        img = cv2.copyMakeBorder(img, t, side - H - t, left, side - W - left, cv2.BORDER_CONSTANT, value=colour)
        out.append((f"{rel} x{magnify:g}", img))
    return out


def compare_sizes(
    model: torch.nn.Module, cfg: Mapping[str, Any], images: Sequence[tuple[str, np.ndarray]], diameter: Any = "auto"
) -> list[dict[str, Any]]:
    """Masks of single-cell crops at the run's scale and with the cell size normalised.

    Returns:
        One dict per image: ``name``, ``image``, ``before`` and ``after`` as ``(cytoplasm,
        nucleus, info)`` of :func:`cervix.inference.sizing.sized_masks` (``before``: the run's
        scale; ``after``: ``diameter``, ``"auto"`` by default).
    """
    kw = {**inference_kwargs(cfg), "min_nucleus_score": run_min_nucleus_score(cfg)}
    thr = tuple(cfg.get("thresholds", (0.5, 0.5)))
    diameter = parse_diameter(diameter)
    size = run_cell_size(cfg, diameter)
    rows = []
    for name, image in images:
        before = sized_masks(model, image, thr, single_cell=True, diameter=None, cell_size=size, **kw)
        after = sized_masks(model, image, thr, single_cell=True, diameter=diameter, cell_size=size, **kw)
        rows.append({"name": name, "image": image, "before": before, "after": after})
    return rows
