# Two set-up commands on a fresh machine: `make demo` and `make test`.
# Each creates .venv/ in the repo when missing and installs what it needs.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test lint bench figures clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -e ".[test]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m descentlab demo

lint: $(STAMP)
	$(PY) -m ruff check .

test: lint
	$(PY) -m pytest -n 2 descentlab tests

bench: $(STAMP)
	$(PY) benchmarks/step_throughput.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
