"""Tests of the synthetic data set on disk (cervix.synthetic.dataset): layout, balance, masks,
per-cell truth, byte-identical for a seed."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from cervix import data as D
from cervix.cells.shapes import decode_rle
from cervix.core.labels import SIPAKMED_CLASSES
from cervix.synthetic.dataset import generate
from cervix.synthetic.fields import SynthConfig, item_rng, make_field, truth_cells, whole_cells


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def gen_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "a"
    generate(out, seed=3, n_fields=2, n_crops=12, size=64, field_size=384, progress=False)
    return out


def test_generate_is_byte_identical_for_same_seed(gen_dir, tmp_path):
    out = tmp_path / "b"
    summary = generate(out, seed=3, n_fields=2, n_crops=12, size=64, field_size=384, progress=False)
    a, b = _files(gen_dir), _files(out)
    assert a.keys() == b.keys()
    assert all(a[k] == b[k] for k in a), [k for k in a if a[k] != b[k]]
    assert summary["n_crops"] == 12
    assert json.loads((out / "manifest.json").read_text())["args"]["seed"] == 3


def test_layout_classes_balance_and_groups(gen_dir):
    assert len(list((gen_dir / "fields" / "images").glob("*.png"))) == 2
    for head in ("cytoplasm", "nucleus"):
        assert len(list((gen_dir / "fields" / "masks" / head).glob("*.png"))) == 2
    counts = {c: len(list((gen_dir / "crops" / c).glob("*.png"))) for c in SIPAKMED_CLASSES}
    assert set(counts) == set(SIPAKMED_CLASSES) and all(v > 0 for v in counts.values())
    assert max(counts.values()) - min(counts.values()) <= 1 and sum(counts.values()) == 12
    rows = list(csv.DictReader((gen_dir / "crops" / "groups.csv").open()))
    assert len(rows) == 12 and rows[0].keys() == {"path", "group"}
    for r in rows:
        cls, name = r["path"].split("/")
        assert (gen_dir / "crops" / r["path"]).is_file()
        assert r["group"] == f"field_{name[1:5]}"
        for head in ("cytoplasm", "nucleus"):
            assert (gen_dir / "crops_masks" / head / cls / name).is_file()
    # 12 crops need 3 source fields: field_0002 is a group although only 2 fields are written
    assert {r["group"] for r in rows} == {"field_0000", "field_0001", "field_0002"}


def test_written_masks_binary_nonempty_nucleus_inside(gen_dir):
    pairs = [
        (gen_dir / "fields" / "masks" / "cytoplasm" / p.name, gen_dir / "fields" / "masks" / "nucleus" / p.name)
        for p in (gen_dir / "fields" / "images").glob("*.png")
    ]
    for c in SIPAKMED_CLASSES:
        for p in (gen_dir / "crops" / c).glob("*.png"):
            img = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
            assert img.shape == (64, 64, 3)
            pairs.append(
                (gen_dir / "crops_masks" / "cytoplasm" / c / p.name, gen_dir / "crops_masks" / "nucleus" / c / p.name)
            )
    for cp, np_ in pairs:
        cyt, nuc = cv2.imread(str(cp), cv2.IMREAD_UNCHANGED), cv2.imread(str(np_), cv2.IMREAD_UNCHANGED)
        assert cyt.ndim == 2 and cyt.dtype == np.uint8
        assert set(np.unique(cyt)) == {0, 255} and set(np.unique(nuc)) == {0, 255}
        assert not ((nuc > 0) & (cyt == 0)).any()
        assert (cyt > 0).sum() > (nuc > 0).sum()


def test_written_instances_match_the_union_masks(gen_dir):
    for k in range(2):
        name = f"field_{k:04d}.png"
        inst = cv2.imread(str(gen_dir / "fields" / "masks" / "instances" / name), cv2.IMREAD_UNCHANGED)
        cyt = cv2.imread(str(gen_dir / "fields" / "masks" / "cytoplasm" / name), cv2.IMREAD_UNCHANGED)
        nuc = cv2.imread(str(gen_dir / "fields" / "masks" / "nucleus" / name), cv2.IMREAD_UNCHANGED)
        assert inst.dtype == np.uint16 and inst.shape == cyt.shape == (384, 384)
        f = make_field(item_rng(3, k), 384, 0.5, classes=list(SIPAKMED_CLASSES))
        assert np.array_equal(inst, f["instances"])  # the field's own map, written losslessly
        assert ((inst > 0) == (cyt > 0)).all() and (inst[nuc > 0] > 0).all()  # background 0, cells > 0
        assert inst.max() <= len(f["cell_classes"]) and len(np.unique(inst)) > len(SIPAKMED_CLASSES)


def test_generate_default_keeps_native_scale(tmp_path):
    generate(tmp_path / "n", seed=1, n_fields=1, n_crops=5, field_size=384, progress=False)
    sizes = {cv2.imread(str(p)).shape[:2] for p in (tmp_path / "n" / "crops").rglob("*.png")}
    assert len(sizes) > 1  # variable crop sizes: each cell's box at the field scale
    manifest = json.loads((tmp_path / "n" / "manifest.json").read_text())
    assert manifest["args"]["size"] is None


def test_different_seeds_differ_and_items_independent_of_count(gen_dir, tmp_path):
    a = make_field(item_rng(0, 0), 320, 0.5)["image"]
    b = make_field(item_rng(1, 0), 320, 0.5)["image"]
    assert not np.array_equal(a, b)
    out = tmp_path / "small"
    generate(out, seed=3, n_fields=1, n_crops=5, size=64, field_size=384, progress=False)
    small, big = _files(out), _files(gen_dir)
    common = [k for k in small if k.endswith(".png")]
    assert len(common) == 4 + 3 * 5  # image + cytoplasm, nucleus, instances; 5 crops of 3 files
    assert all(small[k] == big[k] for k in common)


SYNTH = dict(n_fields=2, n_crops=5, field_size=256)


# ------------------------------------------------------------------------------ synthetic
def test_synthetic_fields_carry_their_whole_cells(tmp_path):
    recs = D.read_dataset(tmp_path / "s", "synthetic", synth=SYNTH)
    assert len(recs) == 2
    for k, r in enumerate(recs):
        s = r.load()
        ids = np.unique(s.instances)
        assert ids[0] == 0 and 0 < len(s.cells) <= len(ids) - 1  # cells with the nucleus outside left out
        f = make_field(item_rng(0, k), 256, 0.5, classes=list(SIPAKMED_CLASSES))
        assert np.array_equal(s.cells, whole_cells(f, truth_cells(f)))  # whole cells, from cells.json
        assert not (s.cells.any(axis=0) & (s.cytoplasm == 0)).any()
        for i in truth_cells(f):  # each holds its visible part
            assert not ((s.instances == i + 1) & ~s.cells.any(axis=0)).any()


def test_cells_json_holds_the_whole_cells_with_a_nucleus_in_the_field(gen_dir):
    doc = json.loads((gen_dir / "fields" / "masks" / "cells.json").read_text())
    assert [c["name"] for c in doc["categories"]] == list(SIPAKMED_CLASSES)
    assert [(im["id"], im["file_name"], im["height"], im["width"]) for im in doc["images"]] == [
        (1, "field_0000.png", 384, 384),
        (2, "field_0001.png", 384, 384),
    ]
    assert [a["id"] for a in doc["annotations"]] == list(range(1, len(doc["annotations"]) + 1))
    n_cells = 0
    for k in range(2):
        f = make_field(item_rng(3, k), 384, 0.5, classes=list(SIPAKMED_CLASSES))
        anns = [a for a in doc["annotations"] if a["image_id"] == k + 1]
        keep = truth_cells(f)
        assert [a["cell_id"] for a in anns] == [i + 1 for i in keep]
        for a, m in zip(anns, whole_cells(f, keep)):
            assert np.array_equal(decode_rle(a["segmentation"], 384, 384), m)  # whole, overlaps kept
            ys, xs = np.nonzero(m)
            assert a["bbox"] == [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]
            assert a["area"] == m.sum() and a["iscrowd"] == 0
            cls = f["cell_classes"][a["cell_id"] - 1]
            assert doc["categories"][a["category_id"] - 1]["name"] == cls
        n_cells += len(f["cells"])
    summary = json.loads((gen_dir / "manifest.json").read_text())["whole_cells"]
    assert summary == {"annotated": len(doc["annotations"]), "excluded": n_cells - len(doc["annotations"])}


def test_clumping_is_passed_on_and_recorded(tmp_path):
    generate(tmp_path / "k", seed=3, n_fields=1, n_crops=0, field_size=384, clumping=0.8, progress=False)
    manifest = json.loads((tmp_path / "k" / "manifest.json").read_text())
    assert manifest["args"]["clumping"] == 0.8 and manifest["config"]["clumping"] == 0.8
    f = make_field(item_rng(3, 0), 384, 0.5, classes=list(SIPAKMED_CLASSES), cfg=SynthConfig(clumping=0.8))
    inst = cv2.imread(str(tmp_path / "k" / "fields" / "masks" / "instances" / "field_0000.png"), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(inst, f["instances"])
    with pytest.raises(ValueError, match="clumping"):
        generate(tmp_path / "bad", clumping=1.5, progress=False)


def test_crops_of_a_clumped_set_are_cut_from_the_unclumped_fields(tmp_path):
    kw = dict(seed=2, n_fields=1, n_crops=5, field_size=384, progress=False)
    generate(tmp_path / "k0", **kw)
    generate(tmp_path / "k8", clumping=0.8, **kw)
    crops = sorted(p.relative_to(tmp_path / "k0") for p in (tmp_path / "k0").glob("crops*/**/*.png"))
    assert len(crops) == 15  # 5 images, 5 cytoplasm and 5 nucleus masks
    for rel in crops:  # the same target cells with their neighbours spread out: the same files
        assert (tmp_path / "k8" / rel).read_bytes() == (tmp_path / "k0" / rel).read_bytes(), rel
    field = Path("fields/images/field_0000.png")
    assert (tmp_path / "k8" / field).read_bytes() != (tmp_path / "k0" / field).read_bytes()  # clumped field


def test_clumping_keeps_the_target_cells_of_a_field():
    plain = make_field(item_rng(2, 0), 384, 0.5, classes=list(SIPAKMED_CLASSES), cfg=SynthConfig())
    clumped = make_field(item_rng(2, 0), 384, 0.5, classes=list(SIPAKMED_CLASSES), cfg=SynthConfig(clumping=0.8))
    assert plain["targets"] == clumped["targets"]
    for t in plain["targets"]:  # the crops' cells are the written field's target cells
        a, b = plain["cells"][t], clumped["cells"][t]
        assert (a.x0, a.y0) == (b.x0, b.y0) and np.array_equal(a.cell, b.cell) and np.array_equal(a.nucleus, b.nucleus)
    assert len(clumped["cells"]) > len(plain["targets"])
