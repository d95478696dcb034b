# Two set-up commands on a fresh machine: `make demo` and `make test`.
# Each creates .venv/ in the repo when missing and installs what it needs.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# Stamps named after pyproject.toml's checksum: editing it reinstalls.
SUM    := $(shell cksum < pyproject.toml | cut -d' ' -f1)
RUNTIME := $(VENV)/.runtime-$(SUM)
STAMP   := $(VENV)/.test-$(SUM)

.PHONY: demo test lint bench figures docs clean postgres

# The library and its runtime dependencies (enough for the demo).
$(RUNTIME): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -e ".[serve]"
	rm -f $(VENV)/.runtime-*
	touch $(RUNTIME)

# Plus the test extra: pytest, hypothesis, ruff and the oracles (PyTorch 2.13, optax, Keras,
# pytorch-optimizer, madgrad, adam-mini). timm 1.0.31 (the reference of the cautious optimizers; the
# tests load only its optim/ modules) goes in without its dependencies: they pull
# torchvision, which does not import beside torch 2.13.
$(STAMP): $(RUNTIME)
	$(PY) -m pip install -q -e ".[test]"
	$(PY) -m pip install -q --no-deps timm==1.0.31
	rm -f $(VENV)/.test-*
	touch $(STAMP)

demo: $(RUNTIME)
	$(PY) -m descentlab demo

lint: $(STAMP)
	$(PY) -m ruff check .

# The optimizer tables of README.md and docs/optimizers.md, from the registry.
docs: $(RUNTIME)
	$(PY) -m descentlab.optim.docs

# PostgreSQL for the many-workers tests of `compare` (they start their own server on
# 127.0.0.1): Debian's package, installed when missing.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || \
	  (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql)

# The browser tests drive Debian's Chromium through Playwright (its own browser download
# cannot work offline): install the system package when it is missing.
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium

# Two pytest workers on two cores: one BLAS/numba thread each, or they oversubscribe the CPU.
test: lint postgres $(CHROMIUM)
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 $(PY) -m pytest -n 2 descentlab tests

bench: $(STAMP)
	$(PY) benchmarks/step_throughput.py
	$(PY) benchmarks/mnist_race.py
	$(PY) benchmarks/sweep_vs_loop.py
	$(PY) benchmarks/import_time.py
	$(PY) benchmarks/compare_speed.py
	$(PY) benchmarks/playground_drag.py

# The README gallery: every figure under docs/figures/ (each folder with its manifest.json).
FIG := $(PY) -m descentlab
figures: $(STAMP) $(CHROMIUM)
	$(PY) -m descentlab.playground.screenshot docs/figures/playground.png
	$(FIG) race --problem bowl --start=-7,2 --steps 30 --optimizers sgd:lr=0.95 momentum:lr=0.1 \
	  adagrad:lr=1.5 adam:lr=0.3 rmsprop:lr=0.3 nesterov:lr=0.3 --animate gif --out docs/figures/e3_race
	$(FIG) sweep --problem quartic --start=-8 --steps 99 --optimizer adam:eps=1e-10 --lr 0.1:12:0.1 \
	  --grid beta2=0.999,0.5 --json docs/figures/e1_sweep/sweep.json --out docs/figures/e1_sweep
	$(FIG) race --problem quartic --start=-8 --steps 99 --optimizers adam:lr=0.5,eps=1e-10 \
	  adam:lr=1.3,eps=1e-10 adam:lr=8.3,eps=1e-10 --animate gif --out docs/figures/e1_race
	$(FIG) race --problem bowl --start=-7,2 --steps 30 --look classic --optimizers sgd:lr=0.95 \
	  momentum:lr=0.1,lr_in_buffer=true adagrad:lr=1.5,eps=1e-7 adam:lr=0.3,eps=1e-7,eps_mode=uncorrected \
	  rmsprop:lr=0.3,eps=1e-7 nesterov:lr=0.3,lr_in_buffer=true,nesterov_form=textbook \
	  --out docs/figures/e3_textbook
	$(FIG) race --problem bowl --start=-7,2 --steps 30 --optimizers adagrad:lr=1.5 adagrad_full:lr=1.5 \
	  --out docs/figures/adagrad_full_bowl
	$(FIG) race --problem rotated_bowl --steps 30 --optimizers adagrad:lr=1.5 adagrad_full:lr=1.5 \
	  --out docs/figures/adagrad_full_rotated
	$(FIG) ewma --beta 0.9 --out docs/figures/e2_ewma
	$(FIG) optimizers --tree --format png pdf --out docs/figures/lineage
	$(FIG) race --problem saddle --steps 60 --optimizers sgd:lr=0.05 momentum:lr=0.05 \
	  rmsprop:lr=0.05 adam:lr=0.05 --animate gif --out docs/figures/e9_saddle
	$(FIG) sweep --problem two_basin --optimizer momentum --lr 0.05,0.1,0.2 --starts 60 --out docs/figures/starts
	$(FIG) schedules --out docs/figures/e7_schedules
	DESCENTLAB_DATA=$${DESCENTLAB_DATA:-../shared/data/mnist} $(FIG) mnist --seed 0 --out docs/figures/e5_mnist
	DESCENTLAB_DATA=$${DESCENTLAB_DATA:-../shared/data/mnist} $(FIG) init --seed 0 --out docs/figures/e6_init
	$(FIG) batches --seed 0 --out docs/figures/e8_batches
	rm -f docs/figures/compare_*/study.db*   # fresh studies (each is resumable otherwise)
	$(FIG) compare --problem bowl --optimizers sgd momentum nesterov adagrad rmsprop adam \
	  --budget 50 --seeds 5 --steps 100 --noise 0.5 --start-spread 1 --out docs/figures/compare_bowl
	$(FIG) compare --problem bowl rosenbrock beale two_basin --optimizers sgd momentum \
	  nesterov adagrad rmsprop adam --budget 30 --seeds 3 --steps 100 --noise 0.1 \
	  --start-spread 0.2 --out docs/figures/compare_surfaces
	DESCENTLAB_DATA=$${DESCENTLAB_DATA:-../shared/data/mnist} $(FIG) compare --problem mnist \
	  --optimizers sgd momentum adam --budget 20 --seeds 3 --iterations 500 --out docs/figures/compare_mnist
	$(PY) benchmarks/sweep_vs_loop.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
