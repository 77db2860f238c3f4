import json

import numpy as np
import pytest
import torch
from scipy import ndimage as ndi

from cervix.cli import main
from cervix.data.formats import read_dataset
from cervix.models.networks import DualHeadAttConvNeXtUNet
from cervix.stages.cellhead import (
    NoCellTruthError,
    _init_from,
    build_cell_model,
    cell_head_of,
    find_cell_head,
    load_cell_head,
    train_cell_head,
    whole_cell_truth,
)


def test_real_isbi_cells_get_one_nucleus_each(real_samples):
    """ISBI 2014: nuclei lie inside several overlapping cells; each cell gets its own, one to one."""
    recs = read_dataset(real_samples / "isbi2014", "isbi2014", require_masks=True)
    shared = greedy_clashes = 0
    for r in recs:
        s = r.load()
        truth = whole_cell_truth(s)
        assert len(truth) == len(s.cells)
        own = [c.full(s.image.shape[:2], nucleus=True) for c in truth]
        assert all(n.any() for n in own)  # every ISBI cell has its nucleus
        assert (np.sum(own, 0) <= 1).all()  # no nucleus pixel owned twice
        for c, n in zip(s.cells, own):
            assert (c & n).sum() > 0.5 * n.sum()  # its nucleus lies (mostly) inside it
        lab, k = ndi.label(s.nucleus > 0, structure=np.ones((3, 3)))
        shared += sum(int(sum((c & (lab == j)).any() for c in s.cells) >= 2) for j in range(1, k + 1))
        best = [int(np.bincount(lab[c], minlength=k + 1)[1:].argmax()) for c in s.cells]
        greedy_clashes += len(best) - len(set(best))
    assert shared > 0 and greedy_clashes > 0  # the case the one-to-one pairing is for


def test_segment_trains_the_cell_head_into_the_run(seg_cli_run):
    run = seg_cli_run["run"]
    head = find_cell_head(run)
    assert head == run / "cells" / "best.pt" and find_cell_head(run / "best.pt") == head
    cfg = json.loads((run / "cells" / "config.json").read_text())
    assert cfg["task"] == "cells" and cfg["in_chans"] == 5 and cfg["n_train_cells"] > 0
    assert cfg["image_size"] == 32  # --cell-image-size (the smoke profile's is 64)
    assert cfg["segmentation_run"] == str(run.resolve())
    history = (run / "cells" / "history.csv").read_text().strip().splitlines()
    assert len(history) == 1 + 2  # the smoke profile's 2 epochs
    model, c = load_cell_head(run / "cells")
    x = torch.zeros(2, 5, c["image_size"], c["image_size"])
    assert model(x).shape == (2, 2, c["image_size"], c["image_size"])
    assert find_cell_head(run / "cells") is None  # not a segmentation run
    model2, c2 = cell_head_of(run)  # the same head, loaded in one step
    assert c2 == c and all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), model2.state_dict().values()))
    assert cell_head_of(run / "cells") is None


def test_the_cell_head_starts_from_the_first_model():
    torch.manual_seed(0)
    seg = DualHeadAttConvNeXtUNet("convnext_atto", decoder_channels=(32, 16, 8))
    head = build_cell_model({"encoder": "convnext_atto", "decoder_channels": [32, 16, 8]})
    _init_from(head, seg)
    own, src = head.state_dict(), seg.state_dict()
    stem = [k for k in own if own[k].shape != src[k].shape]
    assert len(stem) == 1 and own[stem[0]].shape[1] == 5
    torch.testing.assert_close(own[stem[0]][:, :3], src[stem[0]])  # RGB filters kept
    torch.testing.assert_close(own[stem[0]][:, 3], src[stem[0]].mean(1))  # extra channels: their mean
    assert all(torch.equal(own[k], src[k]) for k in own if k not in stem)


def test_no_per_cell_truth_no_cell_head(tmp_path, make_masks_folder, capsys):
    data = make_masks_folder(tmp_path / "data", n=6, size=64)  # union masks only: no per-cell truth
    out = tmp_path / "run"
    args = ["segment", "--data", str(data), "--out", str(out), "--profile", "smoke", "--epochs", "1"]
    assert main([*args, "--image-size", "64", "--amp", "none"]) == 0
    assert "no cell head" in capsys.readouterr().out and not (out / "cells").exists()
    with pytest.raises(NoCellTruthError, match="no per-cell truth"):
        train_cell_head(out, profile="smoke", progress=False)
    assert main([*args, "--image-size", "64", "--cell-epochs", "0", "--overwrite"]) == 0
    assert "no cell head" not in capsys.readouterr().out  # 0 epochs: not even tried


def test_sipakmed_cells_pair_with_their_own_nucleus_contour(real_samples, tmp_path):
    """SIPaKMeD: the nucleus of cell MM is the ``NNN_nucMM.dat`` contour, exactly."""
    from helpers import write_image

    from cervix.data.annotations import rasterize_sipakmed_contours

    d = tmp_path / "sipakmed" / "im_Parabasal" / "im_Parabasal"
    d.mkdir(parents=True)
    dats = sorted((real_samples / "sipakmed" / "contours").glob("*.dat"))
    for p in dats:
        (d / p.name).symlink_to(p)
    write_image(d / "007.bmp", np.zeros((1536, 2048, 3), np.uint8))
    s = read_dataset(tmp_path / "sipakmed", "sipakmed")[0].load()
    truth = whole_cell_truth(s)
    ids = sorted(int(p.stem[-2:]) for p in dats if "_cyt" in p.name)
    assert len(truth) == len(ids) == 16
    for c, i in zip(truth, ids):
        nuc = d / f"007_nuc{i:02d}.dat"
        _, want = rasterize_sipakmed_contours([nuc], (1536, 2048)) if nuc.exists() else (None, np.zeros((1536, 2048)))
        assert np.array_equal(c.full((1536, 2048), nucleus=True), want > 0), i
