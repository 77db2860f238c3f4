"""Records of a dataset (cervix.data.records): has_masks, loading mask files, instance maps and label maps,
RecordList and the class order of class_names_of."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import write_image

from cervix import data as D
from cervix.data.records import Record, RecordList, Sample, class_names_of


def test_mask_size_mismatch_and_missing_mask(tmp_path, make_masks_folder):
    root = make_masks_folder(tmp_path / "ds", n=2)
    write_image(root / "masks" / "nucleus" / "f001.png", np.zeros((10, 10), np.uint8))
    recs = D.read_dataset(root, "masks")
    with pytest.raises(ValueError, match="f001.png.*differs"):
        recs[1].load()
    (root / "masks" / "cytoplasm" / "f000.png").unlink()
    with pytest.raises(FileNotFoundError, match="cytoplasm/f000.png"):
        D.read_dataset(root, "masks")


# ------------------------------------------------------------------------------ Record
def _files_record(tmp_path, instances: np.ndarray | None = None) -> Record:
    """A 6x8 ``files`` record: image with an RGB-order probe pixel, masks written as {0, 1} and {0, 255}."""
    img = np.full((6, 8, 3), 200, np.uint8)
    img[0, 0] = (10, 20, 30)
    cyt = np.zeros((6, 8), np.uint8)
    cyt[1:5, 2:7] = 1  # a {0, 1} mask is binary too
    nuc = np.zeros((6, 8), np.uint8)
    nuc[2:4, 3:5] = 255
    inst_path = None
    if instances is not None:
        inst_path = str(write_image(tmp_path / "instances.png", instances))
    return Record(
        str(write_image(tmp_path / "img.png", img)),
        "parabasal",
        "parabasal/007",
        str(write_image(tmp_path / "cyt.png", cyt)),
        str(write_image(tmp_path / "nuc.png", nuc)),
        instances=inst_path,
    )


def test_record_has_masks_for_each_source():
    assert Record("a.png", None, "g", "c.png", "n.png").has_masks
    assert not Record("a.png", None, "g", "c.png", None).has_masks
    assert not Record("a.png", None, "g", None, "n.png").has_masks
    assert not Record("a.png", None, "g").has_masks
    assert Record("a.png", None, "g").source == "files" and Record("a.png", None, "g").meta == {}
    for source in ("sipakmed", "isbi2014", "labelmap"):  # decoded from contours / .mat / grey levels
        assert Record("a.png", None, "g", source=source).has_masks, source


def test_record_load_of_mask_files(tmp_path):
    rec = _files_record(tmp_path)
    s = rec.load()
    assert isinstance(s, Sample) and s.has_masks
    assert s.image.shape == (6, 8, 3) and s.image.dtype == np.uint8
    assert tuple(s.image[0, 0]) == (10, 20, 30) and tuple(s.image[5, 7]) == (200, 200, 200)  # RGB, not BGR
    for m in (s.cytoplasm, s.nucleus):
        assert m.shape == (6, 8) and m.dtype == np.uint8 and set(np.unique(m)) == {0, 255}
    assert (s.cytoplasm > 0).sum() == 20 and (s.cytoplasm[1:5, 2:7] == 255).all()
    assert (s.nucleus > 0).sum() == 4 and (s.nucleus[2:4, 3:5] == 255).all()
    assert (s.label, s.group, s.path) == ("parabasal", "parabasal/007", rec.path)
    assert s.instances is None and s.cells is None
    # without mask files: no masks, and the sample says so
    bare = Record(rec.path, None, "g").load()
    assert bare.cytoplasm is None and bare.nucleus is None and not bare.has_masks and bare.label is None
    assert np.array_equal(bare.image, s.image)


def test_record_load_with_an_instance_map_gives_cells(tmp_path):
    inst = np.zeros((6, 8), np.uint16)
    inst[0:3, 0:4], inst[2:6, 4:8] = 7, 300  # ids need not be consecutive; 16-bit
    s = _files_record(tmp_path, inst).load()
    assert s.instances.dtype == np.int32 and np.array_equal(s.instances, inst)
    assert s.cells.shape == (2, 6, 8) and s.cells.dtype == bool
    assert np.array_equal(s.cells[0], inst == 7) and np.array_equal(s.cells[1], inst == 300)
    assert s.cells.sum(axis=(1, 2)).tolist() == [12, 16]


def test_record_load_of_a_label_map(tmp_path):
    lm = np.zeros((5, 5), np.uint8)
    lm[1:4, 1:4], lm[2, 2] = 60, 200  # background 0, cell 60, nucleus 200
    img = write_image(tmp_path / "img.png", np.full((5, 5, 3), 128, np.uint8))
    meta = {"labelmap": str(write_image(tmp_path / "lm.png", lm)), "cell_threshold": 25, "nucleus_threshold": 110}
    s = Record(str(img), "parabasal", "g", source="labelmap", meta=meta).load()
    assert (s.cytoplasm > 0).sum() == 9 and s.cytoplasm[2, 2] == 255 and s.cytoplasm[0, 0] == 0
    assert (s.nucleus > 0).sum() == 1 and s.nucleus[2, 2] == 255
    assert s.instances is None and s.cells is None
    with pytest.raises(ValueError, match=r"img.png: unknown mask source 'bogus'"):
        Record(str(img), None, "g", source="bogus").load()


def test_record_load_names_the_bad_file(tmp_path):
    rec = _files_record(tmp_path)
    with pytest.raises(FileNotFoundError, match="gone.png"):
        Record(str(tmp_path / "gone.png"), None, "g").load()
    (tmp_path / "nuc.png").unlink()
    with pytest.raises(FileNotFoundError, match="missing mask file: .*nuc.png"):
        rec.load()


# ------------------------------------------------------------------------------ RecordList
def test_record_list_keeps_how_it_was_read_and_is_a_list():
    a, b, c = (Record(f"{n}.png", "parabasal", n) for n in "abc")
    skipped = [("x.txt", "not an image file")]
    rl = RecordList([a, b], skipped=skipped, root="/data/ds", fmt="masks", grouping="3")
    assert isinstance(rl, list) and len(rl) == 2 and rl == [a, b]
    assert rl[0] is a and rl[-1] is b and [r.group for r in rl] == ["a", "b"]
    assert (rl.skipped, rl.root, rl.fmt, rl.grouping) == ([("x.txt", "not an image file")], "/data/ds", "masks", "3")
    skipped.append(("y.txt", "hidden"))  # a copy: the caller's list is not shared
    assert len(rl.skipped) == 1
    rl.append(c)
    assert rl == [a, b, c] and rl.fmt == "masks"
    empty = RecordList()
    assert empty == [] and (empty.skipped, empty.root, empty.fmt, empty.grouping) == ([], "", "", None)
    other = RecordList(skipped=(("z", "why"),))
    assert other.skipped == [("z", "why")] and empty.skipped == []  # no shared default
    gen = RecordList(r for r in (a, c))
    assert gen == [a, c]


# ------------------------------------------------------------------------------ class_names_of
def _labelled(*labels) -> list[Record]:
    return [Record(f"{i}.png", lab, str(i)) for i, lab in enumerate(labels)]


def test_class_names_of_follows_the_biological_order():
    recs = _labelled("dyskeratotic", "parabasal", None, "superficial-intermediate", "parabasal", "metaplastic")
    assert class_names_of(recs) == ["superficial-intermediate", "parabasal", "metaplastic", "dyskeratotic"]
    assert class_names_of(_labelled("im_Koilocytotic", "im_Parabasal")) == ["im_Parabasal", "im_Koilocytotic"]
    herlev = _labelled("carcinoma_in_situ", "normal_columnar", "light_dysplastic", "normal_superficiel")
    assert class_names_of(herlev) == ["normal_superficiel", "normal_columnar", "light_dysplastic", "carcinoma_in_situ"]
    assert class_names_of(_labelled("zebra", "ant", "parabasal")) == ["ant", "parabasal", "zebra"]  # unknown: sorted
    assert class_names_of(_labelled(None, None)) == [] and class_names_of([]) == []


def test_class_names_of_with_a_grouping():
    recs = _labelled("abnormal", "normal")
    assert class_names_of(recs, "3") == ["normal", "benign", "abnormal"]  # every class of the grouping
    assert class_names_of(recs, "2") == ["normal", "abnormal"]
    assert class_names_of(_labelled("abnormal", "benign", "normal")) == ["normal", "benign", "abnormal"]
    # the grouping the list was read with is the default; an explicit one wins
    assert class_names_of(RecordList(recs, grouping="3")) == ["normal", "benign", "abnormal"]
    assert class_names_of(RecordList(recs, grouping="3"), "2") == ["normal", "abnormal"]
    five = RecordList(_labelled("metaplastic", "parabasal"), grouping="5")
    assert class_names_of(five) == ["parabasal", "metaplastic"]
    assert class_names_of(RecordList(_labelled("metaplastic", "parabasal"), grouping="3"), "5") == [
        "parabasal",
        "metaplastic",
    ]
