"""Readers, contour rasterisation and decoding, on the real-format samples and small generated folders."""
from __future__ import annotations

import json
import shutil
import sys
import types
import warnings
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy.io import loadmat

from conftest import cell_sample, write_image
from cervix import data as D
from cervix.data import annotations as R
from cervix.core.labels import SIPAKMED_CLASSES


# ------------------------------------------------------------------------------ real samples
def _dats(real: Path) -> list[Path]:
    return sorted((real / "sipakmed" / "contours").glob("*.dat"))


def test_rasterise_real_sipakmed_contours(real_samples):
    dats = _dats(real_samples)
    assert len(dats) == 31
    cells, nuclei = R.rasterize_sipakmed_contours(dats, (1536, 2048))
    assert cells.shape == nuclei.shape == (1536, 2048) and cells.dtype == nuclei.dtype == np.int32
    assert sorted(np.unique(cells))[1:] == list(range(1, 17))  # 16 cells
    assert sorted(np.unique(nuclei))[1:] == list(range(1, 16))  # 15 nuclei; cell 16 has none
    for nn in range(1, 16):
        # each nucleus polygon on its own lies inside its own cell polygon on its own
        cyt = real_samples / "sipakmed" / "contours" / f"007_cyt{nn:02d}.dat"
        nuc = real_samples / "sipakmed" / "contours" / f"007_nuc{nn:02d}.dat"
        c_alone, _ = R.rasterize_sipakmed_contours([cyt], (1536, 2048))
        _, n_alone = R.rasterize_sipakmed_contours([nuc], (1536, 2048))
        n_px = n_alone == nn
        assert n_px.sum() > 100
        assert (c_alone[n_px] == nn).mean() > 0.99
        assert (cells[n_px] == nn).all()  # and in the combined map
    pts = R.read_sipakmed_contour(dats[0])
    assert pts.shape[1] == 2 and pts[:, 0].max() < 2048 and pts[:, 1].max() < 1536


def _fake_sipakmed(tmp: Path, real: Path) -> Path:
    d = tmp / "sipakmed" / "im_Parabasal" / "im_Parabasal"
    d.mkdir(parents=True)
    for p in _dats(real):
        (d / p.name).symlink_to(p)
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (1536, 2048, 3), dtype=np.uint8)
    write_image(d / "007.bmp", img)
    write_image(d / "CROPPED" / "007_01.bmp", img[:80, :90])
    write_image(d / "CROPPED" / "007_02.bmp", img[:70, :60])
    (d / "CROPPED" / "notes.txt").write_text("x")
    return tmp / "sipakmed"


def test_sipakmed_reader_end_to_end(real_samples, tmp_path):
    root = _fake_sipakmed(tmp_path, real_samples)
    recs = D.read_dataset(root, "sipakmed")
    assert len(recs) == 1 and recs.skipped == []
    r = recs[0]
    assert (r.label, r.group, Path(r.path).name) == ("parabasal", "parabasal/007", "007.bmp")
    s = r.load()
    assert s.image.shape == (1536, 2048, 3) and s.cytoplasm.shape == s.nucleus.shape == (1536, 2048)
    assert set(np.unique(s.cytoplasm)) == {0, 255} and set(np.unique(s.nucleus)) == {0, 255}
    cells, nuclei = R.rasterize_sipakmed_contours(_dats(real_samples), (1536, 2048))
    assert np.array_equal(s.cytoplasm > 0, cells > 0)
    assert np.array_equal(s.nucleus > 0, nuclei > 0)
    assert not np.any((s.nucleus > 0) & (s.cytoplasm == 0))
    assert len(np.unique(s.instances)) == 17
    # per-cell truth: each cell polygon on its own (overlaps kept) with its own nucleus
    assert s.cells.shape == (16, 1536, 2048) and s.cells.dtype == bool
    assert np.array_equal(s.cells.any(axis=0), s.cytoplasm > 0)
    for k in (0, 15):
        alone = [real_samples / "sipakmed" / "contours" / f"007_{h}{k + 1:02d}.dat" for h in ("cyt", "nuc")]
        c_alone, n_alone = R.rasterize_sipakmed_contours([a for a in alone if a.exists()], (1536, 2048))
        assert np.array_equal(s.cells[k], (c_alone > 0) | (n_alone > 0))
    assert D.read_dataset(root, "sipakmed", grouping="3")[0].label == "normal"
    with pytest.warns(UserWarning, match="notes.txt"):
        crops = D.read_dataset(root, "sipakmed", crops=True)
    assert [Path(c.path).name for c in crops] == ["007_01.bmp", "007_02.bmp"]
    assert {c.group for c in crops} == {"parabasal/007"} and crops[0].load().image.shape == (80, 90, 3)
    assert crops[0].load().cytoplasm is None
    with pytest.raises(ValueError, match="im_Parabasal.*unknown class"):
        D.read_dataset(root, "sipakmed", class_names=["dyskeratotic"])


def test_sipakmed_image_without_contours_is_an_error(tmp_path):
    d = tmp_path / "im_Metaplastic" / "im_Metaplastic"
    write_image(d / "003.bmp", np.zeros((20, 20, 3), np.uint8))
    with pytest.raises(FileNotFoundError, match="003.bmp"):
        D.read_dataset(tmp_path, "sipakmed")


def test_isbi2014_reader_matches_mat(real_samples):
    root = real_samples / "isbi2014"
    recs = D.read_dataset(root, "isbi2014", require_masks=True)
    assert [Path(r.path).name for r in recs] == [f"{i}.tif" for i in range(1, 11)]
    mat = loadmat(root / "isbi_train_GT_first10.mat")
    for i, r in enumerate(recs):
        s = r.load()
        assert s.image.shape == (512, 512, 3) and s.image.dtype == np.uint8
        cells = mat["train_Cytoplasm"][i, 0]
        union = np.zeros((512, 512), bool)
        for k in range(cells.shape[0]):
            union |= cells[k, 0] > 0
        assert np.array_equal(s.cytoplasm > 0, union)
        assert s.cells.shape == (cells.shape[0], 512, 512) and s.instances is None
        assert all(np.array_equal(s.cells[k], cells[k, 0] > 0) for k in range(cells.shape[0]))
        assert np.array_equal(s.nucleus > 0, mat["train_Nuclei"][i, 0] > 0)
        assert set(np.unique(s.cytoplasm)) <= {0, 255}
        assert s.nucleus.any() and s.cytoplasm.any()


def test_labelmap_reader_real_sipakmed(real_samples):
    recs = D.read_dataset(real_samples / "sipakmed", "labelmap")
    assert len(recs) == 15
    assert Counter(r.label for r in recs) == {c: 3 for c in SIPAKMED_CLASSES}
    assert D.class_names_of(recs) == list(SIPAKMED_CLASSES)
    for r in recs:
        s = r.load()
        assert s.image.shape == (256, 256, 3)
        assert s.nucleus.any() and s.cytoplasm.sum() > s.nucleus.sum()
        assert not np.any((s.nucleus > 0) & (s.cytoplasm == 0)), r.path  # nucleus inside the cell
    g3 = D.read_dataset(real_samples / "sipakmed", "labelmap", grouping="3")
    assert D.class_names_of(g3) == ["normal", "benign", "abnormal"]
    assert Counter(r.label for r in g3) == {"normal": 6, "benign": 3, "abnormal": 6}
    # thresholds are parameters: a higher nucleus threshold gives no nucleus
    s = D.read_dataset(real_samples / "sipakmed", "labelmap", nucleus_threshold=250)[0].load()
    assert not s.nucleus.any()


# ------------------------------------------------------------------------------ generated folders
def test_masks_folder(tmp_path, make_masks_folder):
    root = make_masks_folder(tmp_path / "ds", n=3)
    (root / "images" / "README.txt").write_text("hello")
    write_image(root / "masks" / "cytoplasm" / "orphan.png", np.zeros((4, 4), np.uint8))
    with pytest.warns(UserWarning, match="README.txt"):
        recs = D.read_dataset(root, "masks")
    assert [r.group for r in recs] == ["f000", "f001", "f002"]
    assert {Path(p).name for p, _ in recs.skipped} == {"README.txt", "orphan.png"}
    s = recs[1].load()
    assert s.image.shape == (48, 56, 3) and s.label is None
    assert set(np.unique(s.cytoplasm)) == {0, 255} and not np.any((s.nucleus > 0) & (s.cytoplasm == 0))


def test_classes_folder_masks_groups_and_herlev(tmp_path, make_classes_folder):
    root = make_classes_folder(tmp_path, per_class=4, per_group=2)
    write_image(root / "crops" / "parabasal" / "c00-d.bmp", np.zeros((8, 8), np.uint8))  # Herlev mask
    with pytest.warns(UserWarning, match="c00-d.bmp"):
        recs = D.read_dataset(root / "crops", "classes", masks_root=root / "crops_masks")
    assert len(recs) == 20 and any("Herlev" in why for _, why in recs.skipped)
    r = next(r for r in recs if r.path.endswith("parabasal/c03.png"))
    assert r.label == "parabasal" and r.group == "field_para_1"  # from groups.csv
    s = r.load()
    assert s.cytoplasm is not None and s.cytoplasm.shape == s.image.shape[:2]
    assert D.class_names_of(recs) == list(SIPAKMED_CLASSES)
    (root / "crops" / "groups.csv").unlink()
    with pytest.warns(UserWarning):
        plain = D.read_dataset(root / "crops", "classes")
    assert next(x for x in plain if x.path.endswith("parabasal/c03.png")).group == "parabasal/c03"
    assert plain[0].load().cytoplasm is None and not plain[0].has_masks


@pytest.mark.parametrize("grouping,expected", [
    ("3", {"normal": 8, "benign": 4, "abnormal": 8}),
    ("2", {"normal": 12, "abnormal": 8}),
    ("5", {c: 4 for c in SIPAKMED_CLASSES}),
])
def test_groupings(tmp_path, make_classes_folder, grouping, expected):
    root = make_classes_folder(tmp_path, per_class=4)
    recs = D.read_dataset(root / "crops", "classes", grouping=grouping)
    assert Counter(r.label for r in recs) == expected
    assert set(D.class_names_of(recs)) == set(expected)


def test_grouping_needs_sipakmed_class_folders(tmp_path):
    write_image(tmp_path / "carcinoma_in_situ" / "a.bmp", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="carcinoma_in_situ"):
        D.read_dataset(tmp_path, "classes", grouping="3")
    assert D.read_dataset(tmp_path, "classes")[0].label == "carcinoma_in_situ"  # Herlev-style names ok


def test_herlev_two_class_grouping(tmp_path):
    from cervix.core.labels import HERLEV_CLASSES

    for c in HERLEV_CLASSES:
        write_image(tmp_path / c / "a.BMP", np.zeros((8, 8, 3), np.uint8))
    recs = D.read_dataset(tmp_path, "classes", grouping="2")
    assert Counter(r.label for r in recs) == {"normal": 3, "abnormal": 4}
    assert D.class_names_of(recs) == ["normal", "abnormal"]
    by_class = {Path(r.path).parent.name: r.label for r in recs}
    assert by_class["normal_columnar"] == "normal" and by_class["light_dysplastic"] == "abnormal"


# ------------------------------------------------------------------------------ bad input
def test_truncated_and_unreadable_images_name_the_file(tmp_path):
    img = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    for ext in (".png", ".jpg", ".bmp", ".tif"):
        good = write_image(tmp_path / f"good{ext}", img)
        bad = tmp_path / f"trunc{ext}"
        bad.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
        with pytest.raises(ValueError, match=f"trunc\\{ext}"):
            D.load_image(bad)
    (tmp_path / "junk.png").write_bytes(b"not an image at all")
    with pytest.raises(ValueError, match="junk.png"):
        D.load_image(tmp_path / "junk.png")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ValueError, match="empty.png"):
        D.load_image(tmp_path / "empty.png")
    with pytest.raises(FileNotFoundError, match="nothere.png"):
        D.load_image(tmp_path / "nothere.png")


def test_mask_size_mismatch_and_missing_mask(tmp_path, make_masks_folder):
    root = make_masks_folder(tmp_path / "ds", n=2)
    write_image(root / "masks" / "nucleus" / "f001.png", np.zeros((10, 10), np.uint8))
    recs = D.read_dataset(root, "masks")
    with pytest.raises(ValueError, match="f001.png.*differs"):
        recs[1].load()
    (root / "masks" / "cytoplasm" / "f000.png").unlink()
    with pytest.raises(FileNotFoundError, match="cytoplasm/f000.png"):
        D.read_dataset(root, "masks")


def test_missing_mask_in_masks_root_and_unknown_class(tmp_path, make_classes_folder):
    root = make_classes_folder(tmp_path, per_class=2)
    (root / "crops_masks" / "nucleus" / "metaplastic" / "c01.png").unlink()
    with pytest.raises(FileNotFoundError, match="nucleus/metaplastic/c01.png"):
        D.read_dataset(root / "crops", "classes", masks_root=root / "crops_masks")
    with pytest.raises(ValueError, match="koilocytotic"):
        D.read_dataset(root / "crops", "classes", class_names=["parabasal", "metaplastic"])


def test_empty_dataset_and_unknown_format(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.txt").write_text("x")
    with pytest.raises(ValueError, match="empty dataset"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        D.read_dataset(tmp_path, "masks")
    with pytest.raises(ValueError, match="unknown dataset format"):
        D.read_dataset(tmp_path, "coco")
    with pytest.raises(FileNotFoundError, match="nope"):
        D.read_dataset(tmp_path / "nope", "classes")
    with pytest.raises(ValueError, match="no masks_root"):
        D.read_dataset(tmp_path, "classes", require_masks=True)


def test_16bit_grey_rgba_are_converted(tmp_path):
    rgb = np.random.default_rng(1).integers(0, 256, (9, 11, 3), dtype=np.uint8)
    grey = rgb[..., 0]
    write_image(tmp_path / "g16.png", grey.astype(np.uint16) * 257)
    write_image(tmp_path / "g8.png", grey)
    write_image(tmp_path / "rgba.png", np.dstack([rgb, np.full((9, 11), 7, np.uint8)]))
    write_image(tmp_path / "rgb16.tif", rgb.astype(np.uint16) * 257)
    for name, want in [("g16.png", np.dstack([grey] * 3)), ("g8.png", np.dstack([grey] * 3)),
                       ("rgba.png", rgb), ("rgb16.tif", rgb)]:
        got = D.load_image(tmp_path / name)
        assert got.dtype == np.uint8 and got.shape == (9, 11, 3), name
        assert np.array_equal(got, want), name
    # masks: > 127 is foreground (soft masks thresholded), {0,1} masks read as 0/1, 16-bit scaled
    write_image(tmp_path / "soft.png", np.array([[0, 100, 127, 128, 255]], np.uint8))
    assert D.load_mask(tmp_path / "soft.png").tolist() == [[0, 0, 0, 255, 255]]
    write_image(tmp_path / "bin01.png", np.array([[0, 1, 1]], np.uint8))
    assert D.load_mask(tmp_path / "bin01.png").tolist() == [[0, 255, 255]]
    write_image(tmp_path / "m16.png", np.array([[0, 65535]], np.uint16))
    assert D.load_mask(tmp_path / "m16.png").tolist() == [[0, 255]]


# ------------------------------------------------------------------------------ synthetic
def test_synthetic_reader_generates_once_into_cache(tmp_path, monkeypatch, make_masks_folder, make_classes_folder):
    calls = []

    def generate(out, seed=0, n_fields=20, n_crops=200, size=256, field_size=512, difficulty=0.5, progress=True):
        calls.append((Path(out), seed, n_fields))
        make_masks_folder(Path(out) / "fields", n=n_fields, seed=seed)
        (Path(out) / "fields" / "masks" / "instances").mkdir()  # today's layout: no upgrade needed
        tmp = Path(out) / "_c"
        make_classes_folder(tmp, per_class=2, seed=seed)
        shutil.move(str(tmp / "crops"), str(Path(out) / "crops"))
        shutil.move(str(tmp / "crops_masks"), str(Path(out) / "crops_masks"))
        tmp.rmdir()
        return {}

    monkeypatch.setitem(sys.modules, "cervix.synthetic.fields", types.SimpleNamespace(generate=generate))
    monkeypatch.setattr("cervix.synthetic.fields", sys.modules["cervix.synthetic.fields"], raising=False)
    cache = tmp_path / "synth"
    fields = D.read_dataset(cache, "synthetic", synth={"n_fields": 3, "seed": 4})
    assert len(fields) == 3 and fields[0].load().cytoplasm is not None
    crops = D.read_dataset(cache, "synthetic", part="crops", synth={"n_fields": 3, "seed": 4}, grouping="2")
    assert len(crops) == 10 and {c.label for c in crops} == {"normal", "abnormal"}
    assert len(calls) == 1 and json.loads((cache / "synth.json").read_text())["n_fields"] == 3
    assert not (tmp_path / "synth.partial").exists()
    with pytest.raises(ValueError, match="generated with"):
        D.read_dataset(cache, "synthetic", synth={"n_fields": 5})
    monkeypatch.setenv("CERVIX_ROOT", str(tmp_path))
    assert D.synthetic_cache_dir(seed=1).parent == tmp_path / "data" / "synthetic"


# ------------------------------------------------------------------------------ mask and image depths
@pytest.mark.parametrize("dtype,values", [
    (np.uint16, (0, 255)), (np.uint16, (0, 1)), (np.uint16, (0, 65535)), (np.uint8, (0, 100)),
    (np.uint8, (0, 1)), (np.uint8, (0, 255)),
])
def test_two_valued_masks_are_binary_at_any_depth(tmp_path, dtype, values):
    m = np.full((6, 8), values[0], dtype)
    m[2:4, 3:6] = values[1]
    cv2.imwrite(str(tmp_path / "m.png"), m)
    out = D.load_mask(tmp_path / "m.png")
    assert out.dtype == np.uint8 and set(np.unique(out)) == {0, 255} and (out > 0).sum() == 6


def test_other_masks_use_half_the_range_of_their_type(tmp_path):
    m = np.array([[0, 100, 200]], np.uint8)
    cv2.imwrite(str(tmp_path / "a.png"), m)
    assert D.load_mask(tmp_path / "a.png").tolist() == [[0, 0, 255]]
    m16 = np.array([[0, 30000, 40000]], np.uint16)
    cv2.imwrite(str(tmp_path / "b.png"), m16)
    assert D.load_mask(tmp_path / "b.png").tolist() == [[0, 0, 255]]


def test_a_12_bit_image_in_a_16_bit_png_keeps_its_brightness(tmp_path):
    img = np.linspace(0, 4095, 64).astype(np.uint16).reshape(8, 8)
    cv2.imwrite(str(tmp_path / "x.png"), img)
    out = D.load_image(tmp_path / "x.png")
    assert out.max() == 255 and out[..., 0].ravel()[32] == round(int(img.ravel()[32]) * 255 / 4095)
    full = np.array([[0, 65535]], np.uint16)  # a real 16-bit image
    cv2.imwrite(str(tmp_path / "y.png"), full)
    assert D.load_image(tmp_path / "y.png")[0, :, 0].tolist() == [0, 255]


def _groups_csv(root, lines):
    (root / "crops" / "groups.csv").write_text("path,group\n" + "\n".join(lines) + "\n")


def test_groups_csv_every_crop_needs_its_group(tmp_path, make_classes_folder):
    root = make_classes_folder(tmp_path, per_class=2, per_group=2)
    rows = (root / "crops" / "groups.csv").read_text().splitlines()[1:]
    _groups_csv(root, rows[:3])  # a third of the rows kept: before, the rest got a group each, silently
    with pytest.raises(ValueError, match=r"groups.csv does not match the crops: 7 crop\(s\) without a row"):
        D.read_dataset(root / "crops", "classes")
    _groups_csv(root, rows + ["parabasal/gone.png,field_x"])
    with pytest.raises(ValueError, match=r"1 row\(s\) without a crop \['parabasal/gone.png'\]"):
        D.read_dataset(root / "crops", "classes")
    _groups_csv(root, rows + [rows[0].split(",")[0] + ",another_field"])
    with pytest.raises(ValueError, match="two different groups"):
        D.read_dataset(root / "crops", "classes")
    # Windows paths and ./ are the same crops
    _groups_csv(root, [r.replace("/", "\\") if i % 2 else "./" + r for i, r in enumerate(rows)])
    recs = D.read_dataset(root / "crops", "classes")
    assert {r.group for r in recs} == {r.split(",")[1] for r in rows}


def test_nothing_is_passed_over_without_being_listed(tmp_path, make_classes_folder):
    # labelmap: an image without its label map
    lm = tmp_path / "lm"
    for i in range(3):
        write_image(lm / "crops" / "parabasal" / f"{i}.png", np.full((8, 8, 3), 200, np.uint8))
    for i in range(2):
        write_image(lm / "labelmaps" / "parabasal" / f"{i}.png", np.full((8, 8), 51, np.uint8))
    with pytest.warns(UserWarning):
        recs = D.read_dataset(lm, "labelmap")
    assert len(recs) == 2 and any(p.endswith("2.png") and why == "no label map" for p, why in recs.skipped)
    # classes: a hidden image and an empty class folder
    root = make_classes_folder(tmp_path / "c", per_class=2, groups_csv=False)
    write_image(root / "crops" / "parabasal" / ".hidden.png", np.zeros((8, 8, 3), np.uint8))
    (root / "crops" / "metaplastic_extra").mkdir()
    with pytest.warns(UserWarning):
        recs = D.read_dataset(root / "crops", "classes")
    why = dict(recs.skipped)
    assert why[str(root / "crops" / "parabasal" / ".hidden.png")] == "hidden file"
    assert why[str(root / "crops" / "metaplastic_extra")] == "class folder without images"
    assert len(recs) == 10
