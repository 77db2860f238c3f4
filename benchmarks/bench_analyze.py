"""Time and peak memory of ``python -m cervix analyze`` on one large field (SIPaKMeD-sized, 2048 x 1536).

Run: ``python benchmarks/bench_analyze.py [--seg RUN] [--cls RUN] [--width 2048 --height 1536]``.
The field is synthetic (cells at the generator's pixel scale, cropped from a square field); the
runs are any trained segmentation and classification runs (without them, untrained models of
the ``cpu`` profile's architecture stand in, each on its own: the same compute for the networks, but the number
of cells, and so the classifier's share of the time, differs). Reports the wall-clock time of
each part (segmentation, instance separation, cutting and classifying the cells, writing; the
QuPath GeoJSON and COCO exports of the cells on their own; the whole cells of the cell head on
their own) and the process' peak resident memory; ``analyze`` runs twice, with the segmentation
run's cell head (``RUN/cells/``; an untrained stand-in beside the stand-in runs) and without it
(a copy of the run without ``cells/``: the partition), so the cost of whole cells is a ratio in one
process. Writes ``benchmarks/results/bench_analyze.json``.
``--tiny --out DIR``: a check that it runs (a 256 x 256 field, untrained tiny models).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
import warnings
from pathlib import Path

import cv2
import numpy as np
import torch
from tinyargs import parse_args_tiny  # beside this script

from cervix.cells.exports import coco_annotations, field_geojson
from cervix.cells.instances import InstanceConfig, cell_table, separate
from cervix.inference.tiling import predict_tiled
from cervix.inference.wholecells import predict_whole_cells
from cervix.models.networks import ConvNeXtAttentionClassifier, DualHeadAttConvNeXtUNet
from cervix.stages import pipeline
from cervix.stages.cellhead import find_cell_head, load_cell_head
from cervix.stages.segmentation import inference_kwargs, load_segmentation
from cervix.synthetic.fields import item_rng, make_field
from cervix.training.checkpoints import save_checkpoint

TINY = dict(width=256, height=256, decoder=[32, 16, 8])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seg", type=Path, help="segmentation run (default: an untrained stand-in)")
    ap.add_argument("--cls", type=Path, help="classification run (default: an untrained stand-in)")
    ap.add_argument("--width", type=int, default=2048)
    ap.add_argument("--height", type=int, default=1536)
    ap.add_argument("--decoder", type=int, nargs=3, default=[256, 128, 64], help="stand-in decoder widths")
    ap.add_argument("--out", type=Path, help="folder for bench_analyze.json (default: benchmarks/results)")
    args = parse_args_tiny(ap, argv, TINY, "a 256 x 256 field, untrained tiny models")
    args.out = args.out or Path(__file__).resolve().parent / "results"
    return args


def stand_in_runs(folder: Path, decoder: list[int]) -> tuple[Path, Path]:
    """Untrained segmentation and classification checkpoints of the ``cpu`` profile's models."""
    torch.manual_seed(0)
    seg, cls = folder / "seg", folder / "cls"
    save_checkpoint(
        seg / "best.pt",
        {
            "model": DualHeadAttConvNeXtUNet("convnext_atto", decoder_channels=tuple(decoder)).state_dict(),
            "config": {
                "task": "segmentation",
                "encoder": "convnext_atto",
                "decoder_channels": decoder,
                "tile": 256,
                "overlap": 0.25,
                "scale": 1.0,
                "thresholds": [0.5, 0.5],
                "amp": "none",
            },
        },
    )
    names = ["superficial-intermediate", "parabasal", "metaplastic", "koilocytotic", "dyskeratotic"]
    model = {"encoder": "convnext_atto", "num_classes": 5, "in_chans": 5}
    save_checkpoint(
        cls / "best.pt",
        {
            "model": ConvNeXtAttentionClassifier(**model).state_dict(),
            "config": {
                "task": "classification",
                "class_names": names,
                "model": model,
                "image_size": 128,
                "in_chans": 5,
            },
        },
    )
    from cervix.stages.cellhead import build_cell_model

    head = {"task": "cells", "encoder": "convnext_atto", "decoder_channels": decoder, "in_chans": 5}
    head.update(window=256, image_size=128, threshold=0.5, amp="none", scale=1.0)
    save_checkpoint(seg / "cells" / "best.pt", {"model": build_cell_model(head).state_dict(), "config": head})
    return seg, cls


def without_cell_head(seg: Path, folder: Path) -> Path:
    """A copy of segmentation run ``seg`` (its ``best.pt`` or folder) without its ``cells/``."""
    import shutil

    src = seg if seg.is_file() else seg / "best.pt"
    (folder / "seg_partition").mkdir(parents=True, exist_ok=True)
    shutil.copy(src, folder / "seg_partition" / "best.pt")
    return folder / "seg_partition"


def field(width: int, height: int) -> np.ndarray:
    """A synthetic field of ``width`` x ``height`` pixels (cropped from a square one)."""
    f = make_field(item_rng(0, 0), max(width, height, 256), 0.5)
    return f["image"][:height, :width]


def export_seconds(inst) -> float:
    """Seconds to turn the separated cells into QuPath GeoJSON and COCO annotations (JSON text included)."""
    rows = [{**r, "predicted_class": "cell", "confidence": 1.0} for r in cell_table(inst)]
    t0 = time.perf_counter()
    json.dumps(field_geojson(inst, rows, ["cell"], {"cell": (0, 0, 0)}))
    json.dumps(coco_annotations(inst, rows, ["cell"], image_id=1))
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    work = args.out / "bench_analyze_work"
    stand_in = stand_in_runs(work / "runs", args.decoder) if not (args.seg and args.cls) else (None, None)
    seg, cls = args.seg or stand_in[0], args.cls or stand_in[1]  # either run may be a stand-in
    image = field(args.width, args.height)
    work.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(work / "field.png"), np.ascontiguousarray(image[..., ::-1]))
    seg_model, seg_cfg = load_segmentation(seg)
    t0 = time.perf_counter()
    probs = predict_tiled(seg_model, image, **inference_kwargs(seg_cfg))
    t_seg = time.perf_counter() - t0
    inst = separate(probs, InstanceConfig())
    t_sep = time.perf_counter() - t0 - t_seg
    t_export = export_seconds(inst)
    head = find_cell_head(seg)
    t_whole = None
    if head is not None:
        model, cfg = load_cell_head(head)
        t2 = time.perf_counter()
        predict_whole_cells(model, cfg, image, probs[0], inst)
        t_whole = round(time.perf_counter() - t2, 2)
    t1 = time.perf_counter()
    res = pipeline.analyze(seg, cls, [work / "field.png"], work / "analysis", progress=False, overwrite=True)
    t_all = time.perf_counter() - t1
    partition = without_cell_head(seg, work)
    t3 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "no cell head": this run is the partition on purpose
        pipeline.analyze(partition, cls, [work / "field.png"], work / "analysis_p", progress=False, overwrite=True)
    t_part = time.perf_counter() - t3
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB
    out = {
        "width": args.width,
        "height": args.height,
        "cells": int(len(res["cells"])),
        "cells_separated": inst.n,
        "segment_s": round(t_seg, 2),
        "separate_s": round(t_sep, 2),
        "analyze_total_s": round(t_all, 2),
        "cells_and_writing_s": round(t_all - t_seg - t_sep, 2),
        "exports_s": round(t_export, 2),
        "whole_cells_s": t_whole,
        "cell_head": head is not None,
        "analyze_partition_s": round(t_part, 2),
        "whole_over_partition": round(t_all / t_part, 2),
        "peak_rss_mb": round(peak_mb, 1),
        "trained_seg": bool(args.seg),
        "trained_cls": bool(args.cls),
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "torch": torch.__version__,
    }
    (args.out / "bench_analyze.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
