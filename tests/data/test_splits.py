"""Grouped, stratified train/val/test splits and k-fold folds, saved and loaded by path (cervix.data.splits)."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from cervix import data as D
from cervix.data import splits as S


def _toy_records(n_groups: int = 40, per_group: int = 3, classes=("a", "b", "c"), labelled=True):
    recs = []
    for g in range(n_groups):
        lab = classes[g % len(classes)] if labelled else None
        for k in range(per_group):
            recs.append(D.Record(f"/data/ds/{lab or 'x'}/g{g}_{k}.png", lab, f"g{g}"))
    return recs


def _groups(recs, ids):
    return {recs[i].group for i in ids}


def test_split_is_grouped_stratified_and_complete():
    recs = _toy_records(60, 3)
    sp = S.split_records(recs, val=0.15, test=0.15, seed=3)
    assert sorted(sp["train"] + sp["val"] + sp["test"]) == list(range(len(recs)))
    for a, b in [("train", "val"), ("train", "test"), ("val", "test")]:
        assert not _groups(recs, sp[a]) & _groups(recs, sp[b])
    for part in ("val", "test"):
        assert 0.08 < len(sp[part]) / len(recs) < 0.25
        counts = Counter(recs[i].label for i in sp[part])
        assert set(counts) == {"a", "b", "c"} and max(counts.values()) - min(counts.values()) <= 3
    assert sp == S.split_records(recs, val=0.15, test=0.15, seed=3)  # deterministic
    assert sp != S.split_records(recs, val=0.15, test=0.15, seed=4)


def test_split_unlabelled_and_tiny():
    recs = _toy_records(10, 1, labelled=False)
    sp = S.split_records(recs, 0.2, 0.2)
    assert all(sp[p] for p in ("train", "val", "test"))
    tiny = _toy_records(2, 15, classes=("a", "b"))  # smoke-sized: 30 crops from 2 fields
    with pytest.warns(UserWarning, match="empty"):
        sp = S.split_records(tiny)
    assert sp["train"] and not _groups(tiny, sp["train"]) & _groups(tiny, sp["test"] + sp["val"])
    with pytest.raises(ValueError):
        S.split_records(recs, val=0.6, test=0.5)


def test_kfold_covers_each_sample_once_as_test():
    recs = _toy_records(25, 2)
    folds = S.kfold_records(recs, k=5, seed=1)
    assert len(folds) == 5
    tests = sorted(i for f in folds for i in f["test"])
    assert tests == list(range(len(recs)))
    for f in folds:
        assert sorted(f["train"] + f["val"] + f["test"]) == list(range(len(recs)))
        assert f["val"] and not _groups(recs, f["train"]) & _groups(recs, f["val"] + f["test"])
        assert not _groups(recs, f["val"]) & _groups(recs, f["test"])
    with pytest.raises(ValueError, match="groups"):
        S.kfold_records(_toy_records(3, 2), k=5)


def test_save_load_split_roundtrip_on_another_root(tmp_path):
    recs = _toy_records(20, 2)
    sp = S.split_records(recs, seed=0)
    f = S.save_split(tmp_path / "run" / "split.json", sp, recs)
    doc = json.loads(f.read_text())
    assert doc["parts"]["train"]["paths"][0].startswith(("a/", "b/", "c/"))  # root-relative
    assert S.load_split(f, recs) == sp
    moved = [D.Record(r.path.replace("/data/ds", "/mnt/other/copy"), r.label, r.group) for r in recs]
    moved.reverse()
    got = S.load_split(f, moved)
    assert {p: sorted(moved[i].path for i in ids) for p, ids in got.items()} == {
        p: sorted(recs[i].path.replace("/data/ds", "/mnt/other/copy") for i in ids) for p, ids in sp.items()
    }
    with pytest.raises(ValueError, match="split.json"):
        S.load_split(f, moved[:5])


def test_too_few_groups_is_a_clear_error():
    # a valid small set: 2 classes x 3 images, one cell per image (sklearn alone says only
    # "n_splits=6 cannot be greater than the number of members in each class")
    recs = [D.Record(f"/x/{c}/{i}.png", c, f"{c}/{i}") for c in ("dyskeratotic", "parabasal") for i in range(3)]
    with pytest.raises(ValueError, match="too few groups") as e:
        S.split_records(recs, val=0.15, test=0.15)
    assert "'dyskeratotic': '3 group(s) / 3 item(s)'" in str(e.value) and "needs 6 folds" in str(e.value)
    with pytest.raises(ValueError, match="too few groups") as e:
        S.kfold_records(recs, k=5)
    assert "5 folds" in str(e.value) and "parabasal" in str(e.value)
    with pytest.raises(ValueError, match="3 group"):
        S.kfold_records(recs[:3] + recs[3:4], k=5)  # fewer groups than folds


def test_a_split_that_leaks_a_group_is_refused(tmp_path, make_classes_folder):
    root = make_classes_folder(tmp_path, per_class=6, per_group=2)
    recs = D.read_dataset(root / "crops", "classes")
    split = S.split_records(recs, val=0.2, test=0.2)
    S.check_disjoint_groups(split, recs, "ok")
    # move one crop of a test group into train: its group is now on both sides
    leak = dict(split, train=sorted(split["train"] + split["test"][:1]), test=split["test"][1:])
    S.save_split(tmp_path / "split.json", leak, recs)
    with pytest.raises(
        ValueError, match="split.json: group.*both test and train|split.json: group.*both train and test"
    ):
        S.load_split(tmp_path / "split.json", recs)
