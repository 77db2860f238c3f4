"""Every script in ``benchmarks/`` runs at its ``--tiny`` size (or, ``check_quality.py``, on a fake
finished run), as a subprocess from the repository root, so a restructure of the package cannot
break one silently. ``real_dev.py`` runs on a tiny fabricated data set in the real on-disk
formats (ISBI 2014 ``.tif`` + ``.mat``, Herlev class folders, SIPaKMeD label maps)."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import cell_sample, write_image
from scipy.io import savemat

ROOT = Path(__file__).resolve().parents[2]


# the segmentation peer of bench_models.py and real_dev.py; a benchmark-only extra (.[bench])
HAS_SMP = importlib.util.find_spec("segmentation_models_pytorch") is not None


NO_SMP = "segmentation_models_pytorch is absent (pip install -e '.[bench]'): ran all but the smp parts"


HERLEV_CLASSES = (
    "carcinoma_in_situ",
    "light_dysplastic",
    "moderate_dysplastic",
    "normal_columnar",
    "normal_intermediate",
    "normal_superficiel",
    "severe_dysplastic",
)


def start_script(name: str, *args: str | Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start ``python benchmarks/<name> args`` from the repository root with the checkout importable."""
    full_env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "MPLBACKEND": "Agg",
        **(env or {}),
    }
    return subprocess.Popen(
        [sys.executable, str(ROOT / "benchmarks" / name), *map(str, args)],
        cwd=ROOT,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen, expect: int = 0) -> subprocess.CompletedProcess:
    """Wait for a started script and check its exit status."""
    try:
        out, err = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert proc.returncode == expect, f"{proc.args} exited {proc.returncode}\n{out[-3000:]}\n{err[-3000:]}"
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def run_script(
    name: str, *args: str | Path, env: dict[str, str] | None = None, expect: int = 0
) -> subprocess.CompletedProcess:
    return finish(start_script(name, *args, env=env), expect)


def finite_numbers(obj) -> list[float]:
    """All numbers in a JSON value (bools excluded), asserting each is finite."""
    if isinstance(obj, dict):
        return [x for v in obj.values() for x in finite_numbers(v)]
    if isinstance(obj, list):
        return [x for v in obj for x in finite_numbers(v)]
    if isinstance(obj, (int, float)) and not isinstance(obj, bool):
        assert math.isfinite(obj), obj
        return [float(obj)]
    return []


def test_bench_data_tiny(tmp_path):
    run_script("bench_data.py", "--tiny", "--out", tmp_path)
    res = json.loads((tmp_path / "bench_data.json").read_text())
    rows = {(r["dataset"], r["augment"]): r for r in res["rows"]}
    assert set(rows) == {(d, a) for d in ("segmentation", "classification") for a in ("plain", "augmented")}
    assert all(r["samples_per_s"] > 0 for r in rows.values())
    finite_numbers(res)


def test_bench_synth_tiny(tmp_path):
    run_script("bench_synth.py", "--tiny", "--out", tmp_path)
    res = json.loads((tmp_path / "bench_synth.json").read_text())
    assert res["fields"] == 2
    for key in (
        "fields_per_s",
        "crops_per_s_in_memory",
        "crops_per_s_generate_with_png",
        "fields_per_cpu_s",
        "crops_per_cpu_s_in_memory",
        "crops_per_cpu_s_generate_with_png",
    ):
        assert res[key] > 0 and math.isfinite(res[key]), key
    proc = run_script("bench_synth.py", "--tiny", expect=2)  # never into benchmarks/results/
    assert "--tiny needs --out" in proc.stderr


def test_bench_models_tiny(tmp_path):
    tasks = ("seg", "cls") if HAS_SMP else ("cls",)
    proc = run_script("bench_models.py", "--tiny", "--out", tmp_path, "--tasks", *tasks)
    (path,) = tmp_path.glob("bench_models_cpu_convnext_atto_*.json")
    res = json.loads(path.read_text())
    assert {(r["task"], r["mode"]) for r in res["results"]} == {(t, m) for t in tasks for m in ("train", "infer")}
    for r in res["results"]:
        for who in ("ours", "peer"):
            assert r[who]["images_per_s"] > 0 and r[who]["params"] > 0
        finite_numbers(r)
    assert "speed ours/peer" in res["table"] and "wrote" in proc.stdout
    if not HAS_SMP:
        pytest.skip(NO_SMP)


# ------------------------------------------------------------------------------ check_quality.py
def _fake_finished_run(root: Path, dice: float) -> None:
    """What notebook 05 of a finished ``cpu`` run leaves: ``runs/cpu/eval/<stage>/metrics.json``."""
    ev = root / "runs" / "cpu" / "eval"
    (ev / "segmentation").mkdir(parents=True)
    (ev / "classification").mkdir(parents=True)
    (ev / "segmentation" / "metrics.json").write_text(json.dumps({"dice_cytoplasm": dice, "dice_nucleus": 0.9}))
    (ev / "classification" / "metrics.json").write_text(json.dumps({"accuracy": 0.85, "f1_macro": 0.84}))


def test_check_quality_pass_fail_missing(tmp_path):
    good, bad, empty = tmp_path / "good", tmp_path / "bad", tmp_path / "empty"
    _fake_finished_run(good, dice=0.99)
    _fake_finished_run(bad, dice=0.5)
    empty.mkdir()
    proc = run_script("check_quality.py", "cpu", env={"CERVIX_ROOT": str(good)})
    assert "meets its floors" in proc.stdout
    proc = run_script("check_quality.py", "cpu", env={"CERVIX_ROOT": str(bad)}, expect=1)
    assert "FAILED" in proc.stdout and "dice_cytoplasm 0.5 < 0.95" in proc.stdout
    proc = run_script("check_quality.py", "cpu", env={"CERVIX_ROOT": str(empty)}, expect=1)
    assert "is missing" in proc.stdout


# ------------------------------------------------------------------------------ real_dev.py
def fake_real_dev(root: Path, size: int = 32, per_class: int = 8) -> Path:
    """``isbi2014/`` (images 1-30 .tif + the challenge's .mat structure) and ``herlev/`` (7 class
    folders of JPEG cells), tiny, as ``$CERVIX_REAL_DEV`` holds them. 8 cells per class: the
    fewest for which real_dev's stratified 80/20 and 85/15 Herlev splits work."""
    rng = np.random.default_rng(0)
    n = 30
    cyt, nuc = np.empty((n, 1), object), np.empty((n, 1), object)
    for i in range(n):
        img, c, k = cell_sample(rng, size, size)
        write_image(root / "isbi2014" / "images" / f"{i + 1}.tif", img.mean(axis=2).astype(np.uint8))
        cells = np.empty((1, 1), object)
        cells[0, 0] = (c > 0).astype(np.uint8)  # one "cell" per image: the union of the toy cells
        cyt[i, 0], nuc[i, 0] = cells, (k > 0).astype(np.uint8)
    savemat(root / "isbi2014" / "isbi_train_GT_1to30.mat", {"train_Cytoplasm": cyt, "train_Nuclei": nuc})
    for c in HERLEV_CLASSES:
        for i in range(per_class):
            write_image(root / "herlev" / c / f"{i:03d}.jpg", cell_sample(rng, 32, 32)[0])
    return root


def fake_real_samples(root: Path) -> Path:
    """``sipakmed/`` crops with label maps (51 = cytoplasm, 170 = nucleus), as ``$CERVIX_REAL_SAMPLES``."""
    rng = np.random.default_rng(1)
    for c in ("parabasal", "koilocytotic"):
        for i in range(2):
            img, cyt, nuc = cell_sample(rng, 40, 40)
            lm = np.where(nuc > 0, 170, np.where(cyt > 0, 51, 0)).astype(np.uint8)
            write_image(root / "sipakmed" / "crops" / c / f"{i}.png", img)
            write_image(root / "sipakmed" / "labelmaps" / c / f"{i}.png", lm)
    return root


def test_real_dev_tiny(tmp_path):
    env = {
        "CERVIX_REAL_DEV": str(fake_real_dev(tmp_path / "real-dev")),
        "CERVIX_REAL_SAMPLES": str(fake_real_samples(tmp_path / "real-samples")),
    }
    out = tmp_path / "out"
    seg_arms = ("cervix", "smp") if HAS_SMP else ("cervix",)
    cls_arms = ("cervix", "cervix-rgb", "timm", "cervix-profile", "cervix-pre")  # cervix-es: cervix, other config
    run_script("real_dev.py", "--tiny", "--out", out, "--task", "2", "--arm", *seg_arms, *cls_arms[1:], env=env)
    res = {p.stem: json.loads(p.read_text()) for p in out.glob("*.json")}
    assert set(res) == {"synth", "pretrain", *(f"seg_{a}" for a in seg_arms), *(f"cls2_{a}" for a in cls_arms)}
    for arm in seg_arms:
        r = res[f"seg_{arm}"]
        assert r["n_test"] == 6 and 0 <= r["dice_cytoplasm"] <= 1 and 0 <= r["dice_nucleus"] <= 1
    for name, r in res.items():
        finite_numbers(r)
        if r["part"] == "cls":
            assert set(r["class_names"]) == {"abnormal", "normal"} and 0 <= r["f1_macro"] <= 1, name
            assert r["n_test"] == len(r["y_pred"]) > 0
    assert res["synth"]["herlev_n"] == 7 * 8 and len(res["synth"]["sipakmed_images"]) == 4
    table = (out / "table.md").read_text()
    assert "| ISBI seg, 6 test images | cervix | Dice nucleus |" in table
    assert "| cervix-pre | macro F1 |" in table and "Default path" in table and "`cervix-pre`: backbone" in table
    assert (out / "project" / "data" / "synthetic").is_dir()  # the package's data/ went under --out too
    # the other entry points, side by side (they write apart): measure the synth arm again (and
    # print the table again), draw the figure
    again = start_script("real_dev.py", "--tiny", "--out", out, "--synth-reuse", "again", env=env)
    figure = start_script("real_dev.py", "--tiny", "--out", out, "--figure", env=env)
    assert "| cervix-pre |" in finish(again).stdout and finish(figure)
    assert json.loads((out / "synth_again.json").read_text())["label"] == "again"
    assert (out / "figures" / "real_crops_masks_synthetic_model.png").is_file()
    # k folds: masks against RGB only, fixed epochs, one JSON per fold, out-of-fold predictions pooled
    run_script("real_dev.py", "--tiny", "--out", out, "--only", "cls", "--task", "2", "--folds", "5", env=env)
    names = [f"cls2_{a}_fold{k}of5.json" for a in ("cervix", "cervix-rgb") for k in range(5)]
    folds = [json.loads((out / n).read_text()) for n in names]
    tested = [f for r in folds[:5] for f in r["test_files"]]
    assert len(tested) == len(set(tested)) == 7 * 8  # every cell tested once, in one fold
    assert {r["budget_min"] for r in folds} == {None} and [r["fold"] for r in folds[:2]] == [[0, 5], [1, 5]]
    table = (out / "table.md").read_text()
    assert "| Herlev 2-class, 56 out-of-fold cells (5 of 5 folds) | cervix | macro F1 |" in table
    assert "vs cervix-rgb" in table
    if not HAS_SMP:
        pytest.skip(NO_SMP)


def test_bench_analyze_tiny(tmp_path):
    run_script("bench_analyze.py", "--tiny", "--out", tmp_path)
    res = json.loads((tmp_path / "bench_analyze.json").read_text())
    assert res["width"] == res["height"] == 256 and res["trained_seg"] is res["trained_cls"] is False
    assert res["analyze_total_s"] > 0 and res["peak_rss_mb"] > 0 and res["cells"] >= 0
    assert res["cell_head"] is True and res["whole_cells_s"] >= 0 and res["whole_over_partition"] > 0
    finite_numbers(res)


def test_magnified_crops_tiny(tmp_path):
    import torch

    from cervix.models.networks import DualHeadAttConvNeXtUNet
    from cervix.training.checkpoints import save_checkpoint

    env = {
        "CERVIX_REAL_DEV": str(fake_real_dev(tmp_path / "real-dev", size=64, per_class=1)),
        "CERVIX_REAL_SAMPLES": str(fake_real_samples(tmp_path / "real-samples")),
    }
    torch.manual_seed(0)
    size = {"measure": "nucleus_diameter", "nucleus_diameter": 12.0, "cell_diameter": 30.0}
    config = {"task": "segmentation", "encoder": "convnext_atto", "decoder_channels": [32, 16, 8], "tile": 64}
    config.update(overlap=0.25, scale=1.0, thresholds=[0.5, 0.5], amp="none", cell_size=size)
    net = DualHeadAttConvNeXtUNet("convnext_atto", decoder_channels=(32, 16, 8))
    save_checkpoint(tmp_path / "seg" / "best.pt", {"model": net.state_dict(), "config": config})
    out = tmp_path / "out"
    for method in ("auto", "multi-scale"):
        run_script("magnified_crops.py", "--run", tmp_path / "seg", "--method", method, "--out", out, env=env)
    res = json.loads((out / "seg_auto.json").read_text())
    crops = res["crops"]
    assert set(crops["per_magnification"]) == {"1", "2", "3", "4", "6"} and crops["n_cells"] > 0
    sides = {m: [r["side"] for r in crops["rows"] if r["magnification"] == m] for m in (1, 6)}
    assert all(b >= 5 * a for a, b in zip(sides[1], sides[6]))  # the same framing, magnified
    assert all(0 <= r["dice_cytoplasm"] <= 1 for r in crops["rows"]) and res["cell_head"] is False
    assert 0 <= res["sipakmed"]["dice_nucleus"]["mean"] <= 1 and res["sipakmed"]["disc_cytoplasm"]["dice"] > 0
    assert len(res["fields"]["dice_cytoplasm"]) == 3  # mean, ci95, n
    assert json.loads((out / "seg_multi-scale.json").read_text())["crops"]["rows"][0]["scale"] is None
    table = (out / "table.md").read_text()
    assert "| seg | auto |" in table and "| seg | multi-scale |" in table


def test_magnified_crops_methods():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import magnified_crops as MC

    cfg = {"cell_size": {"nucleus_diameter": 20.0}}
    assert MC._method(cfg, "auto") == (cfg["cell_size"], "auto", True)
    assert MC._method(cfg, "auto-once") == (cfg["cell_size"], "auto", False)  # no refinement
    assert MC._method(cfg, "multi-scale") == (None, "auto", True)  # no size: the fixed scales
    assert MC._method(cfg, "run") == (cfg["cell_size"], None, True)  # the run's scale


def test_magnified_crops_framing_and_letterbox():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import magnified_crops as MC

    rng = np.random.default_rng(0)
    fills = []
    for _ in range(50):
        t, left, h, w = MC.framing((100, 120, 140, 150), (512, 512), rng)  # a 40 x 30 cell box
        assert t <= 100 and left <= 120 and t + h >= 140 and left + w >= 150  # the cell inside
        fills.append(40 / max(h, w))
    assert 0.29 <= min(fills) and max(fills) <= 0.91
    img = np.zeros((20, 10, 3), np.uint8)
    truth = np.ones((20, 10), bool)
    big, tru = MC.letterbox(img, truth, 3)
    assert big.shape == (60, 60, 3) and tru.sum() == 60 * 30 and not tru[:, :15].any()
