# Set-up and entry points. `make demo` and `make test` work on a fresh Debian machine with Python 3.11.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test bench lint typecheck clean keys-doc

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m controller demo

test: $(STAMP)
	$(PY) -m pytest
	$(VENV)/bin/ruff check controller hal board hil tests

bench: $(STAMP)
	$(PY) -m bench

lint: $(STAMP)
	$(VENV)/bin/ruff check controller hal board hil tests
	$(VENV)/bin/mypy controller hal board hil

keys-doc: $(STAMP)
	$(PY) -m controller keys --markdown

clean:
	rm -rf $(VENV) build *.egg-info
