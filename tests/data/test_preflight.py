"""Pre-flight check of a dataset (cervix.data.preflight): every bad file named at once, ``skip_bad``,
the ``skipped.csv`` report and the ``skipped_info`` of metrics.json."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np
import pytest
from helpers import write_image

from cervix.data.formats import read_dataset
from cervix.data.preflight import DataCheckError, preflight, skipped_info, write_data_report
from cervix.data.records import Record


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _two_bad(tmp_path, make_masks_folder):
    """A masks folder of 4 fields (48x56): f001's image truncated, f002's nucleus mask 10x10."""
    root = make_masks_folder(tmp_path / "ds", n=4)
    _truncate(root / "images" / "f001.png")
    write_image(root / "masks" / "nucleus" / "f002.png", np.zeros((10, 10), np.uint8))
    return root, read_dataset(root, "masks")


def test_bad_files_stop_the_run_and_every_one_is_named(tmp_path, make_masks_folder):
    root, recs = _two_bad(tmp_path, make_masks_folder)
    assert len(recs) == 4
    with pytest.raises(DataCheckError) as e:
        preflight(recs, root, progress=False)
    msg = str(e.value)
    assert isinstance(e.value, ValueError)
    assert msg.startswith(f"{root}: 2 of 4 file(s) cannot be used:\n")
    lines = msg.splitlines()
    # one line per bad record (named by its image), with the decoder's reason
    assert lines[1].startswith(f"  {root / 'images' / 'f001.png'}: ValueError: ") and "truncated PNG" in lines[1]
    assert lines[2].startswith(f"  {root / 'images' / 'f002.png'}: ValueError: ")
    assert str(root / "masks" / "nucleus" / "f002.png") in lines[2] and "10x10 differs" in lines[2]
    assert lines[3] == "Fix or remove them, or go on without them with --skip-bad (skip_bad=True)."
    assert "f000" not in msg and "f003" not in msg and len(lines) == 4


def test_skip_bad_returns_the_good_records_and_lists_the_bad_ones(tmp_path, make_masks_folder):
    root, recs = _two_bad(tmp_path, make_masks_folder)
    with pytest.warns(UserWarning, match=r"2 bad file\(s\) skipped \(--skip-bad\)"):
        good, bad = preflight(recs, root, skip_bad=True, progress=False)
    assert good == [recs[0], recs[3]] and good[0] is recs[0] and good[1] is recs[3]
    assert [p for p, _ in bad] == [recs[1].path, recs[2].path]
    assert bad[0][1].startswith("ValueError: ") and "truncated PNG" in bad[0][1]
    assert bad[1][1].startswith("ValueError: ") and "mask size 10x10 differs from its image size 56x48" in bad[1][1]


def test_a_clean_dataset_passes_silently(tmp_path, make_masks_folder):
    root = make_masks_folder(tmp_path / "ds", n=3)
    recs = read_dataset(root, "masks")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        good, bad = preflight(recs, root, need_masks=True, progress=False)
    assert good == list(recs) and bad == []
    assert preflight([], root, progress=False) == ([], [])


def test_every_file_bad_is_an_error_even_with_skip_bad(tmp_path, make_masks_folder):
    root = make_masks_folder(tmp_path / "ds", n=2)
    no_masks = [Record(r.path, None, r.group) for r in read_dataset(root, "masks")]
    # without need_masks a record without masks is fine
    assert preflight(no_masks, root, progress=False) == (no_masks, [])
    with pytest.raises(DataCheckError, match=r"2 of 2 file\(s\)") as e:
        preflight(no_masks, root, need_masks=True, skip_bad=True, progress=False)
    msg = str(e.value)
    assert msg.endswith("\nNo file is usable.") and "--skip-bad" not in msg
    assert msg.count(": no cytoplasm/nucleus masks") == 2


def test_the_error_lists_fifty_bad_files_and_counts_the_rest(tmp_path, make_masks_folder):
    root = make_masks_folder(tmp_path / "ds", n=1)
    recs = read_dataset(root, "masks") + [Record(str(tmp_path / f"gone{i:02d}.png"), None, "g") for i in range(53)]
    with pytest.raises(DataCheckError) as e:
        preflight(recs, tmp_path, progress=False)
    lines = str(e.value).splitlines()
    assert lines[0] == f"{tmp_path}: 53 of 54 file(s) cannot be used:"
    listed = [ln for ln in lines if ln.startswith("  ") and "gone" in ln]
    assert len(listed) == 50 and "gone49.png" in listed[-1] and "gone50.png" not in str(e.value)
    first = tmp_path / "gone00.png"
    assert listed[0] == f"  {first}: FileNotFoundError: image file not found: {first}"
    assert "  ... and 3 more" in lines


def test_empty_cytoplasm_masks_on_non_blank_images_warn_but_stay(tmp_path, make_masks_folder):
    root = make_masks_folder(tmp_path / "ds", n=5)
    for i in range(5):
        write_image(root / "masks" / "cytoplasm" / f"f{i:03d}.png", np.zeros((48, 56), np.uint8))
    recs = read_dataset(root, "masks")
    with pytest.warns(UserWarning) as w:
        good, bad = preflight(recs, root, progress=False)
    assert good == list(recs) and bad == []
    (msg,) = [str(x.message) for x in w]
    assert msg.startswith(f"{root}: 5 file(s) look wrong: ") and msg.endswith(" (+2 more)")
    assert msg.count("empty cytoplasm mask on a non-blank image") == 3  # the first three are named
    # a blank image with an empty mask is nothing to warn about
    write_image(root / "images" / "f000.png", np.full((48, 56, 3), 200, np.uint8))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert preflight(recs[:1], root, progress=False) == (recs[:1], [])


def _rows(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def test_write_data_report_lists_skipped_and_bad_files(tmp_path, make_masks_folder):
    root, _ = _two_bad(tmp_path, make_masks_folder)
    (root / "images" / "notes.txt").write_text("not an image")
    with pytest.warns(UserWarning, match="notes.txt"):
        recs = read_dataset(root, "masks")
    with pytest.warns(UserWarning):
        good, bad = preflight(recs, root, skip_bad=True, progress=False)
    run = tmp_path / "run" / "sub"  # parent folders are created
    line = write_data_report(run, len(good), recs.skipped, bad)
    assert line == f"2 file(s) used, 3 skipped: see {run / 'skipped.csv'}"
    rows = _rows(run / "skipped.csv")
    assert rows[0] == ["path", "reason"]
    assert rows[1] == [str(root / "images" / "notes.txt"), "not an image file"]
    assert rows[2:] == [[p, f"bad file: {why}"] for p, why in bad]  # commas in reasons survive quoting
    # nothing skipped: the old skipped.csv is removed
    assert write_data_report(run, 7) == "7 file(s) used, none skipped"
    assert not (run / "skipped.csv").exists()
    assert write_data_report(run, 0, [], []) == "0 file(s) used, none skipped"


def test_write_data_report_of_skipped_files_only(tmp_path):
    line = write_data_report(tmp_path, 3, [("a, b.png", 'say "hi"')])
    assert line == f"3 file(s) used, 1 skipped: see {tmp_path / 'skipped.csv'}"
    assert _rows(tmp_path / "skipped.csv") == [["path", "reason"], ["a, b.png", 'say "hi"']]


def test_skipped_info():
    assert skipped_info([]) == {"n_skipped": 0, "skipped": []}
    info = skipped_info([("x/a.txt", "not an image file"), ("x/.b.png", "hidden file")])
    assert info == {
        "n_skipped": 2,
        "skipped": [{"path": "x/a.txt", "reason": "not an image file"}, {"path": "x/.b.png", "reason": "hidden file"}],
    }
