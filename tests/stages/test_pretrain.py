"""Offline pretraining on synthetic cells and ``pretrained="synthetic"``."""

from __future__ import annotations

from pathlib import Path

import pytest
import timm
import torch

from cervix.cli import main
from cervix.core.paths import pretrained_path
from cervix.models.backbone import load_weights_file
from cervix.models.networks import ConvNeXtAttentionClassifier, DualHeadAttConvNeXtUNet
from cervix.stages.pretrain import PretrainConfig, backbone_state_dict, pretrain

TINY = PretrainConfig(
    profile="smoke", n_fields=6, n_crops=40, field_size=256, seg_epochs=1, cls_epochs=1, image_size=64
)


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("pre")
    mp = pytest.MonkeyPatch()
    mp.setenv("CERVIX_ROOT", str(root))  # the synthetic set and the default file land here
    try:
        meta = pretrain(None, TINY, progress=False)
    finally:
        mp.undo()
    return Path(meta["file"]), meta


def test_pretrain_writes_a_plain_timm_backbone_with_its_record(weights, tmp_path):
    path, meta = weights
    assert path.name == "synthetic_convnext_atto.pt" and path.parent.name == "pretrained"
    state = load_weights_file(path)
    fresh = timm.create_model("convnext_atto", num_classes=0, global_pool="").state_dict()
    assert set(state) == set(fresh)
    assert all(state[k].shape == fresh[k].shape for k in fresh)
    assert state["stem.0.weight"].shape[1] == 3
    assert set(meta["seconds"]) == {"synthetic", "segmentation", "classification"}
    assert meta["segmentation"]["epochs"] == 1 and meta["classification"]["epochs"] == 1
    stored = torch.load(path, weights_only=True)["meta"]
    assert stored["encoder"] == "convnext_atto" and stored["config"]["n_crops"] == 40
    # the classifier of phase 2 is what was saved
    from cervix.stages.classification import load_classifier

    cls, _ = load_classifier(path.with_name(path.stem + "_runs") / "classification", device="cpu")
    assert all(torch.equal(cls.backbone.state_dict()[k], v) for k, v in state.items())


def test_both_models_load_the_pretrained_backbone(weights):
    path, _ = weights
    state = load_weights_file(path)
    seg = DualHeadAttConvNeXtUNet("convnext_atto", pretrained=str(path))
    enc = seg.encoder.model.state_dict()
    assert all(torch.equal(enc[k], state[k]) for k in enc)
    cls = ConvNeXtAttentionClassifier("convnext_atto", num_classes=2, in_chans=5, pretrained=str(path))
    stem = cls.backbone.state_dict()["stem.0.weight"]  # (O, 5, k, k): RGB kept, masks = RGB mean
    assert torch.equal(stem[:, :3], state["stem.0.weight"])
    assert torch.allclose(stem[:, 3], state["stem.0.weight"].mean(1))


def test_backbone_state_dict_of_a_segmentation_model_fills_the_pruned_head():
    torch.manual_seed(0)
    seg = DualHeadAttConvNeXtUNet("convnext_atto")
    sd = backbone_state_dict(seg)
    assert torch.equal(
        sd["stages.3.blocks.1.mlp.fc2.weight"], seg.state_dict()["encoder.model.stages.3.blocks.1.mlp.fc2.weight"]
    )
    assert torch.equal(sd["head.norm.weight"], torch.ones_like(sd["head.norm.weight"]))
    with pytest.raises(ValueError, match="no timm backbone"):
        backbone_state_dict(torch.nn.Linear(2, 2))


def test_pretrained_synthetic_resolves_to_the_pretrain_file(weights, tmp_path, monkeypatch):
    path, _ = weights
    monkeypatch.setenv("CERVIX_ROOT", str(tmp_path))  # no weights here yet
    with pytest.raises(FileNotFoundError, match="python -m cervix pretrain --encoder convnext_atto"):
        DualHeadAttConvNeXtUNet("convnext_atto", pretrained="synthetic")
    # a training run stops before it creates its run folder
    from cervix.stages.segmentation import train_segmentation

    with pytest.raises(FileNotFoundError, match="cervix pretrain"):
        train_segmentation(
            tmp_path / "nodata",
            fmt="synthetic",
            out=tmp_path / "run",
            profile="smoke",
            overrides={"pretrained": "synthetic"},
            progress=False,
        )
    assert not (tmp_path / "run").exists()
    assert (
        main(
            [
                "classify",
                "--data",
                str(tmp_path),
                "--out",
                str(tmp_path / "c"),
                "--pretrained",
                "synthetic",
                "--in-chans",
                "3",
            ]
        )
        == 2
    )
    target = pretrained_path("convnext_atto")
    target.parent.mkdir(parents=True)
    target.write_bytes(path.read_bytes())
    cls = ConvNeXtAttentionClassifier("convnext_atto", num_classes=3, in_chans=3, pretrained="synthetic")
    assert cls.load_report.source == str(target)
    assert torch.equal(cls.backbone.state_dict()["stem.0.weight"], load_weights_file(target)["stem.0.weight"])


def test_pretrain_never_replaces_weights_without_overwrite(weights, capsys):
    path, _ = weights
    before = path.read_bytes()
    assert main(["pretrain", "--out", str(path)]) == 2
    assert "exists" in capsys.readouterr().err and path.read_bytes() == before
