"""Speed of the synthetic Pap smear generator (crops/s and fields/s, one process).

Run: ``python benchmarks/bench_synth.py [--fields 20] [--threads 1]``. Prints the numbers and
writes ``benchmarks/results/bench_synth.json``. Two measures: in memory (render fields, cut the
5 crops of each) and end to end (``generate`` writing PNGs to a temporary folder); each as wall-clock rate and as
rate per CPU-second of this process (robust when other jobs share the cores).
``--tiny --out DIR``: a check that it runs (2 small fields), JSON in ``DIR``.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import cv2
from tinyargs import parse_args_tiny  # beside this script

from cervix.core.labels import SIPAKMED_CLASSES
from cervix.synthetic.dataset import generate
from cervix.synthetic.fields import cut_crop, item_rng, make_field

# --tiny: defaults for a check that the script runs (a second or two); flags given explicitly win
TINY = dict(fields=2, size=64, field_size=256)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--fields", type=int, default=20, help="fields to render (5 crops each)")
    ap.add_argument("--size", type=int, default=256, help="crop side")
    ap.add_argument("--field-size", type=int, default=512, help="field side (>= 256)")
    ap.add_argument("--difficulty", type=float, default=0.5)
    ap.add_argument("--threads", type=int, default=1, help="OpenCV threads (1: one core)")
    ap.add_argument("--out", type=Path, help="folder for bench_synth.json (default: benchmarks/results)")
    args = parse_args_tiny(ap, argv, TINY, "2 small fields")
    args.out = args.out or Path(__file__).resolve().parent / "results"
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    cv2.setNumThreads(args.threads)
    make_field(item_rng(99, 0), args.field_size, args.difficulty)  # warm-up

    t0, c0 = time.perf_counter(), time.process_time()
    fields = [
        make_field(item_rng(0, k), args.field_size, args.difficulty, classes=list(SIPAKMED_CLASSES))
        for k in range(args.fields)
    ]
    t_fields, c_fields = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    n = 0
    for k, f in enumerate(fields):
        for j, i in enumerate(f["targets"]):
            cut_crop(f, i, item_rng(0, k, j + 1), args.size)
            n += 1
    t_cut, c_cut = time.perf_counter() - t0, time.process_time() - c0

    n_crops = 5 * args.fields
    with tempfile.TemporaryDirectory() as tmp:
        t0, c0 = time.perf_counter(), time.process_time()
        generate(
            tmp,
            seed=0,
            n_fields=args.fields,
            n_crops=n_crops,
            size=args.size,
            field_size=args.field_size,
            difficulty=args.difficulty,
            progress=False,
        )
        t_gen, c_gen = time.perf_counter() - t0, time.process_time() - c0

    res = {
        "crop_size": args.size,
        "field_size": args.field_size,
        "fields": args.fields,
        "opencv_threads": args.threads,
        "fields_per_s": args.fields / t_fields,
        "crops_per_s_in_memory": n / (t_fields + t_cut),
        "crops_per_s_generate_with_png": n_crops / t_gen,
        "fields_written_per_s_generate": args.fields / t_gen,
        # per CPU-second (process time): robust to other processes sharing the cores
        "fields_per_cpu_s": args.fields / c_fields,
        "crops_per_cpu_s_in_memory": n / (c_fields + c_cut),
        "crops_per_cpu_s_generate_with_png": n_crops / c_gen,
        "machine": platform.processor() or platform.machine(),
    }
    for k, v in res.items():
        print(f"{k:32s} {v:.1f}" if isinstance(v, float) else f"{k:32s} {v}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_synth.json").write_text(json.dumps(res, indent=2) + "\n")
    return res


if __name__ == "__main__":
    main()
