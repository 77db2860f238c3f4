"""Masks of magnified single-cell crops: nucleus Dice and cell-size estimate against magnification.

Crops as labs distribute them are magnified far beyond the fields a segmentation model learns
from. This benchmark builds such crops with truth from the real ISBI 2014 development images
(``$CERVIX_REAL_DEV/isbi2014``, per-cell masks): for each chosen cell, one random framing (the
cell's box covers 30-90% of the crop side, at a random offset, so the crop's size does not give
the cell's size away; a random aspect on one axis), the same framing magnified 1x, 2x, 3x, 4x
and 6x (bicubic) and letterboxed to a square with the crop's median colour, as Herlev crops are.
Cells cut by the image border, and cells without a nucleus of their own, are left out.

For every crop it records the nucleus Dice of the centre cell (as ``masks --single-cell`` writes
it) against that cell's own nucleus, the Dice of its cytoplasm mask against the whole cell (ISBI's
truth is amodal: the parts under neighbours included; the cell's part of the partition, or with
``--cell-head`` the whole cell the run's cell head draws), and the estimated nucleus diameter against the true one
(equivalent-circle diameters); the naive baseline estimates the diameter as the crop side times
the one constant that fits these crops best (fitted on them, so optimistic). It also measures
the same run on the 30 whole ISBI fields (the run's scale) and on the 15 real SIPaKMeD crops with
label maps (``$CERVIX_REAL_SAMPLES``), next to the trivial baseline of the best centred disc.

``--method``: ``auto`` (the size estimate of :mod:`cervix.inference.sizing`, refined on the
normalised pass), ``auto-once`` (the same without the refinement),
``multi-scale`` (the earlier fixed four-scale average) or ``run`` (the run's own scale only).
These are development numbers: the data are the development part of ISBI 2014.

Usage::

    python benchmarks/magnified_crops.py --run runs/cpu/seg --method auto
    python benchmarks/magnified_crops.py --table      # the JSONs in --out as a markdown table
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from real_dev import isbi_records, real_samples_dir  # noqa: E402  (beside this script)

from cervix.cells.morphometrics import equivalent_diameter  # noqa: E402
from cervix.core.config import run_min_nucleus_score  # noqa: E402
from cervix.data.formats import read_dataset  # noqa: E402
from cervix.inference.sizing import sized_masks  # noqa: E402
from cervix.metrics.scores import bootstrap_ci, dice_score  # noqa: E402
from cervix.stages.cellhead import cell_head_of  # noqa: E402
from cervix.stages.segmentation import inference_kwargs, load_segmentation  # noqa: E402

MAGNIFICATIONS = (1, 2, 3, 4, 6)
METHODS = ("auto", "auto-once", "multi-scale", "run")
OUT = ROOT / "benchmarks" / "results" / "magnified"


def own_nucleus(cell: np.ndarray, nuclei: np.ndarray) -> np.ndarray | None:
    """The nucleus (a connected part of the nucleus mask) that lies most inside ``cell``; None when
    no nucleus has at least half its area in it."""
    n, lab = cv2.connectedComponents(nuclei.astype(np.uint8))
    best, best_in = None, 0.5
    for k in range(1, n):
        part = lab == k
        inside = (part & cell).sum() / part.sum()
        if inside >= best_in:
            best, best_in = part, inside
    return best


def framing(box: Sequence[int], shape: Sequence[int], rng: np.random.Generator) -> tuple[int, int, int, int]:
    """A crop window ``(top, left, height, width)`` in which the cell's box covers 30-90% of the
    side, at a random offset, with a random aspect (0.6-1) on one axis; kept inside the image."""
    y0, x0, y1, x1 = box
    side = max(y1 - y0, x1 - x0)
    win = side / rng.uniform(0.3, 0.9)
    short = max(win * rng.uniform(0.6, 1.0), 1)
    wh, ww = (win, max(short, x1 - x0)) if rng.random() < 0.5 else (max(short, y1 - y0), win)
    wh, ww = min(round(wh), shape[0]), min(round(ww), shape[1])
    top = int(np.clip(rng.integers(y1 - wh, y0 + 1), 0, shape[0] - wh))
    left = int(np.clip(rng.integers(x1 - ww, x0 + 1), 0, shape[1] - ww))
    return top, left, wh, ww


def letterbox(image: np.ndarray, truth: np.ndarray, m: float) -> tuple[np.ndarray, np.ndarray]:
    """The crop magnified ``m`` times (bicubic; truth nearest), padded to a square with its median
    colour (the image) and background (the truth), centred."""
    h, w = image.shape[:2]
    H, W = max(1, round(h * m)), max(1, round(w * m))
    img = cv2.resize(image, (W, H), interpolation=cv2.INTER_CUBIC if m > 1 else cv2.INTER_AREA)
    tru = cv2.resize(truth.astype(np.uint8), (W, H), interpolation=cv2.INTER_NEAREST)
    side = max(H, W)
    t, left = (side - H) // 2, (side - W) // 2
    pads = (t, side - H - t, left, side - W - left)
    colour = np.median(image.reshape(-1, 3), axis=0).astype(np.uint8).tolist()
    img = cv2.copyMakeBorder(img, *pads, cv2.BORDER_CONSTANT, value=colour)
    tru = cv2.copyMakeBorder(tru, *pads, cv2.BORDER_CONSTANT, value=0)
    return img, tru > 0


def magnified_crops(cells_per_image: int = 2, seed: int = 0) -> list[dict[str, Any]]:
    """One framing per chosen cell of the ISBI development images: ``{"image", "truth" (its own
    nucleus), "whole" (the whole cell, overlaps included), "file", "cell"}`` at 1x, before magnification."""
    rng = np.random.default_rng(seed)
    crops = []
    for rec in isbi_records():
        s = rec.load()
        H, W = s.image.shape[:2]
        order = rng.permutation(len(s.cells))
        kept = 0
        for i in order:
            cell = s.cells[i]
            ys, xs = np.nonzero(cell)
            if not len(ys) or ys.min() == 0 or xs.min() == 0 or ys.max() == H - 1 or xs.max() == W - 1:
                continue  # cut by the image border
            nuc = own_nucleus(cell, s.nucleus > 127)
            if nuc is None:
                continue
            t, left, h, w = framing((ys.min(), xs.min(), ys.max() + 1, xs.max() + 1), (H, W), rng)
            crops.append(
                {
                    "image": s.image[t : t + h, left : left + w],
                    "truth": nuc[t : t + h, left : left + w],
                    "whole": cell[t : t + h, left : left + w],
                    "file": Path(rec.path).name,
                    "cell": int(i),
                }
            )
            kept += 1
            if kept == cells_per_image:
                break
    return crops


def _mean_ci(v: Sequence[float]) -> dict[str, Any]:
    a = np.asarray(v, np.float64)
    return {"mean": float(a.mean()), "ci95": list(bootstrap_ci(np.mean, a, n_boot=2000, seed=0)), "n": len(a)}


def _method(cfg: dict[str, Any], method: str) -> tuple[Any, str | None, bool]:
    """``(cell_size, diameter, refine)`` of :func:`sized_masks` for a ``--method``."""
    size = None if method == "multi-scale" else cfg.get("cell_size")
    return size, (None if method == "run" else "auto"), method != "auto-once"


def _crop_masker(model: Any, cfg: dict[str, Any], method: str, cell_head: Any) -> Callable[..., Any]:
    """``image -> (cytoplasm, nucleus, info)``: the masks ``masks --single-cell`` writes, with ``--method``."""
    size, diameter, refine = _method(cfg, method)
    thr = tuple(cfg.get("thresholds", (0.5, 0.5)))
    return partial(
        sized_masks,
        model,
        thresholds=thr,
        single_cell=True,
        cell_head=cell_head,
        diameter=diameter,
        cell_size=size,
        refine=refine,
        min_nucleus_score=run_min_nucleus_score(cfg),
        **inference_kwargs(cfg),
    )


def crops_part(
    model: Any, cfg: dict[str, Any], method: str, cells_per_image: int, cell_head: Any = None
) -> dict[str, Any]:
    """Nucleus and whole-cell (cytoplasm mask) Dice and the diameter estimate per magnification."""
    crop_masks = _crop_masker(model, cfg, method, cell_head)
    rows = []
    for crop in magnified_crops(cells_per_image):
        for m in MAGNIFICATIONS:
            img, truth = letterbox(crop["image"], crop["truth"], m)
            _, whole = letterbox(crop["image"], crop["whole"], m)
            cyt, nuc, info = crop_masks(img)
            rows.append(
                {
                    "file": crop["file"],
                    "cell": crop["cell"],
                    "magnification": m,
                    "side": int(img.shape[0]),
                    "dice_nucleus": float(dice_score(nuc[None] > 0, truth[None])[0]),
                    "dice_cytoplasm": float(dice_score(cyt[None] > 0, whole[None])[0]),
                    "true_diameter": float(equivalent_diameter(truth.sum())),
                    "estimate": info["nucleus_diameter_px"],
                    "scale": info["scale"],
                }
            )
    if not rows:
        raise SystemExit("no cell of the ISBI images qualified (every one cut by the border or without a nucleus)")
    c = float(np.median([r["true_diameter"] / r["side"] for r in rows]))  # the naive baseline's constant
    per_mag = {}
    for m in MAGNIFICATIONS:
        mine = [r for r in rows if r["magnification"] == m]
        err = [abs(r["estimate"] / r["true_diameter"] - 1) for r in mine if r["estimate"]]
        naive = [abs(c * r["side"] / r["true_diameter"] - 1) for r in mine]
        per_mag[str(m)] = {
            "dice_nucleus": _mean_ci([r["dice_nucleus"] for r in mine]),
            "dice_cytoplasm": _mean_ci([r["dice_cytoplasm"] for r in mine]),
            "below_0.5": float(np.mean([r["dice_nucleus"] < 0.5 for r in mine])),
            "estimate_median_abs_error": float(np.median(err)) if err else None,
            "estimated": len(err),
            "naive_median_abs_error": float(np.median(naive)),
        }
    err_all = [abs(r["estimate"] / r["true_diameter"] - 1) for r in rows if r["estimate"]]
    naive_all = [abs(c * r["side"] / r["true_diameter"] - 1) for r in rows]
    return {
        "per_magnification": per_mag,
        "estimate_median_abs_error": float(np.median(err_all)) if err_all else None,
        "naive_median_abs_error": float(np.median(naive_all)),
        "naive_constant": c,
        "n_cells": len(rows) // len(MAGNIFICATIONS),
        "rows": rows,
    }


def fields_part(model: Any, cfg: dict[str, Any]) -> dict[str, Any]:
    """Dice per head on the 30 whole ISBI fields at the run's scale (union masks, as ``masks`` writes them)."""
    kw, thr = inference_kwargs(cfg), tuple(cfg.get("thresholds", (0.5, 0.5)))
    d: dict[str, list[float]] = {"cytoplasm": [], "nucleus": []}
    for rec in isbi_records():
        s = rec.load()
        cyt, nuc, _ = sized_masks(model, s.image, thr, min_nucleus_score=run_min_nucleus_score(cfg), **kw)
        d["cytoplasm"].append(float(dice_score(cyt[None] > 0, s.cytoplasm[None] > 127)[0]))
        d["nucleus"].append(float(dice_score(nuc[None] > 0, s.nucleus[None] > 127)[0]))
    return {f"dice_{h}": _mean_ci(v) for h, v in d.items()}


def sipakmed_part(model: Any, cfg: dict[str, Any], method: str, cell_head: Any = None) -> dict[str, Any]:
    """The 15 real SIPaKMeD crops with label maps: Dice per head, and the best centred disc."""
    root = real_samples_dir() / "sipakmed"
    recs = read_dataset(root, "labelmap")
    crop_masks = _crop_masker(model, cfg, method, cell_head)
    d: dict[str, list[float]] = {"cytoplasm": [], "nucleus": []}
    samples = [r.load() for r in recs]
    for s in samples:
        cyt, nuc, _ = crop_masks(s.image)
        d["cytoplasm"].append(float(dice_score(cyt[None] > 0, s.cytoplasm[None] > 127)[0]))
        d["nucleus"].append(float(dice_score(nuc[None] > 0, s.nucleus[None] > 127)[0]))
    disc = {}
    for frac in np.arange(0.5, 1.01, 0.05):  # the best single disc size, chosen on these crops
        v = []
        for s in samples:
            h, w = s.cytoplasm.shape
            m = np.zeros((h, w), np.uint8)
            cv2.circle(m, (w // 2, h // 2), int(frac * min(h, w) / 2), 1, -1)
            v.append(float(dice_score(m[None] > 0, s.cytoplasm[None] > 127)[0]))
        disc[f"{frac:.2f}"] = float(np.mean(v))
    best = max(disc, key=disc.get)
    return {
        **{f"dice_{h}": _mean_ci(v) for h, v in d.items()},
        "disc_cytoplasm": {"diameter_fraction": float(best), "dice": disc[best]},
    }


def table(out: Path) -> str:
    """Markdown: one row per JSON in ``out`` (run, method)."""
    head = "| run | method | " + " | ".join(f"nucleus Dice {m}x" for m in MAGNIFICATIONS)
    head += (
        " | cell Dice 1x-6x | diameter error (naive) | SIPaKMeD nucleus / cytoplasm (disc) | ISBI fields cyt / nuc |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for p in sorted(out.glob("*.json")):
        r = json.loads(p.read_text())
        pm = r["crops"]["per_magnification"]
        dice = " | ".join(
            f"{pm[str(m)]['dice_nucleus']['mean']:.3f} [{pm[str(m)]['dice_nucleus']['ci95'][0]:.2f}, "
            f"{pm[str(m)]['dice_nucleus']['ci95'][1]:.2f}]"
            for m in MAGNIFICATIONS
        )
        cells = " / ".join(
            f"{pm[str(m)]['dice_cytoplasm']['mean']:.3f}" if "dice_cytoplasm" in pm[str(m)] else "-"
            for m in MAGNIFICATIONS
        )
        e = r["crops"]["estimate_median_abs_error"]
        sip, f = r["sipakmed"], r["fields"]
        lines.append(
            f"| {r['label']} | {r['method']}{' + cell head' if r.get('cell_head') else ''} | {dice} | {cells} | "
            + (f"{e:.1%}" if e is not None else "-")
            + f" ({r['crops']['naive_median_abs_error']:.1%}) | "
            f"{sip['dice_nucleus']['mean']:.3f} / {sip['dice_cytoplasm']['mean']:.3f} "
            f"({sip['disc_cytoplasm']['dice']:.3f}) | "
            f"{f['dice_cytoplasm']['mean']:.3f} / {f['dice_nucleus']['mean']:.3f} |"
        )
    n = json.loads(next(out.glob("*.json")).read_text())["crops"]["n_cells"] if any(out.glob("*.json")) else 0
    return "\n".join(lines) + f"\n\n{n} cells x {len(MAGNIFICATIONS)} magnifications; 95% bootstrap CIs.\n"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", type=Path, help="segmentation run folder or checkpoint")
    ap.add_argument("--method", choices=METHODS, default="auto")
    ap.add_argument("--label", help="name of the run in the table (default: the run folder's name)")
    ap.add_argument("--cells-per-image", type=int, default=2)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--table", action="store_true", help="only print/write the table of the JSONs in --out")
    ap.add_argument(
        "--cell-head",
        action="store_true",
        help="the centre cell's cytoplasm mask from the run's cell head (its whole cell), not the partition",
    )
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.table:
        if args.run is None:
            ap.error("--run is required (or --table)")
        model, cfg = load_segmentation(args.run)
        label = args.label or Path(args.run).name
        cell_head = cell_head_of(args.run) if args.cell_head else None
        if args.cell_head and cell_head is None:
            ap.error(f"--cell-head: {args.run} has no cell head (cells/best.pt)")
        t0 = time.perf_counter()
        res = {
            "label": label,
            "method": args.method,
            "run": str(args.run),
            "cell_size": cfg.get("cell_size"),
            "cell_head": cell_head is not None,
            "crops": crops_part(model, cfg, args.method, args.cells_per_image, cell_head),
            "sipakmed": sipakmed_part(model, cfg, args.method, cell_head),
            "fields": fields_part(model, cfg),
        }
        res["seconds"] = time.perf_counter() - t0
        (args.out / f"{label}_{args.method}.json").write_text(json.dumps(res, indent=1))
    text = table(args.out)
    (args.out / "table.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
