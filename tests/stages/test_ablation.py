"""The ablation arms: an RGB-only run and an RGB + true masks run on the very split of a main run."""

from __future__ import annotations

import json

from helpers import FAST

from cervix.stages.ablation import train_ablation
from cervix.stages.classification import cls_config, train_classifier


def test_ablation_arms_share_the_main_runs_split_and_differ_only_in_their_inputs(synth, tmp_path):
    crops, masks = synth / "crops", synth / "crops_masks"
    main = tmp_path / "main"
    train_classifier(crops, masks=masks, out=main, profile="smoke", overrides=FAST, progress=False)
    cfg = cls_config("smoke", FAST)
    arms = train_ablation(crops, tmp_path / "arms", cfg, split=main / "split.json", true_masks=masks)
    assert arms == {"RGB only": tmp_path / "arms" / "rgb", "RGB + true masks": tmp_path / "arms" / "rgb_true_masks"}
    main_split = json.loads((main / "split.json").read_text())
    for name, run in arms.items():
        config = json.loads((run / "config.json").read_text())
        assert config["in_chans"] == (3 if name == "RGB only" else 5)
        assert config["masks"] == (None if name == "RGB only" else str(masks.resolve()))
        assert json.loads((run / "split.json").read_text()) == main_split
        assert (run / "best.pt").is_file()


def test_without_true_masks_only_the_rgb_arm_is_trained(synth, tmp_path):
    crops = synth / "crops"
    main = tmp_path / "main"
    train_classifier(crops, masks=synth / "crops_masks", out=main, profile="smoke", overrides=FAST, progress=False)
    arms = train_ablation(crops, tmp_path / "arms", cls_config("smoke", FAST), split=main / "split.json")
    assert list(arms) == ["RGB only"]
    assert not (tmp_path / "arms" / "rgb_true_masks").exists()
