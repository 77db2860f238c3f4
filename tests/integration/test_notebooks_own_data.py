"""The notebooks' "your own data" lines run as written.

Each config cell of notebooks 01-04 holds lines ``# OWN DATA: <code>`` that point the notebook at
a user's folders under ``~/data``. This test lays out a small synthetic set as a user's data
(``~/data/crops`` in the classes format with ``groups.csv``, ``~/data/crops_masks``,
``~/data/fields`` in the masks format), switches those lines on, and executes 01-04 in order
(smoke profile, in a separate project root), then checks that the runs used the user's folders.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from cervix.core.config import get_profile
from cervix.data.readers.synthetic import ensure_synthetic

if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__, "-q"])

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


PREFIX = "# OWN DATA: "


def own_data_version(path: Path) -> tuple[nbformat.NotebookNode, int]:
    nb = nbformat.read(path, as_version=4)
    switched = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        lines = cell.source.split("\n")
        for i, line in enumerate(lines):
            if line.startswith(PREFIX):
                lines[i] = line[len(PREFIX) :]
                switched += 1
        cell.source = "\n".join(lines)
    return nb, switched


def test_own_data_lines_run_as_written(tmp_path, monkeypatch):
    home, root = tmp_path / "home", tmp_path / "project"
    root.mkdir()  # a project root of its own: data/, runs/, figures/ of this test
    syn = ensure_synthetic(tmp_path / "synthetic", progress=False, **get_profile("smoke").synth)
    for part in ("crops", "crops_masks", "fields"):
        shutil.copytree(syn / part, home / "data" / part)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("CERVIX_ROOT", str(root))
    monkeypatch.setenv("CERVIX_PROFILE", "smoke")
    for name in ("01_data_exploration", "02_segmentation_training", "03_mask_generation", "04_classifier_training"):
        nb, switched = own_data_version(NOTEBOOKS / f"{name}.ipynb")
        assert switched >= 1, f"{name} has no '{PREFIX}' line"
        NotebookClient(
            nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
        ).execute()
    runs = root / "runs" / "smoke"
    assert Path(json.loads((runs / "seg" / "config.json").read_text())["data"]) == home / "data" / "fields"
    qc = json.loads((runs / "masks" / "qc.json").read_text())
    n_crops = sum(1 for p in (home / "data" / "crops").rglob("*.png"))
    assert qc["n_written"] == n_crops and all(r["path"].startswith(str(home)) for r in qc["images"])
    cls_cfg = json.loads((runs / "cls" / "config.json").read_text())
    assert Path(cls_cfg["data"]) == home / "data" / "crops"
    assert (runs / "ablation" / "rgb" / "best.pt").is_file()
    assert not (runs / "ablation" / "rgb_true_masks").exists()  # TRUE_MASKS = None leaves that arm out
