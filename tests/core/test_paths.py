"""Project-level checks: clean notebooks, environment.yml in step with pyproject, root resolver."""

from __future__ import annotations

from pathlib import Path

from cervix.core import paths

ROOT = Path(__file__).resolve().parents[2]


def test_project_root_resolver(tmp_path, monkeypatch):
    monkeypatch.delenv("CERVIX_ROOT", raising=False)
    monkeypatch.chdir(ROOT / "notebooks")
    assert paths.project_root() == ROOT
    assert paths.figures_dir(create=False) == ROOT / "figures"
    monkeypatch.setenv("CERVIX_ROOT", str(tmp_path))
    assert paths.project_root() == tmp_path.resolve()
    assert paths.runs_dir() == tmp_path.resolve() / "runs" and (tmp_path / "runs").is_dir()


def test_real_samples_dir_env(monkeypatch, tmp_path):
    monkeypatch.setenv("CERVIX_REAL_SAMPLES", str(tmp_path))
    assert paths.real_samples_dir() == tmp_path.resolve()
    monkeypatch.delenv("CERVIX_REAL_SAMPLES")
    monkeypatch.delenv("CERVIX_ROOT", raising=False)
    monkeypatch.chdir(ROOT)
    assert paths.real_samples_dir() == (ROOT.parent / "shared" / "data" / "real-samples").resolve()


PIPELINE_KEYS = {"synthetic", "seg_run", "masks", "cls_run", "ablation", "eval", "analysis"}


def test_pipeline_paths_honour_cervix_root(tmp_path, monkeypatch):
    monkeypatch.setenv("CERVIX_ROOT", str(tmp_path))
    root = tmp_path.resolve()
    p = paths.pipeline_paths("smoke")
    assert set(p) == PIPELINE_KEYS
    assert p["synthetic"] == root / "data" / "synthetic" / "smoke"
    assert p["seg_run"] == root / "runs" / "smoke" / "seg"
    assert p["masks"] == root / "runs" / "smoke" / "masks"
    assert p["cls_run"] == root / "runs" / "smoke" / "cls"
    assert p["ablation"] == root / "runs" / "smoke" / "ablation"
    assert p["eval"] == root / "runs" / "smoke" / "eval"
    assert p["analysis"] == root / "runs" / "smoke" / "analysis"
    # data/ and runs/ are created, the per-profile folders are left to the steps that write them
    assert sorted(c.name for c in tmp_path.iterdir()) == ["data", "runs"]
    assert list((tmp_path / "runs").iterdir()) == [] and list((tmp_path / "data").iterdir()) == []


def test_data_runs_figures_dirs_under_cervix_root(tmp_path, monkeypatch):
    monkeypatch.setenv("CERVIX_ROOT", str(tmp_path))
    root = tmp_path.resolve()
    assert paths.data_dir(create=False) == root / "data" and not (tmp_path / "data").exists()
    assert paths.runs_dir(create=False) == root / "runs" and not (tmp_path / "runs").exists()
    assert paths.figures_dir(create=False) == root / "figures" and not (tmp_path / "figures").exists()
    assert paths.data_dir() == root / "data" and (tmp_path / "data").is_dir()
    assert paths.figures_dir() == root / "figures" and (tmp_path / "figures").is_dir()
    assert paths.pretrained_path("resnet18") == root / "data" / "pretrained" / "synthetic_resnet18.pt"
    assert not (tmp_path / "data" / "pretrained").exists()


def test_cervix_root_relative_and_home(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CERVIX_ROOT", "proj")
    assert paths.project_root() == tmp_path.resolve() / "proj"
    assert paths.runs_dir() == tmp_path.resolve() / "proj" / "runs" and (tmp_path / "proj" / "runs").is_dir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CERVIX_ROOT", "~/x")
    assert paths.data_dir(create=False) == tmp_path.resolve() / "home" / "x" / "data"


def test_root_marked_by_pyproject_and_cervix_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("CERVIX_ROOT", raising=False)
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "cervix").mkdir()
    monkeypatch.chdir(tmp_path / "a" / "b")
    assert paths.project_root() == tmp_path.resolve()
    assert paths.pipeline_paths("cpu")["eval"] == tmp_path.resolve() / "runs" / "cpu" / "eval"
    monkeypatch.setenv("CERVIX_ROOT", "")  # empty: not set
    assert paths.project_root() == tmp_path.resolve()


def test_pyproject_alone_does_not_mark_a_root(tmp_path, monkeypatch):
    monkeypatch.delenv("CERVIX_ROOT", raising=False)
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (tmp_path / "a").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    assert paths.project_root() != tmp_path.resolve()
    (tmp_path / "cervix").mkdir()  # the control: with cervix/ beside it, it is the root
    assert paths.project_root() == tmp_path.resolve()


def test_root_falls_back_to_the_imported_checkout(tmp_path, monkeypatch):
    monkeypatch.delenv("CERVIX_ROOT", raising=False)
    monkeypatch.chdir(tmp_path)  # no marked root above the working directory
    assert paths.project_root() == ROOT
