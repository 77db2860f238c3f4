"""The ``geojson`` format: images with a QuPath GeoJSON of cells beside each, read back as per-cell
truth, and refused with one line naming the file when the GeoJSON is bad."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import write_image

from cervix import data as D


def _square(x0: int, y0: int, x1: int, y1: int) -> dict:
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def _feature(geometry: dict, nucleus: dict | None = None) -> dict:
    f = {"type": "Feature", "geometry": geometry, "properties": {"objectType": "cell"}}
    if nucleus is not None:
        f["nucleusGeometry"] = nucleus
    return f


def _folder(root: Path, features: list, name: str = "a.geojson") -> Path:
    write_image(root / "a.png", np.full((30, 40, 3), 200, np.uint8))
    (root / name).write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return root


def test_two_overlapping_cells_with_nuclei_are_read_as_per_cell_truth(tmp_path):
    # cell 1: x 2..20, y 3..15; cell 2: x 15..35, y 10..28 (overlap x 15..20, y 10..15)
    feats = [_feature(_square(2, 3, 20, 15), _square(5, 5, 9, 9)), _feature(_square(15, 10, 35, 28))]
    _folder(tmp_path, feats)
    (tmp_path / "notes.txt").write_text("x")
    recs = D.read_dataset(tmp_path, "geojson", require_masks=True)
    assert len(recs) == 1 and recs.skipped == [(str(tmp_path / "notes.txt"), "not an image or .geojson file")]
    s = recs[0].load()
    assert s.cells.shape == (2, 30, 40) and s.cells[0].sum() == 18 * 12 and s.cells[1].sum() == 20 * 18
    assert s.cells[0, 10:15, 15:20].all() and s.cells[1, 10:15, 15:20].all()  # the overlap in both
    assert (s.nucleus > 0).sum() == 16 and (s.nucleus[5:9, 5:9] == 255).all()
    assert np.array_equal(s.cytoplasm > 0, s.cells.any(axis=0))
    assert s.instances[12, 17] == 2 and s.instances[4, 3] == 1  # the later cell on top


def test_analyze_style_names_and_images_without_geojson(tmp_path):
    _folder(tmp_path, [_feature(_square(0, 0, 10, 10))], name="a.png.geojson")
    write_image(tmp_path / "b.png", np.zeros((30, 40, 3), np.uint8))
    recs = D.read_dataset(tmp_path, "geojson", require_masks=True)
    assert [Path(r.path).name for r in recs] == ["a.png"]
    assert recs.skipped == [(str(tmp_path / "b.png"), "no .geojson beside it")]
    assert len(D.read_dataset(tmp_path, "geojson")) == 2  # without masks required: read as unlabelled
    (tmp_path / "b.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": []}))
    s = D.read_dataset(tmp_path, "geojson", require_masks=True)[1].load()  # a field without cells
    assert s.cells.shape == (0, 30, 40) and not s.cytoplasm.any() and not s.instances.any()


@pytest.mark.parametrize(
    "features, message",
    [
        ([_feature({"type": "Point", "coordinates": [3, 4]})], "feature 1: geometry of type 'Point'"),
        ([_feature(_square(0, 0, 5, 5)), _feature(_square(30, 20, 45, 25))], "feature 2: Polygon .* outside the 40x30"),
        (
            [_feature({"type": "Polygon", "coordinates": [[[0, 0], [9, 9], [9, 0], [0, 9], [0, 0]]]})],
            "feature 1: invalid Polygon: Self-intersection",
        ),
        (
            [_feature(_square(0, 0, 5, 5), {"type": "LineString", "coordinates": [[0, 0], [1, 1]]})],
            "feature 1: geometry",
        ),
        ([{"type": "Polygon"}], "item 1 of the features is not a GeoJSON Feature"),
    ],
)
def test_bad_geojson_is_refused_with_the_file_and_the_first_problem(tmp_path, features, message):
    _folder(tmp_path, features)
    with pytest.raises(ValueError, match=f"^{tmp_path / 'a.geojson'}: {message}"):
        D.read_dataset(tmp_path, "geojson", require_masks=True)


def test_not_json_and_a_geojson_without_its_image(tmp_path):
    _folder(tmp_path, [])
    (tmp_path / "a.geojson").write_text("{not json")
    with pytest.raises(ValueError, match="a.geojson: not valid JSON"):
        D.read_dataset(tmp_path, "geojson")
    (tmp_path / "a.geojson").unlink()
    (tmp_path / "ghost.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": []}))
    with pytest.raises(FileNotFoundError, match=r"ghost.geojson: its image ghost.<ext> \(or ghost\) is not in"):
        D.read_dataset(tmp_path, "geojson")


def test_a_geojson_edited_after_reading_is_read_again(tmp_path):
    _folder(tmp_path, [_feature(_square(0, 0, 10, 10))])
    assert D.read_dataset(tmp_path, "geojson")[0].load().cells.shape[0] == 1
    feats = [_feature(_square(0, 0, 10, 10)), _feature(_square(20, 0, 30, 10)), _feature(_square(0, 20, 5, 25))]
    (tmp_path / "a.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    assert D.read_dataset(tmp_path, "geojson")[0].load().cells.shape[0] == 3
