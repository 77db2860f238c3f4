"""A corpus of bad inputs across the six readers and both checkpoint kinds, built at test time.

For every case the reader (then the pre-flight decode of every file, then the model loader
for checkpoints) must either raise a clear error that names the bad file, or list the file as
skipped: never drop it silently, never end in a traceback from deep inside numpy, torch or
scikit-learn.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import cell_sample, write_image
from scipy.io import savemat

from cervix import data as D
from cervix.data.preflight import DataCheckError, preflight
from cervix.training.checkpoints import CheckpointError, load_checkpoint, save_checkpoint

CLEAR_ERRORS = (ValueError, FileNotFoundError, OSError, CheckpointError, DataCheckError, TypeError)


PNG = np.full((24, 24, 3), 200, np.uint8)


# ------------------------------------------------------------------------------------ builders
def _masks_folder(root: Path, n: int = 3) -> Path:
    rng = np.random.default_rng(0)
    for i in range(n):
        img, cyt, nuc = cell_sample(rng, 40, 40)
        write_image(root / "images" / f"f{i}.png", img)
        write_image(root / "masks" / "cytoplasm" / f"f{i}.png", cyt)
        write_image(root / "masks" / "nucleus" / f"f{i}.png", nuc)
    return root


def _classes_folder(root: Path, masks: bool = True, groups: bool = False) -> Path:
    rng = np.random.default_rng(1)
    rows = ["path,group"]
    for c in ("parabasal", "koilocytotic"):
        for i in range(3):
            img, cyt, nuc = cell_sample(rng, 32, 32)
            write_image(root / "crops" / c / f"c{i}.png", img)
            if masks:
                write_image(root / "masks" / "cytoplasm" / c / f"c{i}.png", cyt)
                write_image(root / "masks" / "nucleus" / c / f"c{i}.png", nuc)
            rows.append(f"{c}/c{i}.png,{c}_{i}")
    if groups:
        (root / "crops" / "groups.csv").write_text("\n".join(rows) + "\n")
    return root


def _square(x0: float, y0: float, r: float) -> str:
    return "\n".join(f"{x},{y}" for x, y in ((x0 - r, y0 - r), (x0 + r, y0 - r), (x0 + r, y0 + r), (x0 - r, y0 + r)))


def _sipakmed(root: Path) -> Path:
    d = root / "im_Parabasal" / "im_Parabasal"
    write_image(d / "001.bmp", np.full((60, 80, 3), 180, np.uint8))
    (d / "001_cyt01.dat").write_text(_square(40, 30, 15))
    (d / "001_nuc01.dat").write_text(_square(40, 30, 4))
    write_image(d / "CROPPED" / "001_01.bmp", np.full((30, 30, 3), 180, np.uint8))
    return root


def _isbi(root: Path, n: int = 2) -> Path:
    cyt = np.empty((n, 1), object)
    nuc = np.empty((n, 1), object)
    for i in range(n):
        cells = np.empty((1, 1), object)
        m = np.zeros((32, 32), np.uint8)
        m[8:24, 8:24] = 1
        cells[0, 0] = m
        cyt[i, 0] = cells
        k = np.zeros((32, 32), np.uint8)
        k[14:18, 14:18] = 1
        nuc[i, 0] = k
        write_image(root / "images" / f"{i + 1}.tif", np.full((32, 32), 150, np.uint8))
    savemat(root / "gt.mat", {"train_Cytoplasm": cyt, "train_Nuclei": nuc})
    return root


def _labelmap(root: Path, n: int = 2) -> Path:
    for i in range(n):
        write_image(root / "crops" / "parabasal" / f"{i}.png", PNG)
        lm = np.zeros((24, 24), np.uint8)
        lm[4:20, 4:20] = 51
        lm[10:14, 10:14] = 170
        write_image(root / "labelmaps" / "parabasal" / f"{i}.png", lm)
    return root


def _truncate(p: Path) -> None:
    p.write_bytes(p.read_bytes()[: max(8, p.stat().st_size // 3)])


def _garbage(p: Path) -> None:
    p.write_bytes(b"this is not an image at all" * 3)


# A case: (name, format, builder(tmp) -> (root, bad path), read_dataset kwargs)
Case = tuple[str, str, Callable[[Path], tuple[Path, Path]], dict]


def _m(fn):  # masks-format case from a function of the folder -> bad path
    return lambda t: (lambda r: (r, fn(r)))(_masks_folder(t / "ds"))


def _c(fn, masks=True, groups=False):
    return lambda t: (lambda r: (r / "crops", fn(r)))(_classes_folder(t / "ds", masks, groups))


def _s(fn):
    return lambda t: (lambda r: (r, fn(r)))(_sipakmed(t / "ds"))


def _i(fn):
    return lambda t: (lambda r: (r, fn(r)))(_isbi(t / "ds"))


def _l(fn):
    return lambda t: (lambda r: (r, fn(r)))(_labelmap(t / "ds"))


def _do(action, rel):
    def f(root):
        p = root / rel
        action(p)
        return p

    return f


def _write(rel, data: bytes):
    return _do(lambda p: (p.parent.mkdir(parents=True, exist_ok=True), p.write_bytes(data)), rel)


def _img(rel, arr):
    return _do(lambda p: write_image(p, arr), rel)


def _rm(rel):
    return _do(lambda p: p.unlink(), rel)


CROP = "crops/parabasal/c0.png"


CYT = "masks/cytoplasm/parabasal/c0.png"


SIP = "im_Parabasal/im_Parabasal/"


CASES: list[Case] = [
    # masks format
    ("masks: truncated image", "masks", _m(_do(_truncate, "images/f0.png")), {}),
    ("masks: empty image file", "masks", _m(_write("images/f0.png", b"")), {}),
    ("masks: garbage image", "masks", _m(_do(_garbage, "images/f1.png")), {}),
    ("masks: missing cytoplasm mask", "masks", _m(_rm("masks/cytoplasm/f1.png")), {}),
    ("masks: missing nucleus mask", "masks", _m(_rm("masks/nucleus/f2.png")), {}),
    ("masks: mask of another size", "masks", _m(_img("masks/cytoplasm/f0.png", np.zeros((10, 10), np.uint8))), {}),
    ("masks: truncated mask", "masks", _m(_do(_truncate, "masks/nucleus/f0.png")), {}),
    ("masks: empty mask file", "masks", _m(_write("masks/nucleus/f1.png", b"")), {}),
    ("masks: text file among images", "masks", _m(_write("images/notes.txt", b"x")), {}),
    ("masks: orphan mask", "masks", _m(_img("masks/cytoplasm/orphan.png", np.zeros((4, 4), np.uint8))), {}),
    (
        "masks: truncated jpeg",
        "masks",
        _m(
            lambda r: (
                write_image(r / "images" / "f9.jpg", PNG),
                _truncate(r / "images" / "f9.jpg"),
                r / "images" / "f9.jpg",
            )[2]
        ),
        {},
    ),
    # classes format
    ("classes: truncated crop", "classes", _c(_do(_truncate, CROP)), {"masks_root": "MASKS"}),
    ("classes: empty crop file", "classes", _c(_write(CROP, b"")), {"masks_root": "MASKS"}),
    ("classes: garbage crop", "classes", _c(_do(_garbage, CROP)), {}),
    ("classes: missing mask", "classes", _c(_rm(CYT)), {"masks_root": "MASKS"}),
    ("classes: mask of another size", "classes", _c(_img(CYT, np.zeros((9, 9), np.uint8))), {"masks_root": "MASKS"}),
    ("classes: truncated mask", "classes", _c(_do(_truncate, CYT)), {"masks_root": "MASKS"}),
    ("classes: hidden image", "classes", _c(_img("crops/parabasal/.hidden.png", PNG)), {}),
    ("classes: text file in a class", "classes", _c(_write("crops/parabasal/readme.txt", b"x")), {}),
    ("classes: file outside classes", "classes", _c(_img("crops/stray.png", PNG)), {}),
    ("classes: empty class folder", "classes", _c(_do(lambda p: p.mkdir(), "crops/dyskeratotic")), {}),
    ("classes: sub-folder in a class", "classes", _c(_img("crops/parabasal/sub/x.png", PNG)), {}),
    ("classes: Herlev -d mask image", "classes", _c(_img("crops/parabasal/c9-d.bmp", PNG)), {}),
    (
        "classes: x.png and x.jpg share a mask",
        "classes",
        _c(_img("crops/parabasal/c0.jpg", np.full((32, 32, 3), 90, np.uint8))),
        {"masks_root": "MASKS"},
    ),
    (
        "classes: groups.csv missing a row",
        "classes",
        _c(
            lambda r: (
                (r / "crops/groups.csv").write_text(
                    "\n".join((r / "crops/groups.csv").read_text().splitlines()[:-1]) + "\n"
                ),
                r / "crops/koilocytotic/c2.png",
            )[1],
            groups=True,
        ),
        {},
    ),
    (
        "classes: groups.csv row without a crop",
        "classes",
        _c(
            lambda r: (
                (r / "crops/groups.csv").open("a").write("parabasal/gone.png,g\n"),
                r / "crops/parabasal/gone.png",
            )[1],
            groups=True,
        ),
        {},
    ),
    (
        "classes: groups.csv conflicting rows",
        "classes",
        _c(
            lambda r: (
                (r / "crops/groups.csv").open("a").write("parabasal/c1.png,other\n"),
                r / "crops/parabasal/c1.png",
            )[1],
            groups=True,
        ),
        {},
    ),
    (
        "classes: groups.csv without header",
        "classes",
        _c(_write("crops/groups.csv", b"parabasal/c0.png;g\n"), groups=True),
        {},
    ),
    # SIPaKMeD
    ("sipakmed: NaN coordinate", "sipakmed", _s(_write(SIP + "001_cyt01.dat", b"1,2\nnan,4\n5,6\n7,8\n")), {}),
    ("sipakmed: huge coordinates", "sipakmed", _s(_write(SIP + "001_nuc01.dat", b"1,2\n1e12,4\n5,6\n7,8\n")), {}),
    ("sipakmed: garbage contour", "sipakmed", _s(_write(SIP + "001_cyt01.dat", b"hello world\nfoo\n")), {}),
    ("sipakmed: empty contour", "sipakmed", _s(_write(SIP + "001_cyt01.dat", b"")), {}),
    ("sipakmed: truncated image", "sipakmed", _s(_do(_truncate, SIP + "001.bmp")), {}),
    ("sipakmed: image without contours", "sipakmed", _s(_img(SIP + "002.bmp", PNG)), {}),
    ("sipakmed: contour without image", "sipakmed", _s(_write(SIP + "003_cyt01.dat", _square(5, 5, 2).encode())), {}),
    ("sipakmed: stray file", "sipakmed", _s(_write(SIP + "notes.txt", b"x")), {}),
    ("sipakmed: truncated crop", "sipakmed", _s(_do(_truncate, SIP + "CROPPED/001_01.bmp")), {"crops": True}),
    ("sipakmed: badly named crop", "sipakmed", _s(_img(SIP + "CROPPED/cell.bmp", PNG)), {"crops": True}),
    # ISBI 2014
    ("isbi: garbage .mat", "isbi2014", _i(_write("gt.mat", b"MATLAB 5.0 MAT-file garbage")), {}),
    ("isbi: truncated tif", "isbi2014", _i(_do(_truncate, "images/1.tif")), {}),
    ("isbi: image without an entry", "isbi2014", _i(_img("images/7.tif", np.zeros((32, 32), np.uint8))), {}),
    ("isbi: image not named N.tif", "isbi2014", _i(_img("images/abc.tif", np.zeros((32, 32), np.uint8))), {}),
    (
        "isbi: .mat without ground truth",
        "isbi2014",
        _i(lambda r: (savemat(r / "gt.mat", {"x": np.zeros(3)}), r / "gt.mat")[1]),
        {},
    ),
    # label maps
    ("labelmap: image without a label map", "labelmap", _l(_img("crops/parabasal/9.png", PNG)), {}),
    ("labelmap: garbage label map", "labelmap", _l(_do(_garbage, "labelmaps/parabasal/0.png")), {}),
    ("labelmap: truncated label map", "labelmap", _l(_do(_truncate, "labelmaps/parabasal/1.png")), {}),
    (
        "labelmap: label map without an image",
        "labelmap",
        _l(_img("labelmaps/parabasal/5.png", np.zeros((24, 24), np.uint8))),
        {},
    ),
    ("labelmap: truncated image", "labelmap", _l(_do(_truncate, "crops/parabasal/0.png")), {}),
]


def _names(path: Path, text: str) -> bool:
    return path.name in text or str(path) in text


@pytest.mark.parametrize("name,fmt,build,kw", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_named_or_listed(tmp_path, name, fmt, build, kw):
    root, bad = build(tmp_path)
    kw = {k: (root.parent / "masks" if v == "MASKS" else v) for k, v in kw.items()}
    try:
        with _no_fail():
            recs = D.read_dataset(root, fmt, **kw)
            good, dropped = preflight(recs, root, skip_bad=True, progress=False)
    except CLEAR_ERRORS as exc:
        assert _names(bad, str(exc)), f"{name}: the error does not name {bad.name}: {exc}"
        assert type(exc).__module__.split(".")[0] in ("builtins", "cervix"), type(exc)
        return
    listed = [p for p, _ in recs.skipped] + [p for p, _ in dropped]
    # the file, or the folder holding it (a sub-folder inside a class folder is listed as a whole)
    assert any(_names(bad, p) or Path(p) in bad.parents for p in listed), (
        f"{name}: {bad} neither refused nor listed ({listed})"
    )


class _no_fail:
    """Warnings are fine (the readers warn about what they skip); exceptions propagate."""

    def __enter__(self):
        import warnings

        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore")

    def __exit__(self, *exc):
        self._w.__exit__(*exc)
        return False


def test_synthetic_cache_with_other_parameters_is_named(tmp_path):
    out = tmp_path / "syn"
    D.ensure_synthetic(out, progress=False, seed=0, n_fields=2, n_crops=5, field_size=256)
    with pytest.raises(ValueError, match=str(out)):
        D.ensure_synthetic(out, progress=False, seed=1, n_fields=2, n_crops=5, field_size=256)
    half = tmp_path / "half"
    half.mkdir()
    (half / "stray.png").write_bytes(b"x")
    with pytest.raises(ValueError, match=str(half)):
        D.ensure_synthetic(half, progress=False, seed=0, n_fields=2, n_crops=5, field_size=256)


# ------------------------------------------------------------------------------ checkpoints
@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    from cervix.models.networks import DualHeadAttConvNeXtUNet
    from cervix.stages.classification import build_classifier

    root = tmp_path_factory.mktemp("ck")
    unet = DualHeadAttConvNeXtUNet("convnext_atto", decoder_channels=(32, 16, 8))
    seg_cfg = {"task": "segmentation", "encoder": "convnext_atto", "decoder_channels": [32, 16, 8], "tile": 64}
    cls_cfg = {
        "task": "classification",
        "class_names": ["a", "b"],
        "in_chans": 5,
        "image_size": 32,
        "model": {"encoder": "convnext_atto", "num_classes": 2, "in_chans": 5},
    }
    cls = build_classifier(cls_cfg)
    return {
        "seg": save_checkpoint(root / "seg.pt", {"model": unet.state_dict(), "config": seg_cfg}),
        "cls": save_checkpoint(root / "cls.pt", {"model": cls.state_dict(), "config": cls_cfg}),
    }


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def _ck_cases():
    def edit(kind, fn):
        def make(cks, p):
            ck = load_checkpoint(cks[kind])
            save_checkpoint(p, fn(ck)) if fn(ck) is not None else None
            return kind

        return make

    def cfg(ck, **kw):
        c = dict(ck["config"])
        for k, v in kw.items():
            if v is None:
                c.pop(k, None)
            else:
                c[k] = v
        return dict(ck, config=c)

    return [
        ("seg: decoder widths edited", edit("seg", lambda ck: cfg(ck, decoder_channels=[64, 32, 16]))),
        ("seg: encoder edited", edit("seg", lambda ck: cfg(ck, encoder="convnext_pico"))),
        ("seg: config lacks decoder_channels", edit("seg", lambda ck: cfg(ck, decoder_channels=None))),
        ("seg: config lacks encoder", edit("seg", lambda ck: cfg(ck, encoder=None))),
        ("seg: weights missing", edit("seg", lambda ck: {k: v for k, v in ck.items() if k != "model"})),
        ("seg: a tensor dropped", edit("seg", lambda ck: dict(ck, model=dict(list(ck["model"].items())[1:])))),
        ("cls: hidden width edited", edit("cls", lambda ck: cfg(ck, model={**ck["config"]["model"], "hidden_dim": 8}))),
        ("cls: classes edited", edit("cls", lambda ck: cfg(ck, model={**ck["config"]["model"], "num_classes": 3}))),
        ("cls: channels edited", edit("cls", lambda ck: cfg(ck, model={**ck["config"]["model"], "in_chans": 3}))),
        ("cls: config lacks model", edit("cls", lambda ck: cfg(ck, model=None))),
        ("cls: weights missing", edit("cls", lambda ck: {k: v for k, v in ck.items() if k != "model"})),
        ("garbage bytes", lambda cks, p: (p.write_bytes(b"not a checkpoint"), "seg")[1]),
        ("truncated", lambda cks, p: (p.write_bytes(cks["cls"].read_bytes()[:5000]), "cls")[1]),
        ("empty file", lambda cks, p: (p.write_bytes(b""), "seg")[1]),
        ("pickled object", lambda cks, p: (torch.save({"model": _Evil(), "config": {}}, p), "seg")[1]),
        ("a list, not a dict", lambda cks, p: (torch.save([1, 2], p), "cls")[1]),
    ]


@pytest.mark.parametrize("name,make", _ck_cases(), ids=[c[0] for c in _ck_cases()])
def test_bad_checkpoint_is_one_clear_error(checkpoints, tmp_path, name, make):
    from cervix.stages.classification import load_classifier
    from cervix.stages.segmentation import load_segmentation

    p = tmp_path / "bad.pt"
    kind = make(checkpoints, p)
    loader = load_segmentation if kind == "seg" else load_classifier
    with pytest.raises(CLEAR_ERRORS) as e:
        loader(p, device="cpu")
    assert "bad.pt" in str(e.value) and len(str(e.value).splitlines()) == 1, str(e.value)[:500]


def test_the_corpus_is_large():
    assert len(CASES) + len(_ck_cases()) + 2 >= 40


def test_an_empty_mask_on_a_non_blank_image_is_reported(tmp_path):
    root = _masks_folder(tmp_path / "ds")
    write_image(root / "masks" / "cytoplasm" / "f1.png", np.zeros((40, 40), np.uint8))
    recs = D.read_dataset(root, "masks")
    with pytest.warns(UserWarning, match=r"1 file\(s\) look wrong: .*f1.png: empty cytoplasm mask"):
        good, bad = preflight(recs, root, progress=False)
    assert len(good) == 3 and bad == []  # reported, not dropped
