# Two commands do everything on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# pip's configured local indexes print harmless "Location ... is ignored" lines
QUIET := 2>&1 | { grep -v "is ignored: it is neither" || true; }
DEMO := demo

.PHONY: install test lint format demo bench clean

$(PY):
	python3 -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q --upgrade pip $(QUIET)
	# torch first, pinned, when absent: an unpinned torch may pull a multi-GB CUDA build
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q torch==2.13.0 $(QUIET)
	$(PY) -m pip install -q -e '.[dev]' $(QUIET)
	touch $(STAMP)

install: $(STAMP)

lint: install
	$(VENV)/bin/ruff check gensemble tests benchmarks
	$(VENV)/bin/ruff format --check gensemble tests benchmarks

format: install
	$(VENV)/bin/ruff format gensemble tests benchmarks
	$(VENV)/bin/ruff check --fix gensemble tests benchmarks

test: install lint
	$(PY) -m pytest -q -p no:cacheprovider

demo: install
	mkdir -p $(DEMO)
	$(VENV)/bin/gensemble plugins
	$(VENV)/bin/gensemble data synth --domain se_france -n 64 --members 8 --out $(DEMO)/se_france_raw.nc
	$(VENV)/bin/gensemble data prepare $(DEMO)/se_france_raw.nc --domain se_france --out $(DEMO)/se_france.zarr --overwrite
	$(VENV)/bin/gensemble data inspect $(DEMO)/se_france.zarr
	$(VENV)/bin/gensemble data synth --domain nordic -n 32 --members 8 --out $(DEMO)/nordic_raw.nc
	$(VENV)/bin/gensemble data prepare $(DEMO)/nordic_raw.nc --domain nordic --out $(DEMO)/nordic.zarr --overwrite
	if [ -d ../shared/data ]; then \
	  $(VENV)/bin/gensemble data regrid ../shared/data/era5-levels-members.grib --domain nordic --out $(DEMO)/era5_on_nordic.nc; fi
	# train a small StyleGAN2 on the synthetic se_france store (a few minutes on CPU),
	# then generate members in physical units and score them against held-out data
	$(VENV)/bin/gensemble train examples/demo_se_france.yaml
	$(VENV)/bin/gensemble generate $$(ls -td $(DEMO)/runs/*/ | head -n 1) -n 32 --out $(DEMO)/members.nc
	$(VENV)/bin/gensemble evaluate $$(ls -td $(DEMO)/runs/*/ | head -n 1) --data $(DEMO)/se_france.zarr \
	  --metrics swd,w1,spectrum,quantiles,crps,rank_histogram,exceedance -n 32 --experiment gensemble-demo
	$(VENV)/bin/gensemble runs --experiment gensemble-demo

bench: install
	$(PY) benchmarks/regrid.py
	$(PY) benchmarks/loader.py
	$(PY) benchmarks/metrics.py
	$(PY) benchmarks/stylegan2.py

clean:
	rm -rf $(DEMO) mlflow.db mlartifacts .pytest_cache
