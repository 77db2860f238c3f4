"""The no-silent-overwrite rule of run folders."""

from __future__ import annotations

import pytest

from cervix.training.rundir import RunExistsError, prepare_run_dir, run_files


def _fill(run):
    run.mkdir(parents=True)
    for name in (
        "best.pt",
        "last.pt",
        "config.json",
        "metrics.json",
        "predictions.csv",
        "events.out.tfevents.1.host",
        ".best.pt.123.tmp",
    ):
        (run / name).write_text("x")
    (run / "figures").mkdir()
    (run / "figures" / "confusion.png").write_text("x")
    (run / "fold_0").mkdir()
    (run / "fold_0" / "best.pt").write_text("x")
    (run / "fold_notes").mkdir()  # not a k-fold folder
    (run / "my_notes.txt").write_text("keep")


def test_new_and_empty_folders_are_fine(tmp_path):
    assert prepare_run_dir(tmp_path / "new").is_dir()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "readme.txt").write_text("a user's file")
    assert run_files(tmp_path / "other") == []
    prepare_run_dir(tmp_path / "other")
    assert (tmp_path / "other" / "readme.txt").is_file()


def test_existing_run_is_an_error_naming_folder_and_files(tmp_path):
    run = tmp_path / "run"
    _fill(run)
    with pytest.raises(RunExistsError) as e:
        prepare_run_dir(run)
    msg = str(e.value)
    assert str(run) in msg and "best.pt" in msg and "metrics.json" in msg and "fold_0/" in msg
    assert (run / "best.pt").is_file()


def test_overwrite_removes_only_what_cervix_wrote(tmp_path):
    run = tmp_path / "run"
    _fill(run)
    prepare_run_dir(run, overwrite=True)
    assert sorted(p.name for p in run.iterdir()) == ["fold_notes", "my_notes.txt"]


def test_resume_keeps_the_run(tmp_path):
    run = tmp_path / "run"
    _fill(run)
    prepare_run_dir(run, resume=True)
    assert (run / "best.pt").is_file() and (run / "metrics.json").is_file()
    with pytest.raises(ValueError, match="exclude"):
        prepare_run_dir(run, resume=True, overwrite=True)


def test_resume_cleans_temporary_files_of_a_killed_write(tmp_path):
    run = tmp_path / "run"
    _fill(run)
    prepare_run_dir(run, resume=True)
    assert not (run / ".best.pt.123.tmp").exists() and (run / "best.pt").is_file()


def test_same_settings_refuses_changes_but_not_settings_added_since():
    from pathlib import Path

    from cervix.training.rundir import check_same_settings

    saved = {"lr": 1e-3, "num_workers": 0, "augment": {"rotate": 90.0, "grey": 0.25}}
    check_same_settings(Path("run/last.pt"), saved, {**saved, "num_workers": 2, "new_top": 1})  # may change; added
    later = {**saved, "augment": {"rotate": 90.0, "grey": 0.25, "fade": 0.0}}  # a field added after the run
    check_same_settings(Path("run/last.pt"), saved, later)
    with pytest.raises(ValueError, match=r"run/last.pt: cannot resume with other settings.*lr: 0.001 -> 0.01"):
        check_same_settings(Path("run/last.pt"), saved, {**saved, "lr": 1e-2})
    with pytest.raises(ValueError, match="augment"):
        check_same_settings(Path("run/last.pt"), saved, {**saved, "augment": {"rotate": 45.0, "grey": 0.25}})
    with pytest.raises(ValueError, match="augment"):  # a field the run had, gone now
        check_same_settings(Path("run/last.pt"), saved, {**saved, "augment": {"rotate": 90.0}})
