# `make demo` and `make test` create .venv on first use and reuse it afterwards.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint clean-venv

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade --quiet pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m ganrecon demo --out demo-report --report demo-report

test: $(STAMP)
	$(PY) -m pytest -p no:cacheprovider

lint: $(STAMP)
	$(PY) -m ruff check src tests benchmarks

clean-venv:
	rm -rf $(VENV)
