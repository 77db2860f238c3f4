"""Per-cell ground truth: ``masks/instances/<id>.png`` of the masks format and the synthetic
fields, the overlapping per-cell masks of ISBI 2014, ``Sample.cells``, and the upgrade of
synthetic caches made before the instance maps existed."""

from __future__ import annotations

import json
import shutil
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from helpers import write_image

from cervix import data as D

SYNTH = dict(n_fields=2, n_crops=5, field_size=256)


def test_an_old_synthetic_cache_gets_its_instances(tmp_path):
    out = D.ensure_synthetic(tmp_path / "s", progress=False, **SYNTH)
    inst = out / "fields" / "masks" / "instances"
    want = {p.name: p.read_bytes() for p in inst.iterdir()}
    others = {
        p: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.rglob("*") if p.is_file() and inst not in p.parents
    }
    shutil.rmtree(inst)  # as a cache made before the instance maps existed
    assert D.ensure_synthetic(out, progress=False, **SYNTH) == out
    assert {p.name: p.read_bytes() for p in inst.iterdir()} == want
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in others} == others  # untouched
    assert not out.with_name("s.partial").exists()
    # a cache whose fields today's generator no longer makes is refused, not given wrong truth
    shutil.rmtree(inst)
    cyt = out / "fields" / "masks" / "cytoplasm" / "field_0001.png"
    write_image(cyt, np.zeros((256, 256), np.uint8))
    with pytest.raises(ValueError, match="older synthetic generator"):
        D.ensure_synthetic(out, progress=False, **SYNTH)
    assert not inst.exists() and not out.with_name("s.partial").exists()


# ------------------------------------------------------------------------------ synthetic
def test_synthetic_reader_generates_once_into_cache(tmp_path, monkeypatch, make_masks_folder, make_classes_folder):
    calls = []

    def generate(
        out, seed=0, n_fields=20, n_crops=200, size=256, field_size=512, difficulty=0.5, clumping=0.0, progress=True
    ):
        calls.append((Path(out), seed, n_fields))
        make_masks_folder(Path(out) / "fields", n=n_fields, seed=seed)
        (Path(out) / "fields" / "masks" / "instances").mkdir()  # today's layout: no upgrade needed
        (Path(out) / "fields" / "masks" / "cells.json").write_text('{"images": [], "annotations": []}')
        tmp = Path(out) / "_c"
        make_classes_folder(tmp, per_class=2, seed=seed)
        shutil.move(str(tmp / "crops"), str(Path(out) / "crops"))
        shutil.move(str(tmp / "crops_masks"), str(Path(out) / "crops_masks"))
        tmp.rmdir()
        return {}

    monkeypatch.setitem(sys.modules, "cervix.synthetic.dataset", types.SimpleNamespace(generate=generate))
    monkeypatch.setattr("cervix.synthetic.dataset", sys.modules["cervix.synthetic.dataset"], raising=False)
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
    # unclumped sets keep their folder names; clumped ones get a suffix
    assert D.synthetic_cache_dir(seed=1).name == D.synthetic_cache_dir(seed=1, clumping=0.0).name
    assert D.synthetic_cache_dir(seed=1).name == "s1_f20_c200_native_512_d0.5"
    assert D.synthetic_cache_dir(seed=1, clumping=0.5).name == "s1_f20_c200_native_512_d0.5_k0.5"


def test_an_old_synthetic_cache_gets_its_whole_cells(tmp_path):
    out = D.ensure_synthetic(tmp_path / "s", progress=False, **SYNTH)
    cells = out / "fields" / "masks" / "cells.json"
    want = cells.read_bytes()
    others = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.rglob("*") if p.is_file() and p != cells}
    cells.unlink()  # as a cache made before the whole cells were written, and its marker without clumping
    marker = json.loads((out / "synth.json").read_text())
    (out / "synth.json").write_text(json.dumps({k: v for k, v in marker.items() if k != "clumping"}))
    others[out / "synth.json"] = ((out / "synth.json").stat().st_mtime_ns, (out / "synth.json").read_bytes())
    assert D.ensure_synthetic(out, progress=False, **SYNTH) == out
    assert cells.read_bytes() == want
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in others} == others  # untouched
    assert not out.with_name("s.partial").exists()
    with pytest.raises(ValueError, match="generated with"):  # a set without clumping is not a clumped set
        D.ensure_synthetic(out, progress=False, clumping=0.5, **SYNTH)


def test_a_clumped_cache_with_crops_from_its_clumped_fields_gets_them_cut_again(tmp_path):
    kw = dict(SYNTH, clumping=0.8)
    out = D.ensure_synthetic(tmp_path / "s", progress=False, **kw)
    crop = next((out / "crops").glob("*/*.png"))
    want, fields = crop.read_bytes(), {p: p.read_bytes() for p in (out / "fields").rglob("*") if p.is_file()}
    crop.write_bytes(b"as cut from a clumped field")  # a set from before 2026-12-07, marker without the key
    marker = json.loads((out / "synth.json").read_text())
    assert marker.pop("crops_unclumped") is True
    (out / "synth.json").write_text(json.dumps(marker))
    with pytest.warns(UserWarning, match="cut from its clumped fields"):
        assert D.ensure_synthetic(out, progress=False, **kw) == out
    assert crop.read_bytes() == want and (out / "crops" / "groups.csv").is_file()
    assert {p: p.read_bytes() for p in fields} == fields  # the fields are untouched
    assert json.loads((out / "synth.json").read_text())["crops_unclumped"] is True
    assert not out.with_name("s.partial").exists()
    crop.write_bytes(b"changed later")  # a marked set is not cut again
    D.ensure_synthetic(out, progress=False, **kw)
    assert crop.read_bytes() == b"changed later"
