"""Project-level checks: clean notebooks, environment.yml in step with pyproject, root resolver."""

from __future__ import annotations

import json
import re
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[2]


def _name(req: str) -> str:
    """Package name of a requirement string, normalised ('opencv-python-headless>=4.8' -> 'opencv-python-headless')."""
    return re.split(r"[<>=!~ \[;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


# conda names that differ from the PyPI name
CONDA_TO_PYPI = {"pytorch": "torch"}


def test_notebooks_are_stored_without_outputs():
    nbs = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert nbs, "no notebooks found"
    for nb_path in nbs:
        nb = json.loads(nb_path.read_text())
        for i, cell in enumerate(nb["cells"]):
            if cell["cell_type"] != "code":
                continue
            assert cell.get("outputs", []) == [], f"{nb_path.name} cell {i} has stored outputs"
            assert cell.get("execution_count") is None, f"{nb_path.name} cell {i} has an execution count"


def test_notebook_code_cells_hold_no_function_or_class_definitions():
    for nb_path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = json.loads(nb_path.read_text())
        for i, cell in enumerate(nb["cells"]):
            if cell["cell_type"] == "code":
                src = "".join(cell["source"])
                assert not re.search(r"^\s*(def|class) ", src, re.M), (
                    f"{nb_path.name} cell {i} defines a function/class"
                )


def test_environment_yml_lists_the_pyproject_packages():
    import yaml

    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wanted = {_name(r) for r in pyproject["project"]["dependencies"]}
    wanted |= {_name(r) for r in pyproject["project"]["optional-dependencies"]["dev"]}
    have: set[str] = set()
    python = None
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            have |= {_name(r) for r in dep.get("pip", []) if not r.startswith("-")}
            assert "-e ." in dep.get("pip", []), "environment.yml must install the package with pip -e ."
        else:
            n = _name(dep)
            if n == "python":
                python = dep
            have.add(CONDA_TO_PYPI.get(n, n))
    assert python is not None and "3.11" in python
    assert wanted - have == set(), f"missing from environment.yml: {wanted - have}"
    extra = have - {"pip", "python"} - wanted
    assert extra == set(), f"only in environment.yml: {extra}"


def test_ci_run_calls_make_test():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert "make test" in (ROOT / "README.md").read_text() and "make run" in (ROOT / "README.md").read_text()


def test_metrics_and_losses_import_neither_the_models_nor_timm():
    """Plain metric and loss functions stay light: no timm, no model definitions."""
    import subprocess
    import sys

    code = (
        "import sys, cervix.metrics.scores, cervix.losses.dice; "
        "bad = [m for m in ('timm', 'cervix.models.networks', 'cervix.training.loop') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_inference_does_not_import_the_training_loop():
    """Prediction needs the device and autocast helpers (cervix.core.device), not the training loop."""
    import subprocess
    import sys

    code = (
        "import sys, cervix.inference.tiling; "
        "bad = [m for m in ('cervix.training.loop', 'cervix.training.sampling', 'cervix.training.optim') "
        "if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
