"""Per-cell ground truth: ``masks/instances/<id>.png`` of the masks format and the synthetic
fields, the overlapping per-cell masks of ISBI 2014, ``Sample.cells``, and the upgrade of
synthetic caches made before the instance maps existed."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from helpers import write_image

from cervix import data as D


def test_cells_from_instances_of_an_empty_map():
    assert D.cells_from_instances(np.zeros((4, 5), np.int32)).shape == (0, 4, 5)


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


def test_a_text_file_named_png_is_not_a_png_image_rather_than_a_truncated_one(tmp_path):
    for name, kind in (("notes.png", "PNG"), ("notes.jpg", "JPEG")):
        (tmp_path / name).write_text("x,y\n1,2\n" * 20)
        with pytest.raises(ValueError, match=f"^{tmp_path / name}: not a {kind} image") as e:
            D.load_image(tmp_path / name)
        assert "truncated" not in str(e.value)


def test_image_size_reads_the_header_only(tmp_path):
    img = np.zeros((23, 41, 3), np.uint8)
    for ext in (".png", ".jpg", ".tif", ".bmp"):
        assert D.image_size(write_image(tmp_path / f"a{ext}", img)) == (23, 41)
    (tmp_path / "junk.png").write_text("hello")
    with pytest.raises(ValueError, match="junk.png: not a readable image"):
        D.image_size(tmp_path / "junk.png")
    with pytest.raises(FileNotFoundError, match="nothere.png"):
        D.image_size(tmp_path / "nothere.png")


def test_16bit_grey_rgba_are_converted(tmp_path):
    rgb = np.random.default_rng(1).integers(0, 256, (9, 11, 3), dtype=np.uint8)
    grey = rgb[..., 0]
    write_image(tmp_path / "g16.png", grey.astype(np.uint16) * 257)
    write_image(tmp_path / "g8.png", grey)
    write_image(tmp_path / "rgba.png", np.dstack([rgb, np.full((9, 11), 7, np.uint8)]))
    write_image(tmp_path / "rgb16.tif", rgb.astype(np.uint16) * 257)
    for name, want in [
        ("g16.png", np.dstack([grey] * 3)),
        ("g8.png", np.dstack([grey] * 3)),
        ("rgba.png", rgb),
        ("rgb16.tif", rgb),
    ]:
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


# ------------------------------------------------------------------------------ mask and image depths
@pytest.mark.parametrize(
    "dtype,values",
    [
        (np.uint16, (0, 255)),
        (np.uint16, (0, 1)),
        (np.uint16, (0, 65535)),
        (np.uint8, (0, 100)),
        (np.uint8, (0, 1)),
        (np.uint8, (0, 255)),
    ],
)
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
