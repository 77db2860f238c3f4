"""Data-pipeline throughput: samples/s of SegmentationDataset and ClassificationDataset.

Generates a small synthetic data set (``cervix.synthetic.fields``) in a temporary folder, then iterates each
dataset through a ``DataLoader`` (num_workers=0, so the number is per worker) with and without
augmentation, decoded images cached in memory after the first pass. Prints a table and writes
``benchmarks/results/bench_data.json``.

Usage: ``python benchmarks/bench_data.py [--patch 256] [--image-size 224] [--seconds 5]``;
``--tiny --out DIR``: a check that it runs (tiny sizes, 0.2 s per measurement), JSON in ``DIR``.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import torch
from tinyargs import parse_args_tiny  # beside this script
from torch.utils.data import DataLoader

from cervix.data.augment import AugmentConfig
from cervix.data.datasets import ClassificationDataset, SegmentationDataset
from cervix.data.formats import read_dataset
from cervix.data.records import class_names_of

# --tiny: defaults for a check that the script runs (a few seconds); flags given explicitly win
TINY = dict(patch=64, image_size=32, n_fields=2, n_crops=10, crop_size=64, field_size=256, batch=4, seconds=0.2)


def throughput(ds: torch.utils.data.Dataset, batch: int, seconds: float) -> float:
    """Samples/s over whole passes of ``ds`` after one warm-up pass (fills the cache)."""
    loader = DataLoader(ds, batch_size=batch, shuffle=True, num_workers=0)
    for _ in loader:  # warm-up: decode + cache
        pass
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for x, _ in loader:
            n += x.shape[0]
    return n / (time.perf_counter() - t0)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patch", type=int, default=256, help="segmentation patch size")
    ap.add_argument("--image-size", type=int, default=224, help="classifier input size")
    ap.add_argument("--n-fields", type=int, default=8)
    ap.add_argument("--n-crops", type=int, default=60)
    ap.add_argument("--crop-size", type=int, default=128, help="side of the synthetic crops")
    ap.add_argument("--field-size", type=int, default=512, help="side of the synthetic fields")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=5.0, help="timed seconds per measurement")
    ap.add_argument(
        "--out",
        type=Path,
        help="JSON file, or a folder to write bench_data.json into (default: benchmarks/results/bench_data.json)",
    )
    args = parse_args_tiny(ap, argv, TINY, "tiny sizes, 0.2 s per measurement")
    if args.out is None:
        args.out = Path(__file__).resolve().parent / "results" / "bench_data.json"
    elif args.out.suffix != ".json":
        args.out = args.out / "bench_data.json"
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    torch.manual_seed(0)
    torch.set_num_threads(1)
    results: dict = {
        "config": {k: str(v) for k, v in vars(args).items()},
        "platform": platform.platform(),
        "torch": torch.__version__,
        "rows": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        synth = {
            "n_fields": args.n_fields,
            "n_crops": args.n_crops,
            "size": args.crop_size,
            "field_size": args.field_size,
        }
        fields = read_dataset(tmp, "synthetic", synth=synth)
        crops = read_dataset(tmp, "synthetic", part="crops", synth=synth)
        names = class_names_of(crops)
        for aug in (None, AugmentConfig()):
            tag = "augmented" if aug else "plain"
            seg = SegmentationDataset(fields, args.patch, augment=aug, patches_per_image=4)
            cls = ClassificationDataset(crops, names, args.image_size, in_chans=5, augment=aug)
            for name, ds in (("segmentation", seg), ("classification", cls)):
                sps = throughput(ds, args.batch, args.seconds)
                size = args.patch if name == "segmentation" else args.image_size
                results["rows"].append({"dataset": name, "augment": tag, "size": size, "samples_per_s": round(sps, 1)})
                print(f"{name:15s} {tag:9s} {size:4d}px  {sps:8.1f} samples/s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    print(f"wrote {args.out}")
    return results


if __name__ == "__main__":
    main()
