# cervix: two commands. `make run` executes the notebooks on synthetic data; `make test` lints and runs the tests.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
# The torch build to install when none is present in the venv (on the dev machine these lie on disk).
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
CERVIX_PROFILE ?= cpu
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))

.PHONY: run test lint unit nbtest uitest lab install clean-venv bench-real check-quality

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade --quiet pip

# Reinstall only when the project's dependencies change.
$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	$(PY) -c "import torch, torchvision" 2>/dev/null || $(PY) -m pip install $(TORCH_SPEC)
	$(PY) -m pip install --quiet -e ".[dev]"
	$(PY) -m ipykernel install --sys-prefix --name cervix --display-name "Python (cervix)" >/dev/null
	touch $@

install: $(VENV)/.installed

run: install
	mkdir -p runs/notebooks figures
	@for nb in $(NOTEBOOKS); do \
	  echo "== $$nb (profile $(CERVIX_PROFILE))"; \
	  CERVIX_PROFILE=$(CERVIX_PROFILE) $(VENV)/bin/jupyter nbconvert --to notebook --execute \
	    --ExecutePreprocessor.timeout=-1 --ExecutePreprocessor.kernel_name=python3 \
	    --output-dir runs/notebooks "$$nb" || exit 1; \
	done
	@echo "Executed notebooks in runs/notebooks/, figures in figures/"

# ruff, pinned in the dev extra and configured in pyproject.toml: lint and formatting.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

unit: install
	$(PY) -m pytest -q tests

nbtest: install
	CERVIX_PROFILE=smoke $(PY) -m pytest -q --nbval-lax -p no:cacheprovider notebooks/

test: lint unit nbtest

# Notebooks 01-04 and 06 in JupyterLab in a real headless Chromium (Debian's, installed with apt when
# absent): Run All, no error output, widgets render as controls and react to a slider.
# Screenshots in runs/uitest/. Skips without a browser, except under CI.
uitest: install
	$(PY) -m pip install --quiet -e ".[dev,ui]"
	$(PY) tests/integration/ui/lab_uitest.py

# The cpu profile's quality floors (Profile.floors) on a complete `make run` (~25 min; not in CI).
check-quality: install
	$(MAKE) run CERVIX_PROFILE=cpu
	$(PY) benchmarks/check_quality.py cpu

lab: install
	$(VENV)/bin/jupyter lab --notebook-dir=. $$( [ "$$(id -u)" = 0 ] && echo --allow-root )

# Real-data development benchmark (not in CI; ~2 h on 2 CPU cores; needs ../shared/data/real-dev
# or $$CERVIX_REAL_DEV). Resumable: finished arms are skipped. BENCH_ARGS="--only cls --task 2" etc.
bench-real: install
	$(PY) -m pip install --quiet -e ".[dev,bench]"
	$(PY) benchmarks/real_dev.py $(BENCH_ARGS)

clean-venv:
	rm -rf $(VENV)
