# Two entry points, both safe to run on a fresh machine:
#   make book   set up .venv, check and execute every chapter, write the site to _book/
#   make test   set up .venv, run the whole test suite (what .ci/run calls)
# Re-running is quick: the venv is rebuilt only when pyproject.toml changes.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Extra arguments for pytest, e.g. `make test PYTEST_ARGS="-k drift"`.
PYTEST_ARGS ?=

.PHONY: book test check execute preview notebooks benchmarks lab clean help
.DEFAULT_GOAL := help

help:
	@echo "make book        set up, check, execute every chapter and build the site in _book/"
	@echo "make test        set up and run the whole test suite"
	@echo "make check       static book checks only (files, labels, cross-references, cell options)"
	@echo "make notebooks   regenerate exercises/ and solutions/ from exercises/source/"
	@echo "make benchmarks  run every script in benchmarks/"
	@echo "make lab         install JupyterLab into .venv and open the exercises"
	@echo "make clean       remove _book/, caches and .venv"

# uv installs the dependency tree several times faster than pip; pip only bootstraps it.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip uv
	$(VENV)/bin/uv pip install --python $(PY) --quiet -e '.[dev]'
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (book)" >/dev/null
	@touch $(STAMP)

book: $(STAMP)
	$(PY) -m booktools build

# Three runs, because nbval's strict and lax modes cannot be mixed in one session:
# package + book + contract tests; solutions against their stored outputs; exercises with
# their stubs raising where they are tagged to.
test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)
	$(PY) -m pytest --nbval solutions/ --nbval-sanitize-with solutions/sanitize.cfg -p no:cacheprovider
	$(PY) -m pytest --nbval-lax exercises/ -p no:cacheprovider

check: $(STAMP)
	$(PY) -m booktools check

notebooks: $(STAMP)
	$(PY) -m booktools notebooks

benchmarks: $(STAMP)
	@for f in benchmarks/bench_*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

lab: $(STAMP)
	$(VENV)/bin/uv pip install --python $(PY) --quiet -e '.[student]'
	$(VENV)/bin/jupyter lab exercises/

clean:
	rm -rf _book _freeze .pytest_cache $(VENV)
	find . -name __pycache__ -prune -exec rm -rf {} +
