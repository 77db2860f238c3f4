"""The package's shape, as ARCHITECTURE.md describes it: layers and what may import what, one
spelling in the public API, short functions and modules."""
from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "cervix"

#: module -> layer; a module imports only from its own layer or lower ones (ARCHITECTURE.md).
LAYERS = {
    **dict.fromkeys(["labels", "files", "config", "paths", "masks", "device", "optim", "blocks", "synth_cells",
                     "gradcam", "plotting", "__init__"], 0),
    **dict.fromkeys(["metrics", "losses", "morphometrics", "models", "rundir", "checkpoints", "distributed",
                     "sampling", "synth", "instances", "instance_metrics"], 1),
    **dict.fromkeys(["data", "readers", "splits", "datasets", "preflight"], 2),
    **dict.fromkeys(["engine", "inference"], 3),
    **dict.fromkeys(["segmentation", "classification", "evaluation", "figures", "pretrain", "pipeline"], 4),
    **dict.fromkeys(["explore", "widgets"], 5),
    **dict.fromkeys(["cli", "__main__"], 6),
}
#: Imports a module must never make (beyond the layers): the rules ARCHITECTURE.md names.
FORBIDDEN = {
    "metrics": {"models", "engine", "timm"},
    "losses": {"models", "engine", "timm"},
    "instance_metrics": {"models", "engine", "timm", "torch"},
    "inference": {"engine", "optim"},
}


def _imports(path: Path) -> set[str]:
    """cervix modules (by name) and top-level packages imported anywhere in a file, lazily too."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level == 1:
                found.update([mod.split(".")[0]] if mod else [a.name for a in node.names])
            elif mod == "cervix":
                found.update(a.name for a in node.names)
            elif mod.startswith("cervix."):
                found.add(mod.split(".")[1])
            else:
                found.add(mod.split(".")[0])
        elif isinstance(node, ast.Import):
            for a in node.names:
                found.add(a.name.split(".")[1] if a.name.startswith("cervix.") else a.name.split(".")[0])
    return found


def _modules() -> list[Path]:
    return sorted(PKG.glob("*.py"))


def test_every_module_has_a_layer_and_is_in_architecture_md():
    doc = (ROOT / "ARCHITECTURE.md").read_text()
    for path in _modules():
        assert path.stem in LAYERS, f"{path.name}: give it a layer here and in ARCHITECTURE.md"
        if not path.stem.startswith("__"):
            assert f"`{path.stem}`" in doc, f"ARCHITECTURE.md does not list {path.stem}"
    assert not set(LAYERS) - {p.stem for p in _modules()}, "a listed module no longer exists"


def test_no_module_imports_a_higher_layer_or_a_forbidden_module():
    bad = []
    for path in _modules():
        own = LAYERS[path.stem]
        for dep in _imports(path):
            if dep in LAYERS and dep != path.stem and LAYERS[dep] > own:
                bad.append(f"{path.stem} (layer {own}) imports {dep} (layer {LAYERS[dep]})")
            if dep in FORBIDDEN.get(path.stem, ()):
                bad.append(f"{path.stem} imports {dep}")
    assert not bad, "\n".join(bad)


def test_the_layer_check_catches_an_upward_import(tmp_path):
    # the checker itself: a foundation module importing a stage is seen
    f = tmp_path / "labels.py"
    f.write_text("def f():\n    from .segmentation import train_segmentation\n")
    assert "segmentation" in _imports(f)
    f.write_text("from cervix.engine import fit\nimport cervix.models\n")
    assert {"engine", "models"} <= _imports(f)


def test_only_widgets_imports_ipywidgets():
    users = [p.stem for p in _modules() if "ipywidgets" in _imports(p)]
    assert users == ["widgets"], users


def _public_api() -> list[tuple[str, str]]:
    names = []
    for path in _modules():
        if path.stem.startswith("__"):
            continue
        mod = importlib.import_module(f"cervix.{path.stem}")
        for name in getattr(mod, "__all__", []):
            names.append((f"{path.stem}.{name}", name))
            obj = getattr(mod, name)
            if callable(obj):
                try:
                    params = inspect.signature(obj).parameters
                except (TypeError, ValueError):
                    continue
                names += [(f"{path.stem}.{name}({p})", p) for p in params]
    return names


def test_one_spelling_in_the_public_api():
    # British spelling throughout: normalise, binarise, colour
    american = re.compile(r"normaliz|binariz|color", re.IGNORECASE)
    bad = [where for where, name in _public_api() if american.search(name)]
    assert not bad, bad


@pytest.mark.parametrize("limit_fn, limit_mod", [(80, 600)])
def test_functions_and_modules_stay_short(limit_fn, limit_mod):
    long = []
    for path in _modules():
        text = path.read_text()
        if len(text.splitlines()) > limit_mod:
            long.append(f"{path.name}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > limit_fn:
                    long.append(f"{path.name}:{node.lineno} {node.name}: {n} lines")
    assert not long, long


def test_trainers_and_loaders_mirror_each_other():
    from cervix import classification, segmentation
    from cervix.rundir import TrainResult

    for fn in (segmentation.train_segmentation, classification.train_classifier):
        sig = inspect.signature(fn)
        assert list(sig.parameters)[:2] == ["data", "out"], fn.__name__
        assert sig.parameters["fmt"].kind is inspect.Parameter.KEYWORD_ONLY, fn.__name__
        assert sig.return_annotation in (TrainResult, "TrainResult"), fn.__name__
    seg_sig = inspect.signature(segmentation.load_segmentation).parameters
    cls_sig = inspect.signature(classification.load_classifier).parameters
    assert list(seg_sig) == list(cls_sig) == ["path", "device"]
    assert seg_sig["device"].default is cls_sig["device"].default is None


def test_no_reference_to_documents_outside_the_repository():
    pattern = re.compile(r"\bSPEC\b|\bthe seed\b(?! of)|\(seed: [0-9]")
    hits = []
    for folder in ("cervix", "notebooks", "benchmarks", "tests"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in (".py", ".ipynb", ".md") and "__pycache__" not in path.parts and path != Path(__file__):
                for i, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                    if pattern.search(line):
                        hits.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()[:80]}")
    assert not hits, hits


def test_metrics_json_has_one_writer():
    # both stages write metrics.json through rundir.write_metrics, nothing else names the file to write it
    writers = [p.name for p in _modules() if p.stem != "rundir"
               and re.search(r"""write\w*\([^)]*["']metrics\.json["']""", p.read_text())]
    assert not writers, writers
