# Two commands do everything on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# pip's configured local indexes print harmless "Location ... is ignored" lines
QUIET := 2>&1 | { grep -v "is ignored: it is neither" || true; }
DEMO := demo
NORDIC_OPTS := --opt ny=128 --opt nx=192 --opt 'variables=[u10,v10,t2m]'

.PHONY: install test lint format demo bench study clean

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

# one pytest-xdist worker per core plus one: about a third of the suite's time is spent
# waiting (mlflow servers starting, subprocesses), which the extra worker fills (2 cores:
# 10.5 min with 3 workers against 12.0 with 2, measured unloaded); slow tests go first
test: install lint
	$(PY) -m pytest -q -p no:cacheprovider -n $$(( $$(nproc) + 1 )) --dist worksteal

demo: install
	mkdir -p $(DEMO)
	$(VENV)/bin/gensemble plugins
	$(VENV)/bin/gensemble data synth --domain se_france -n 64 --members 8 --out $(DEMO)/se_france_raw.nc
	$(VENV)/bin/gensemble data prepare $(DEMO)/se_france_raw.nc --domain se_france --out $(DEMO)/se_france.zarr --overwrite
	$(VENV)/bin/gensemble data inspect $(DEMO)/se_france.zarr
	$(VENV)/bin/gensemble data synth --domain nordic $(NORDIC_OPTS) -n 32 --members 8 --out $(DEMO)/nordic_raw.nc
	$(VENV)/bin/gensemble data prepare $(DEMO)/nordic_raw.nc --domain nordic $(NORDIC_OPTS) --out $(DEMO)/nordic.zarr --overwrite
	if [ -d ../shared/data ]; then \
	  $(VENV)/bin/gensemble data regrid ../shared/data/era5-levels-members.grib --domain nordic --out $(DEMO)/era5_on_nordic.nc; fi
	# train a small StyleGAN2 on the synthetic se_france store (a few minutes on CPU),
	# then generate members in physical units and score them against held-out data
	$(VENV)/bin/gensemble train examples/demo_se_france.yaml
	basename $$(ls -td $(DEMO)/runs/*/ | head -n 1) > $(DEMO)/se_france.run
	$(VENV)/bin/gensemble generate $$(cat $(DEMO)/se_france.run) -n 32 --out $(DEMO)/members.nc --experiment gensemble-demo
	$(VENV)/bin/gensemble evaluate $$(cat $(DEMO)/se_france.run) --data $(DEMO)/se_france.zarr \
	  --metrics swd,w1,spectrum,quantiles,crps,rank_histogram,exceedance -n 32 --experiment gensemble-demo
	# StyleGAN forecasts: learn a and b on two past dates (leave-half-out CRPS), then enlarge
	# 8 members of an unseen synthetic forecast to 32 and score raw, enriched and hybrid
	# ensembles against the 8 members held back
	$(VENV)/bin/gensemble calibrate $$(cat $(DEMO)/se_france.run) --data $(DEMO)/se_france.zarr \
	  --dates 2021-01-01T21:00,2021-01-02T21:00 -n 16 --steps 60 --evals 16 \
	  --out $(DEMO)/calibration.json
	$(VENV)/bin/gensemble data synth --domain se_france -n 16 --members 16 --seed 7 --out $(DEMO)/forecast.nc
	$(VENV)/bin/gensemble enrich $$(cat $(DEMO)/se_france.run) --members $(DEMO)/forecast.nc \
	  --holdout 8 -n 32 --steps 60 --calibration $$(cat $(DEMO)/se_france.run) \
	  --out $(DEMO)/stylegan_forecast.nc
	# transfer onto nordic (other grid size, no rr) against training from scratch, same steps
	$(VENV)/bin/gensemble train examples/demo_nordic.yaml
	basename $$(ls -td $(DEMO)/runs/*/ | head -n 1) > $(DEMO)/nordic_scratch.run
	$(VENV)/bin/gensemble transfer examples/demo_nordic.yaml --from $$(cat $(DEMO)/se_france.run)
	basename $$(ls -td $(DEMO)/runs/*/ | head -n 1) > $(DEMO)/nordic_transfer.run
	$(VENV)/bin/gensemble compare $$(cat $(DEMO)/nordic_scratch.run) $$(cat $(DEMO)/nordic_transfer.run) \
	  --metrics swd/mean,w1_mean/u10,w1_mean/v10,w1_mean/t2m --out $(DEMO)/compare_nordic.png
	$(VENV)/bin/gensemble lineage $$(cat $(DEMO)/nordic_transfer.run)
	$(VENV)/bin/gensemble runs --experiment gensemble-demo
	# a high-impact event: a synthetic Storm Alex (organised heavy-rain system over the
	# Vésubie/Roya) verified with raw, enriched, hybrid and climate ensembles -> HTML report
	$(VENV)/bin/gensemble events show alex --out $(DEMO)/alex_region.png
	$(VENV)/bin/gensemble data synth --domain se_france --event alex --members 8 --seed 3 --out $(DEMO)/alex.nc
	$(VENV)/bin/gensemble data prepare $(DEMO)/alex.nc --domain se_france --out $(DEMO)/alex.zarr --overwrite
	$(VENV)/bin/gensemble evaluate $$(cat $(DEMO)/se_france.run) --experiment gensemble-demo \
	  --event alex --data $(DEMO)/alex.zarr --enrich 16 --steps 20 --rotations 1 --bootstrap 100 \
	  --report $(DEMO)/alex_report.html

bench: install
	$(PY) benchmarks/regrid.py
	$(PY) benchmarks/loader.py
	$(PY) benchmarks/metrics.py
	$(PY) benchmarks/stylegan2.py
	$(PY) benchmarks/transfer.py
	$(PY) benchmarks/enrich.py
	$(PY) benchmarks/events.py
	$(PY) benchmarks/kernels.py
	$(PY) benchmarks/stylegan3.py

# the reference study on a synthetic system with a known law (generator training included,
# at most 45 min on a 2-core CPU): prints the table and writes study-reference/study.html
study: install
	$(PY) benchmarks/study.py --out study-reference

clean:
	rm -rf study-reference $(DEMO) mlflow.db mlartifacts .pytest_cache
