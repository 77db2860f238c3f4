"""What the readers share (cervix.data.readers.common): which files are images, label grouping
and class checks that name the folder, and finding ``<stem>.<image ext>``."""

from __future__ import annotations

from pathlib import Path

import pytest

from cervix.data.readers.common import IGNORED_NAMES, check_class, find_image, is_image, map_label


def _touch(folder: Path, *names: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for n in names:
        (folder / n).write_bytes(b"x")


# ------------------------------------------------------------------------------ is_image
def test_is_image_by_extension_in_any_case(tmp_path):
    images = ["a.png", "b.jpg", "c.jpeg", "d.bmp", "e.tif", "f.tiff", "G.PNG", "h.JPG", "i.TiFf", "j.Jpeg", "k.l.bmp"]
    others = ["groups.csv", "notes.txt", "m.png.txt", "noext", "n.gif", "o.dat", "p.mat"]
    _touch(tmp_path, *images, *others)
    assert [n for n in images + others if is_image(tmp_path / n)] == images


def test_is_image_refuses_hidden_files_folders_and_missing_paths(tmp_path):
    _touch(tmp_path, ".hidden.png", "._a.jpg", ".png")
    (tmp_path / "folder.png").mkdir()
    assert not is_image(tmp_path / ".hidden.png")  # e.g. macOS ._ resource forks
    assert not is_image(tmp_path / "._a.jpg")
    assert not is_image(tmp_path / ".png")
    assert not is_image(tmp_path / "folder.png")
    assert not is_image(tmp_path / "missing.png")


def test_groups_csv_is_an_ignored_name_and_no_image(tmp_path):
    assert "groups.csv" in IGNORED_NAMES
    _touch(tmp_path, *IGNORED_NAMES)
    assert not any(is_image(tmp_path / n) for n in IGNORED_NAMES)


# ------------------------------------------------------------------------------ map_label
def test_map_label_groups_classes():
    where = Path("data/x")
    assert map_label("parabasal", "3", where) == "normal"
    assert map_label("metaplastic", "3", where) == "benign"
    assert map_label("metaplastic", "2", where) == "normal"
    assert map_label("im_Koilocytotic", "2", where) == "abnormal"  # SIPaKMeD folder names are canonicalised
    assert map_label("Dyskeratotic", 3, where) == "abnormal"
    assert map_label("carcinoma_in_situ", "2", where) == "abnormal"  # Herlev
    assert map_label("normal_columnar", "2", where) == "normal"
    # no grouping, or the 5 classes: the name as it is, even an unknown one
    assert map_label("im_Parabasal", None, where) == "im_Parabasal"
    assert map_label("anything", "5", where) == "anything"


def test_map_label_unknown_class_names_the_path():
    where = Path("data") / "crops" / "blob"
    with pytest.raises(ValueError) as e:
        map_label("blob", "3", where)
    msg = str(e.value)
    assert msg.startswith(f"{where}: class 'blob' has no 3-class group")
    assert "superficial-intermediate" in msg and "normal_superficiel" not in msg
    assert e.value.__cause__ is None and e.value.__suppress_context__  # raised "from None"
    # Herlev has no benign class: no 3-class grouping of its classes; the 2-class error names Herlev's
    with pytest.raises(ValueError, match=r"^data.crops.blob: class 'light_dysplastic' has no 3-class group"):
        map_label("light_dysplastic", "3", where)
    with pytest.raises(ValueError, match="Herlev's"):
        map_label("blob", "2", where)


def test_map_label_unknown_grouping_names_the_path():
    with pytest.raises(ValueError, match=r"^here: unknown grouping '4'; choose one of \['2', '3', '5'\]$"):
        map_label("parabasal", "4", Path("here"))


# ------------------------------------------------------------------------------ check_class
def test_check_class():
    where = Path("ds") / "Parabasal"
    assert check_class("anything", None, where) is None  # no expected classes: every folder goes
    assert check_class("parabasal", ("parabasal", "metaplastic"), where) is None
    with pytest.raises(ValueError) as e:
        check_class("Parabasal", ("parabasal", "metaplastic"), where)
    assert str(e.value) == f"{where}: unknown class folder 'Parabasal'; expected one of ['parabasal', 'metaplastic']"
    with pytest.raises(ValueError, match=r"unknown class folder 'x'; expected one of \[\]"):
        check_class("x", [], where)


# ------------------------------------------------------------------------------ find_image
def test_find_image_finds_any_image_extension(tmp_path):
    _touch(tmp_path, "a.jpeg", "b.TIF", "c.bmp", "d.txt", "x.y.png", "e.png.bak")
    assert find_image(tmp_path, "a") == tmp_path / "a.jpeg"
    assert find_image(tmp_path, "b") == tmp_path / "b.TIF"
    assert find_image(tmp_path, "c") == tmp_path / "c.bmp"
    assert find_image(tmp_path, "x.y") == tmp_path / "x.y.png"  # stems may hold dots


def test_find_image_none_when_absent(tmp_path):
    _touch(tmp_path, "d.txt", "e.png.bak", "f_1.png")
    (tmp_path / "g.png").mkdir()
    assert find_image(tmp_path, "d") is None  # not an image extension
    assert find_image(tmp_path, "e") is None
    assert find_image(tmp_path, "f") is None  # no prefix match
    assert find_image(tmp_path, "g") is None  # a folder is no image
    assert find_image(tmp_path, "missing") is None
    assert find_image(tmp_path / "no_such_folder", "a") is None


def test_find_image_prefers_the_first_extension(tmp_path):
    _touch(tmp_path, "a.tif", "a.jpg", "a.png")
    assert find_image(tmp_path, "a") == tmp_path / "a.png"
    (tmp_path / "a.png").unlink()
    assert find_image(tmp_path, "a") == tmp_path / "a.jpg"
