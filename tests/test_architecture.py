"""The package's shape, as ARCHITECTURE.md draws it: folders in layers, no import cycle, every module
listed and tested, a public face, one spelling, short functions and modules."""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import re
from pathlib import Path

import numpy as np
import pytest
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "cervix"
TESTS = ROOT / "tests"

#: Imports a folder must never make, beyond the layers: the rules ARCHITECTURE.md names.
FORBIDDEN = {
    "metrics": {"cervix.models", "cervix.training", "timm"},
    "losses": {"cervix.models", "cervix.training", "timm"},
    "cervix.metrics.instances": {"torch"},
    "inference": {"cervix.training"},
}


def module_name(path: Path) -> str:
    """``cervix/data/readers/sipakmed.py`` -> ``cervix.data.readers.sipakmed`` (``__init__`` kept)."""
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PKG.rglob("*.py")) if "__pycache__" not in p.parts}


def folder_of(name: str) -> str:
    """The folder (top-level subpackage) of a module: ``cervix.data.readers.x`` -> ``data``; ``cervix`` for
    the modules at the top (``cli``, ``__main__``, ``__init__``)."""
    parts = name.split(".")
    return parts[1] if len(parts) > 2 else "cervix"


def imports(path: Path, known: dict[str, Path]) -> set[str]:
    """Everything a file imports, lazily too: cervix modules by full name (a package as its
    ``__init__``), other packages by their top-level name."""
    me = module_name(path)
    package = me.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            if base.split(".")[0] != "cervix":
                found.add(base.split(".")[0])
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in known or f"{sub}.__init__" in known else base)
        elif isinstance(node, ast.Import):
            found.update(a.name if a.name.startswith("cervix") else a.name.split(".")[0] for a in node.names)
    return {f"{m}.__init__" if f"{m}.__init__" in known else m for m in found} - {me}


def import_graph() -> dict[str, set[str]]:
    known = modules()
    return {name: {m for m in imports(path, known) if m in known} for name, path in known.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (scipy's Tarjan), sorted."""
    names = sorted(graph)
    index = {n: i for i, n in enumerate(names)}
    edges = [(index[a], index[b]) for a in names for b in graph[a]]
    rows, cols = (np.array(x, dtype=int) for x in zip(*edges, strict=True)) if edges else ([], [])
    adj = csr_matrix((np.ones(len(edges)), (rows, cols)), shape=(len(names), len(names)))
    _, labels = connected_components(adj, directed=True, connection="strong")
    comps = [sorted(n for n, lab in zip(names, labels, strict=True) if lab == k) for k in set(labels)]
    return sorted(c for c in comps if len(c) > 1)


def architecture_table() -> dict[str, tuple[int, set[str]]]:
    """ARCHITECTURE.md's table: folder (``data``, ``data/readers``, ``cervix``) -> (layer, modules)."""
    rows = {}
    for line in (ROOT / "ARCHITECTURE.md").read_text().splitlines():
        m = re.match(r"\|\s*(\d+)\s*\|\s*`([\w/]+)/`\s*\|([^|]*)\|", line)
        if m:
            rows[m.group(2)] = (int(m.group(1)), set(re.findall(r"`(\w+)`", m.group(3))))
    return rows


def layer_of(folder: str) -> int:
    return architecture_table()[folder][0]


# --------------------------------------------------------------------------------------------- the tree
def test_every_module_is_listed_under_its_folder_in_architecture_md():
    table = architecture_table()
    found: dict[str, set[str]] = {}
    for path in modules().values():
        if path.name == "__init__.py":
            continue
        rel = path.parent.relative_to(ROOT).as_posix()
        found.setdefault("cervix" if rel == "cervix" else rel.removeprefix("cervix/"), set()).add(path.stem)
    assert found == {k: v for k, (_, v) in table.items()}


def test_no_import_cycle_function_level_imports_counted():
    assert cycles(import_graph()) == []


def test_the_cycle_check_sees_a_lazy_import():
    graph = {"a": {"b"}, "b": set(), "c": {"a"}}
    assert cycles(graph) == []
    graph["b"] = {"c"}  # e.g. a function-level import closing the loop
    assert cycles(graph) == [["a", "b", "c"]]


def test_imports_are_read_lazily_and_relatively(tmp_path):
    f = PKG / "data" / "readers" / "_probe_for_test.py"
    try:
        f.write_text("def f():\n    from ..records import Record\n    from cervix.stages import segmentation\n")
        found = imports(f, modules())
        assert {"cervix.data.records", "cervix.stages.segmentation"} <= found
    finally:
        f.unlink()


def test_each_folder_imports_only_lower_layers_and_nothing_forbidden():
    bad = []
    for name, path in modules().items():
        own = folder_of(name)
        for dep in imports(path, modules()):
            rules = FORBIDDEN.get(own, set()) | FORBIDDEN.get(name, set())
            if any(dep == r or dep.startswith(r + ".") for r in rules):
                bad.append(f"{name} imports {dep}")
            if not dep.startswith("cervix.") or folder_of(dep) == own or own == "cervix":
                continue
            if layer_of(folder_of(dep)) >= layer_of(own):
                bad.append(f"{name} ({own}, layer {layer_of(own)}) imports {dep} (layer {layer_of(folder_of(dep))})")
    assert not bad, "\n".join(bad)


def test_the_layer_check_catches_an_upward_import():
    assert layer_of("core") < layer_of("data") < layer_of("stages") < layer_of("widgets")
    assert layer_of("models") == layer_of("metrics")  # one layer: neither may import the other


def test_only_widgets_imports_ipywidgets():
    users = sorted({folder_of(n) for n, p in modules().items() if "ipywidgets" in imports(p, modules())})
    assert users == ["widgets"], users


# --------------------------------------------------------------------------------------------- tests
def test_every_module_has_its_test_file():
    missing = []
    for path in modules().values():
        if path.name.startswith("__"):
            continue
        rel = path.relative_to(PKG)
        test = TESTS / rel.parent / f"test_{rel.stem}.py"
        if not test.is_file() or "def test_" not in test.read_text():
            missing.append(str(test.relative_to(ROOT)))
    assert not missing, missing


def test_no_test_file_without_its_module():
    orphans = []
    for test in TESTS.rglob("test_*.py"):
        rel = test.relative_to(TESTS)
        if rel.parts[0] in ("integration", "ui") or rel.name == "test_architecture.py":
            continue
        if not (PKG / rel.parent / f"{rel.stem.removeprefix('test_')}.py").is_file():
            orphans.append(str(rel))
    assert not orphans, orphans


# --------------------------------------------------------------------------------------------- public face
def _public_names() -> list[tuple[str, str, object]]:
    out = []
    for name in modules():
        if name.endswith("__main__"):
            continue  # importing it runs the command line
        mod = importlib.import_module(name.removesuffix(".__init__"))
        for n in getattr(mod, "__all__", []):
            out.append((name, n, getattr(mod, n)))
    return out


def test_every_folder_has_a_public_face_that_resolves():
    import cervix

    for folder in cervix.SUBPACKAGES:
        mod = importlib.import_module(f"cervix.{folder}")
        assert mod.__all__, folder
        assert mod.__doc__, folder
    for n in cervix.__all__:
        assert getattr(cervix, n) is not None, n
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        _ = cervix.nonsense


def test_a_folder_exports_everything_its_modules_export():
    for name, path in modules().items():
        if path.name == "__init__.py" or folder_of(name) == "cervix":
            continue
        mod = importlib.import_module(name)
        face = importlib.import_module(name.rsplit(".", 1)[0])
        missing = set(getattr(mod, "__all__", [])) - set(face.__all__)
        assert not missing, f"{face.__name__}.__all__ lacks {sorted(missing)} of {name}"


def _cervix_imports(source: str) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("cervix"):
            out.append(node.module)
        elif isinstance(node, ast.Import):
            out += [a.name for a in node.names if a.name.startswith("cervix")]
    return out


def _allowed(module: str) -> bool:
    import cervix

    parts = module.split(".")
    return module == "cervix" or (len(parts) == 2 and parts[1] in cervix.SUBPACKAGES)


def test_notebooks_and_readme_import_only_the_public_face():
    bad = []
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in json.loads(nb.read_text())["cells"]:
            if cell["cell_type"] == "code":
                src = "".join(cell["source"])
                bad += [f"{nb.name}: {m}" for m in _cervix_imports(src) if not _allowed(m)]
    readme = (ROOT / "README.md").read_text()
    for block in re.findall(r"```python\n(.*?)```", readme, flags=re.S):
        bad += [f"README.md: {m}" for m in _cervix_imports(block) if not _allowed(m)]
    assert not bad, bad
    assert not _allowed("cervix.stages.segmentation") and _allowed("cervix.stages")


def test_one_spelling_in_the_public_api():
    # British spelling throughout: normalise, binarise, colour
    american = re.compile(r"normaliz|binariz|color", re.IGNORECASE)
    bad = []
    for where, name, obj in _public_names():
        names = [name]
        if callable(obj):
            try:
                names += list(inspect.signature(obj).parameters)
            except (TypeError, ValueError):
                pass
        bad += [f"{where}.{name}: {n}" for n in names if american.search(n)]
    assert not bad, bad


@pytest.mark.parametrize("limit_fn, limit_mod", [(80, 600)])
def test_functions_and_modules_stay_short(limit_fn, limit_mod):
    long = []
    for path in modules().values():
        text = path.read_text()
        if len(text.splitlines()) > limit_mod:
            long.append(f"{path.relative_to(ROOT)}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = node.end_lineno - node.lineno + 1
                if n > limit_fn:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}: {n} lines")
    assert not long, long


def test_trainers_and_loaders_mirror_each_other():
    from cervix.stages import classification, segmentation
    from cervix.training.rundir import TrainResult

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
    # both stages write metrics.json through training.rundir.write_metrics, nothing else names the file to write it
    writers = [
        name
        for name, p in modules().items()
        if name != "cervix.training.rundir" and re.search(r"""write\w*\([^)]*["']metrics\.json["']""", p.read_text())
    ]
    assert not writers, writers
