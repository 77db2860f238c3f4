"""The command line (cervix.cli): argument parsing, help and user errors, and a tiny classifier run.

The classify test trains for real (convnext_atto, 32 px crops of a small generated data set, one epoch).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import pytest

from cervix.cli import build_parser, main, parse_pretrained

COMMANDS = {"synth", "segment", "masks", "classify", "evaluate", "predict", "analyze", "pretrain"}


def test_cli_classify_herlev_two_class_grouping(synth, tmp_path, capsys):
    """Herlev's class folders under --grouping 2 (normal_* vs dysplasia/carcinoma)."""
    from cervix.cli import main
    from cervix.core.labels import HERLEV_CLASSES

    crops = sorted((synth / "crops").rglob("*.png"))
    root = tmp_path / "herlev"
    for i, src in enumerate(crops[:28]):
        dst = root / HERLEV_CLASSES[i % 7] / f"{i:03d}.png"
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, dst)
    out = tmp_path / "run"
    assert (
        main(
            [
                "classify",
                "--data",
                str(root),
                "--out",
                str(out),
                "--in-chans",
                "3",
                "--grouping",
                "2",
                "--profile",
                "smoke",
                "--image-size",
                "32",
                "--epochs",
                "1",
                "--amp",
                "none",
            ]
        )
        == 0
    )
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["class_names"] == ["normal", "abnormal"] and cfg["grouping"] == "2"


@pytest.mark.parametrize(
    "value, expected",
    [("none", False), ("false", False), ("None", False), ("FALSE", False), ("", False), (None, False),
     ("hub", True), ("true", True), ("HUB", True), ("imagenet", True),
     ("synthetic", "synthetic"), ("Synthetic", "synthetic")],
)  # fmt: skip
def test_parse_pretrained_keywords(value, expected):
    result = parse_pretrained(value)
    assert result == expected and type(result) is type(expected)


def test_parse_pretrained_path(tmp_path):
    weights = tmp_path / "backbone.pt"
    weights.write_bytes(b"x")
    assert parse_pretrained(str(weights)) == str(weights)  # a weights file stays its path string
    with pytest.raises(argparse.ArgumentTypeError, match=r"--pretrained: no such weights file: .*missing\.pt"):
        parse_pretrained(str(tmp_path / "missing.pt"))
    with pytest.raises(argparse.ArgumentTypeError, match="no such weights file"):
        parse_pretrained(str(tmp_path))  # a folder is not a weights file


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def test_build_parser_has_the_eight_subcommands():
    parser = build_parser()
    assert parser.prog == "cervix"
    assert set(_subcommands(parser)) == COMMANDS
    args = parser.parse_args(["evaluate", "--checkpoint", "run/best.pt"])
    assert args.command == "evaluate" and args.checkpoint == Path("run/best.pt")
    assert args.split == "test" and args.n_boot == 1000 and args.instances is False and args.out is None
    args = parser.parse_args(["segment", "--data", "d", "--out", "o", "--pretrained", "hub", "--epochs", "3"])
    assert args.pretrained is True and args.epochs == 3 and args.format == "masks" and args.resume is False


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train"], "invalid choice: 'train'"),
        ([], "the following arguments are required: command"),
        (["evaluate"], "the following arguments are required: --checkpoint"),
        (["predict", "--seg", "s", "--cls", "c", "--images", "i"], "the following arguments are required: --out"),
        (["segment", "--data", "d", "--out", "o", "--amp", "fp32"], "argument --amp: invalid choice: 'fp32'"),
        (["classify", "--data", "d", "--out", "o", "--pretrained", "/no/such/w.pt"], "no such weights file"),
        (
            ["masks", "--checkpoint", "r", "--images", "i", "--out", "o", "--min-nucleus-score", "2"],
            "must be in [0, 1]",
        ),
        (["masks", "--checkpoint", "r", "--images", "i", "--out", "o", "--min-nucleus-score", "x"], "not a number"),
    ],
)
def test_usage_errors_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: cervix") and message in err


def test_help_exits_0(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: cervix") and all(c in out for c in COMMANDS)


def test_evaluate_missing_checkpoint_is_one_line_error(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("CERVIX_DEBUG", raising=False)
    missing = tmp_path / "run" / "best.pt"
    assert main(["evaluate", "--checkpoint", str(missing)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"cervix evaluate: error: checkpoint not found: {missing}  (CERVIX_DEBUG=1 shows the traceback)\n"
    )
    assert not (tmp_path / "run").exists()  # nothing written for a failed command
    monkeypatch.setenv("CERVIX_DEBUG", "1")
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        main(["evaluate", "--checkpoint", str(missing)])


def test_evaluate_passes_tta_through(monkeypatch, capsys):
    import cervix.stages.evaluation as ev

    seen = []
    monkeypatch.setattr(ev, "evaluate_checkpoint", lambda *a, **kw: seen.append(kw["tta"]) or {"n_images": 1})
    assert main(["evaluate", "--checkpoint", "run", "--instances"]) == 0
    assert main(["evaluate", "--checkpoint", "run", "--instances", "--tta"]) == 0
    assert seen == [False, True]


def test_masks_passes_the_nucleus_score_through(monkeypatch, capsys):
    import cervix.stages.masks as M

    seen = []
    qc = {"report": "0 used", "n_images": 0}
    monkeypatch.setattr(M, "generate_masks", lambda *a, **kw: seen.append(kw["min_nucleus_score"]) or qc)
    base = ["masks", "--checkpoint", "r", "--images", "i", "--out", "o"]
    assert main(base) == 0 and main(base + ["--min-nucleus-score", "0"]) == 0
    assert seen == [None, 0.0]  # None: the run's own


def test_synth_clumping_is_recorded_and_checked(tmp_path, capsys):
    from cervix.cli import main

    out = tmp_path / "syn"
    args = ["synth", "--out", str(out), "--n-fields", "1", "--n-crops", "0", "--field-size", "256"]
    assert main([*args, "--clumping", "0.5"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["args"]["clumping"] == 0.5 and (out / "fields" / "masks" / "cells.json").is_file()
    assert main([*args[:2], str(tmp_path / "bad"), *args[3:], "--clumping", "2"]) == 2
    assert "clumping must be in [0, 1]" in capsys.readouterr().err
