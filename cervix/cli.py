"""Command line: ``python -m cervix <command>`` (also the ``cervix`` console script).

The same steps as the notebooks, headless: ``synth``, ``segment``, ``masks``, ``classify``,
``evaluate``, ``predict`` (single-cell crops), ``analyze`` (whole fields: cell instances, classes,
a per-cell table) and ``pretrain`` (offline encoder weights, :mod:`cervix.stages.pretrain`). Each
command is a thin wrapper around a function in :mod:`cervix.stages.segmentation`,
:mod:`cervix.stages.classification`, :mod:`cervix.stages.evaluation`, :mod:`cervix.stages.pipeline` or
:mod:`cervix.synthetic.dataset`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

__all__ = [
    "main",
    "build_parser",
    "parse_pretrained",
]


def parse_pretrained(value: str | None) -> bool | str:
    """``none``/``false`` -> False (offline), ``hub``/``true`` -> True (timm download),
    ``synthetic`` -> the weights of ``cervix pretrain`` (checked when the encoder is known), else
    a local file path."""
    if value is None or value.lower() in {"", "none", "false", "0", "no"}:
        return False
    if value.lower() in {"hub", "true", "1", "yes", "imagenet"}:
        return True
    if value.lower() == "synthetic":
        return "synthetic"
    if not Path(value).is_file():
        raise argparse.ArgumentTypeError(f"--pretrained: no such weights file: {value}")
    return value


def _common_train(p: argparse.ArgumentParser) -> None:
    p.add_argument("--epochs", type=int, help="training epochs (profile default if omitted)")
    p.add_argument("--batch-size", type=int, help="batch size")
    p.add_argument("--lr", type=float, help="peak learning rate (AdamW, warm-up + cosine)")
    p.add_argument("--image-size", type=int, help="patch size (segment) or crop size (classify)")
    p.add_argument("--encoder", help="any timm backbone name, e.g. convnext_tiny, convnext_atto, resnet18")
    p.add_argument(
        "--pretrained",
        type=parse_pretrained,
        default=None,
        help="none (default, offline) | synthetic (the weights of `cervix pretrain`) | hub (timm ImageNet "
        "download) | PATH to a backbone state dict",
    )
    p.add_argument("--profile", help="smoke | cpu | paper (default: $CERVIX_PROFILE or cpu)")
    p.add_argument("--amp", choices=["none", "bf16", "fp16"], help="mixed precision (bf16 autocast on CPU)")
    p.add_argument("--seed", type=int, help="random seed")
    p.add_argument("--num-workers", type=int, help="DataLoader workers")
    p.add_argument(
        "--augment",
        type=Path,
        help="augmentation strengths: a JSON file as notebook 01 saves it (runs/PROFILE/augment.json); "
        'fields left out keep their defaults, e.g. {"fade": 0} turns off the fading for faint fields',
    )
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt (with the run's augmentation)")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="OUT holds an earlier run: remove the files cervix wrote there, then start afresh",
    )
    p.add_argument(
        "--skip-bad",
        action="store_true",
        help="go on without files that fail the pre-flight decode (listed in OUT/bad_files.csv)",
    )


def _add_use_commands(sub: Any) -> None:
    """``evaluate``, ``predict`` and ``analyze``: commands that use trained runs."""
    p = sub.add_parser("evaluate", help="evaluate a segmentation or classification checkpoint")
    p.add_argument("--checkpoint", required=True, type=Path)
    p.add_argument("--data", type=Path, help="dataset (default: the run's data)")
    p.add_argument("--masks", type=Path, help="masks root for a classifier (default: the run's)")
    p.add_argument("--format", help="reader format (default: the run's)")
    p.add_argument("--split", default="test", help="test (the run's test split) | all")
    p.add_argument("--out", type=Path, help="output folder (default: the run folder)")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples for the 95%% CIs")
    p.add_argument(
        "--tta", action="store_true", help="flip test-time augmentation (with --instances also in the cell head)"
    )
    p.add_argument(
        "--instances",
        action="store_true",
        help="segmentation: also cell/nucleus instance metrics (ISBI 2014 measures, AJI, PQ, "
        "detection F1) on data with per-cell truth",
    )

    p = sub.add_parser("predict", help="masks + class probabilities for cell crops")
    p.add_argument("--seg", required=True, type=Path, help="segmentation run folder or checkpoint")
    p.add_argument("--cls", required=True, type=Path, help="classification run folder or checkpoint")
    p.add_argument("--images", required=True, type=Path)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--tta", action="store_true", help="flip test-time augmentation in both models")
    _cell_diameter(p, "auto")

    p = sub.add_parser("analyze", help="whole fields -> cell instances, classes and a per-cell table")
    p.add_argument("--seg", required=True, type=Path, help="segmentation run folder or checkpoint")
    p.add_argument("--cls", required=True, type=Path, help="classification run folder or checkpoint")
    p.add_argument("--images", required=True, type=Path, help="folder of fields (any size)")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--tta", action="store_true", help="flip test-time augmentation in all models (the cell head too)")
    p.add_argument("--min-area", metavar="PX", help="smallest cell kept, in pixels (default 200)")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="OUT holds an earlier analysis: remove what analyze wrote there (and nothing else) first",
    )
    _cell_diameter(p, "the run's scale")


def _unit_fraction(text: str) -> float:
    """A number in [0, 1] (argparse type: anything else is a one-line usage error)."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {text}")
    return v


def _cell_diameter(p: argparse.ArgumentParser, default: str) -> None:
    p.add_argument(
        "--cell-diameter",
        metavar="PX|auto",
        help="the cells' diameter in pixels (the whole cell), or auto: each image's cell size estimated "
        "from its nuclei and the image resized to the segmentation run's training size "
        f"(default: {default})",
    )


def _add_synth(sub: Any) -> None:
    """The ``synth`` command."""
    p = sub.add_parser("synth", help="generate synthetic Pap smear fields and crops")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-fields", type=int, default=20)
    p.add_argument("--n-crops", type=int, default=200)
    p.add_argument(
        "--size",
        type=int,
        default=None,
        help="resize every crop to SIZE x SIZE (default: keep the fields' pixel scale, like SIPaKMeD CROPPED)",
    )
    p.add_argument("--field-size", type=int, default=512, help="field size in pixels")
    p.add_argument("--difficulty", type=float, default=0.5, help="0 (easy) .. 1 (hard)")
    p.add_argument(
        "--clumping",
        type=float,
        default=0.0,
        help="0..1: share of neighbours laid over other cells in the written fields; "
        "crops come from the unclumped field (cpu profile: 0.5)",
    )


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="cervix", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)

    _add_synth(sub)

    p = sub.add_parser("segment", help="train the dual-head segmentation U-Net")
    p.add_argument("--data", required=True, type=Path)
    p.add_argument(
        "--format", default="masks", help="masks | sipakmed | isbi2014 | labelmap | geojson | coco | synthetic"
    )
    p.add_argument("--out", required=True, type=Path, help="run folder")
    p.add_argument("--scale", type=float, help="resize factor applied before patching (kept for masks/predict)")
    p.add_argument("--split", type=Path, help="reuse a split.json")
    p.add_argument(
        "--cell-epochs",
        type=int,
        help="epochs of the cell head (whole, overlapping cells) trained after the model into OUT/cells; "
        "0 = none (profile default if omitted)",
    )
    p.add_argument(
        "--cell-image-size",
        type=int,
        help="side the cell head's window is resized to (multiple of 32; profile default if omitted)",
    )
    _common_train(p)

    p = sub.add_parser("masks", help="write cytoplasm/nucleus masks with a segmentation checkpoint")
    p.add_argument("--checkpoint", required=True, type=Path)
    p.add_argument("--images", required=True, type=Path)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--format", default="auto", help="auto | classes | flat: how to walk --images")
    p.add_argument("--tile", type=int, help="window size (multiple of 32)")
    p.add_argument("--overlap", type=float, help="window overlap fraction")
    p.add_argument("--tta", action="store_true", help="flip test-time augmentation")
    p.add_argument(
        "--single-cell", action="store_true", help="images are single-cell crops: keep only the centre cell's masks"
    )
    p.add_argument("--threshold", type=float, nargs="+", help="one value or cytoplasm nucleus")
    p.add_argument(
        "--min-nucleus-score",
        type=_unit_fraction,
        metavar="S",
        help="leave out nuclei whose mean probability is below S, in [0, 1]; 0 keeps every nucleus "
        "(default: the run's, 0.85 for the cpu and paper profiles)",
    )
    p.add_argument("--amp", choices=["none", "bf16", "fp16"])
    _cell_diameter(p, "auto with --single-cell, else the run's scale")

    p = sub.add_parser("classify", help="train the 5-channel classifier")
    p.add_argument("--data", required=True, type=Path)
    p.add_argument("--masks", type=Path, help="masks root (cytoplasm/<class>/<id>.png ...); needed for --in-chans 5")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--format", default="classes", help="classes | sipakmed | labelmap | synthetic")
    p.add_argument("--folds", type=int, help="k-fold cross-validation (one model per fold)")
    p.add_argument("--split", type=Path, help="reuse a split.json")
    p.add_argument("--in-chans", type=int, choices=[3, 5])
    p.add_argument(
        "--grouping",
        choices=["5", "3", "2"],
        help="label grouping: 3 (SIPaKMeD normal/benign/abnormal) or 2 (normal/abnormal, SIPaKMeD or Herlev)",
    )
    _common_train(p)

    _add_use_commands(sub)

    p = sub.add_parser("pretrain", help="pretrain an encoder offline on synthetic cells (for --pretrained synthetic)")
    p.add_argument(
        "--out",
        type=Path,
        help="weights file (default: data/pretrained/synthetic_<encoder>.pt, where --pretrained synthetic looks)",
    )
    p.add_argument("--encoder", default="convnext_atto", help="timm backbone (the one later runs use)")
    p.add_argument("--seg-epochs", type=int, help="phase 1 (segmentation of synthetic fields) epochs")
    p.add_argument("--cls-epochs", type=int, help="phase 2 (synthetic crop classes) epochs")
    p.add_argument("--n-crops", type=int, help="synthetic crops of phase 2")
    p.add_argument("--n-fields", type=int, help="synthetic fields of phase 1")
    p.add_argument("--seed", type=int, help="random seed")
    p.add_argument("--overwrite", action="store_true", help="replace an existing weights file")
    return ap


def _overrides(args: argparse.Namespace, names: list[str]) -> dict:
    return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}


def _print_summary(res: Any) -> None:
    """Print the plain (JSON-able) part of a :class:`cervix.training.rundir.TrainResult`; the history is in
    history.csv, fields that do not apply (None) are left out."""
    from cervix.core.config import to_dict

    plain = {
        f.name: to_dict(getattr(res, f.name))
        for f in dataclasses.fields(res)
        if f.name != "history" and getattr(res, f.name) is not None
    }
    print(json.dumps(plain, indent=2, default=str))


def main(argv: list[str] | None = None) -> int:
    """Run one command; a user error (an existing run, a missing file, bad data) prints one
    ``cervix <command>: error: ...`` line and returns 2 (``CERVIX_DEBUG=1`` shows the traceback)."""
    import os

    from cervix.training.checkpoints import CheckpointError
    from cervix.training.rundir import RunExistsError

    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except KeyboardInterrupt:
        print(f"cervix {args.command}: {_interrupted(args)}", file=sys.stderr)
        return 130
    except (RunExistsError, CheckpointError, OSError, ValueError, RuntimeError) as exc:
        if os.environ.get("CERVIX_DEBUG"):
            raise
        print(f"cervix {args.command}: error: {exc}  (CERVIX_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 2


def _interrupted(args: argparse.Namespace) -> str:
    """What an interrupt left behind: the last finished epoch of a training run, or nothing."""
    if args.command not in ("segment", "classify"):
        return "interrupted; outputs already written are complete (every file is written atomically)"
    last = Path(args.out) / "last.pt"
    try:
        from cervix.training.checkpoints import load_checkpoint

        epoch = int(load_checkpoint(last)["epoch"])
    except (OSError, ValueError, KeyError):
        return f"interrupted before the first epoch finished; nothing to resume in {args.out}"
    return (
        f"interrupted after epoch {epoch}; checkpoints intact ({last}); continue with --resume "
        "(the same command plus --resume)"
    )


#: Settings of `segment` and `classify` that override the profile when given.
TRAIN_KEYS = ["epochs", "batch_size", "lr", "image_size", "encoder", "pretrained", "amp", "seed", "num_workers"]


def _synth(args: argparse.Namespace) -> None:
    from cervix.synthetic.dataset import generate

    summary = generate(
        args.out,
        seed=args.seed,
        n_fields=args.n_fields,
        n_crops=args.n_crops,
        size=args.size,
        field_size=args.field_size,
        difficulty=args.difficulty,
        clumping=args.clumping,
    )
    print(json.dumps(summary, indent=2, default=str))


def _augment(args: argparse.Namespace) -> Any:
    """The ``--augment`` file's :class:`cervix.data.augment.AugmentConfig`; None = the stage's default."""
    from cervix.data.augment import load_augment_config

    return load_augment_config(args.augment, missing_ok=False) if args.augment is not None else None


def _segment(args: argparse.Namespace) -> None:
    from cervix.stages.segmentation import train_segmentation

    ov = _overrides(args, TRAIN_KEYS + ["scale"])
    res = train_segmentation(
        args.data,
        fmt=args.format,
        out=args.out,
        profile=args.profile,
        overrides=ov,
        resume=args.resume,
        split=args.split,
        augment=_augment(args),
        overwrite=args.overwrite,
        skip_bad=args.skip_bad,
    )
    _print_summary(res)
    _cell_head(args)


def _cell_head(args: argparse.Namespace) -> None:
    """Train the cell head of the run just trained (``OUT/cells``), unless its epochs are 0."""
    from cervix.stages.cellhead import CELLS_DIR, NoCellTruthError, cell_config, train_cell_head

    ov = {"epochs": args.cell_epochs, "image_size": args.cell_image_size, "amp": args.amp, "seed": args.seed}
    ov = {k: v for k, v in ov.items() if v is not None}
    if cell_config(args.profile, ov).epochs <= 0:
        return
    resume = bool(args.resume) and (args.out / CELLS_DIR / "last.pt").is_file()
    try:
        res = train_cell_head(args.out, profile=args.profile, overrides=ov, resume=resume)
    except NoCellTruthError as e:
        print(f"cervix segment: no cell head ({e}); analyze will cut cells as a partition")
        return
    _print_summary(res)


def _masks(args: argparse.Namespace) -> None:
    from cervix.stages.masks import generate_masks

    thr = args.threshold
    if thr is not None and len(thr) == 1:
        thr = [thr[0], thr[0]]
    qc = generate_masks(
        args.checkpoint,
        args.images,
        args.out,
        walk=args.format,
        tile=args.tile,
        overlap=args.overlap,
        tta=args.tta,
        thresholds=thr,
        amp=args.amp,
        single_cell=args.single_cell,
        cell_diameter="default" if args.cell_diameter is None else args.cell_diameter,
        min_nucleus_score=args.min_nucleus_score,
    )
    print(json.dumps({k: v for k, v in qc.items() if k != "images"}, indent=2, default=str))
    print(qc["report"])


def _classify(args: argparse.Namespace) -> None:
    from cervix.stages.classification import train_classifier

    ov = _overrides(args, TRAIN_KEYS + ["in_chans", "grouping", "folds"])
    res = train_classifier(
        args.data,
        masks=args.masks,
        out=args.out,
        fmt=args.format,
        profile=args.profile,
        overrides=ov,
        resume=args.resume,
        split=args.split,
        augment=_augment(args),
        overwrite=args.overwrite,
        skip_bad=args.skip_bad,
    )
    _print_summary(res)


def _evaluate(args: argparse.Namespace) -> None:
    from cervix.stages.evaluation import evaluate_checkpoint

    metrics = evaluate_checkpoint(
        args.checkpoint,
        data=args.data,
        masks=args.masks,
        fmt=args.format,
        split=args.split,
        out=args.out,
        n_boot=args.n_boot,
        tta=args.tta,
        instances=args.instances,
    )
    keys = [k for k in metrics if not isinstance(metrics[k], (dict, list))]
    print(json.dumps({k: metrics[k] for k in keys}, indent=2, default=str))
    if "n_skipped" in metrics:
        n = metrics.get("n_images", metrics.get("n_samples"))
        print(
            f"{n} file(s) used, {metrics['n_skipped']} skipped by the reader"
            + (": listed under 'skipped' in metrics.json" if metrics["n_skipped"] else "")
        )


def _pretrain(args: argparse.Namespace) -> None:
    import dataclasses

    from cervix.stages.pretrain import PretrainConfig, pretrain

    keys = ["encoder", "seg_epochs", "cls_epochs", "n_crops", "n_fields", "seed"]
    meta = pretrain(args.out, dataclasses.replace(PretrainConfig(), **_overrides(args, keys)), overwrite=args.overwrite)
    print(json.dumps({k: v for k, v in meta.items() if k != "config"}, indent=2, default=str))
    print(
        f"weights -> {meta['file']}; use them with --pretrained synthetic"
        if args.out is None
        else f"weights -> {meta['file']}; use them with --pretrained {meta['file']}"
    )


def _predict(args: argparse.Namespace) -> None:
    from cervix.stages.pipeline import predict_crops

    diameter = "auto" if args.cell_diameter is None else args.cell_diameter
    df = predict_crops(args.seg, args.cls, args.images, args.out, tta=args.tta, cell_diameter=diameter)
    failed = len(df.attrs.get("errors", []))
    print(
        f"{len(df)} images -> {Path(args.out) / 'predictions.csv'}"
        + (f"; {failed} failed: see {Path(args.out) / 'errors.csv'}" if failed else "")
    )
    print(df.attrs["report"])


def _run(args: argparse.Namespace) -> int:
    commands = {
        "synth": _synth,
        "segment": _segment,
        "masks": _masks,
        "classify": _classify,
        "evaluate": _evaluate,
        "pretrain": _pretrain,
        "predict": _predict,
        "analyze": _analyze,
    }
    commands[args.command](args)
    return 0


def _analyze(args: argparse.Namespace) -> None:
    from cervix.stages.pipeline import analyze

    res = analyze(
        args.seg,
        args.cls,
        args.images,
        args.out,
        tta=args.tta,
        min_area=args.min_area,
        cell_diameter=args.cell_diameter,
        overwrite=args.overwrite,
    )
    failed = len(res["errors"])
    print(
        f"{len(res['summary'])} field(s), {len(res['cells'])} cells -> {Path(args.out) / 'cells.csv'}, "
        f"{Path(args.out) / 'summary.csv'}; QuPath: {Path(args.out) / 'geojson'}/, COCO: "
        f"{Path(args.out) / 'cells_coco.json'}"
        + (f"; {failed} failed: see {Path(args.out) / 'errors.csv'}" if failed else "")
    )
    print(res["report"])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
