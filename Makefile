# Entry points, all safe to run on a fresh machine (times: README, "Quick start"):
#   make book        set up .venv, check, execute every changed chapter, build the site in _book/
#   make test        set up .venv (and a headless browser), run the whole test suite
# Re-running is quick: the venv is rebuilt only when pyproject.toml changes, and a chapter
# executes again only when something it depends on changed (.jupyter_cache/, booktools/cache.py).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# uv from the PATH when there is one (CI: astral-sh/setup-uv), else bootstrapped into .venv.
UV     ?= $(shell command -v uv 2>/dev/null)
UVBIN  := $(if $(UV),$(UV),$(VENV)/bin/uv)
# Bytecode compiled at install time: where PYTHONDONTWRITEBYTECODE=1 is set (CI images,
# containers), nothing is ever cached, and every kernel would compile scipy, scikit-learn and
# pandas again on import (`import sklearn.ensemble`: 6-7 s instead of 2 s).
export UV_COMPILE_BYTECODE := 1
# And what is not installed (the checkout's own packages and tests, and pytest's assertion
# rewriting of its plugins and test modules) is cached the first time it is compiled, instead
# of in every kernel and test process (pytest alone: 3 s per process), however the
# environment sets this.
unexport PYTHONDONTWRITEBYTECODE
# Extra arguments for pytest, e.g. `make test PYTEST_ARGS="-k drift"`.
PYTEST_ARGS ?=
# Test processes (pytest-xdist): one per core and one more; `make test TEST_JOBS=0` runs
# serially. Many tests wait (for a server, a kernel, a timeout they test) while using little
# CPU; the extra worker fills those gaps. On 2 cores, fresh clone, same code, in turn: 224 s
# with two workers against 198 s and 199 s with three; an hour later, the machine slower,
# 270 s against 261 s (idle CPU 5.4% and 0.7%).
# `--dist loadscope` keeps each module on one worker (its fixtures start once) and
# tests/conftest.py keeps the modules that share the rendered book together.
TEST_JOBS ?= $(shell $(PYTHON) -c "import os; print((os.cpu_count() or 1) + 1)")

.PHONY: setup quarto book instructor test check execute notebooks benchmarks browser system production lab clean help
.DEFAULT_GOAL := help

help:
	@echo "make setup       create .venv with the dependencies (every target runs it when needed)"
	@echo "make book        set up, check, render with Quarto (changed chapters execute), verify _book/"
	@echo "make instructor  the same for the instructor edition (with solutions) in _book-instructor/"
	@echo "make test        set up and run the whole test suite"
	@echo "make check       static book checks only (files, labels, cross-references, cell options)"
	@echo "make execute     execute every changed chapter (no site); results go to .jupyter_cache/"
	@echo "make notebooks   regenerate exercises/ and solutions/ from exercises/source/"
	@echo "make benchmarks  run every script in benchmarks/"
	@echo "make lab         install JupyterLab into .venv and open the exercises"
	@echo "make clean       remove every output: _book*, _freeze, caches and .venv"

setup: $(STAMP) quarto

# Real Quarto renders the book (booktools/quarto.py). Found on the PATH, in .venv or in
# ~/.cache/quarto-$(QUARTO_VERSION); else installed: from this workplace's kit when
# $(QUARTO_KIT) exists (about 25 s, no GitHub needed), else PyPI's quarto-cli into .venv
# (it downloads the official release, where the network allows). Where neither works,
# `make book` builds the Quarto-free preview and says so loudly.
QUARTO_VERSION := 1.10.18
# the kit beside the checkout, or beside a folder above it (a clone nested under the workplace)
QUARTO_KIT ?= $(firstword $(wildcard ../shared/quarto/install.sh ../../shared/quarto/install.sh \
                ../../../shared/quarto/install.sh) ../shared/quarto/install.sh)
quarto: $(STAMP)
	@if $(PY) -c "import sys; from booktools.quarto import find_quarto; sys.exit(find_quarto() is None)"; then :; \
	elif [ -f "$(QUARTO_KIT)" ]; then \
	    echo "==> installing Quarto $(QUARTO_VERSION) from $(QUARTO_KIT)"; bash "$(QUARTO_KIT)" >/dev/null \
	    || echo "note: the Quarto kit failed; \`make book\` will build the preview instead"; \
	else \
	    echo "==> installing Quarto from PyPI (quarto-cli, which downloads the official release)"; \
	    timeout 600 $(UVBIN) pip install --python $(PY) --quiet 'quarto-cli>=1.10,<1.11' \
	    || echo "note: no Quarto could be installed; \`make book\` will build the preview instead"; \
	fi

# (Re)installs when pyproject.toml or this file changes; uv is several times faster than pip.
$(STAMP): pyproject.toml reference/pyproject.toml Makefile
	@echo "==> setting up $(VENV) with the book's dependencies (first time: about a minute)"
ifneq ($(UV),)
	@test -x $(PY) || { $(UV) venv --quiet --python $(PYTHON) $(VENV) && touch $(VENV)/.bytecode; }
else
	@# uv goes into the venv with the interpreter's own pip (pip 22.3 and newer install into
	@# another environment with --python): 4 s, where `venv` with pip and upgrading it take 10.
	@# Without a pip outside, the venv gets its own first (ensurepip).
	@test -x $(PY) || { $(PYTHON) -m venv --without-pip $(VENV) && touch $(VENV)/.bytecode; }
	@test -x $(VENV)/bin/uv || $(PYTHON) -m pip --python $(PY) install --quiet uv 2>/dev/null \
	    || { $(PY) -m ensurepip --upgrade >/dev/null && $(PY) -m pip install --quiet uv; }
endif
	$(UVBIN) pip install --python $(PY) --quiet --compile-bytecode -e ./reference -e '.[dev]'
	@# uv compiles only what it installs: a venv made before without bytecode (no marker)
	@# gets one compileall pass (about 20 s; skipped for a venv this recipe created).
	@test -f $(VENV)/.bytecode || $(PY) -m compileall -q -j 0 "$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" >/dev/null 2>&1 || true
	@touch $(VENV)/.bytecode
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (book)" >/dev/null
	@touch $(STAMP)

book: $(STAMP) quarto system
	$(PY) -m booktools build

instructor: $(STAMP) quarto system
	$(PY) -m booktools build --profile instructor

execute: $(STAMP)
	$(PY) -m booktools execute

# The browser tests (tests/test_book.py, tests/test_booktools_browser.py) drive a real headless
# Chromium: installed from Debian's packages when no Chromium or Chrome is on the PATH and apt works.
browser:
	@if command -v chromium >/dev/null || command -v chromium-browser >/dev/null \
	    || command -v google-chrome >/dev/null; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    echo "==> installing chromium (headless browser for the site tests)"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >/dev/null \
	    || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive \
	         apt-get install -y -q --no-install-recommends chromium >/dev/null; }; \
	else echo "note: no Chromium found and cannot apt-get it; the browser tests will be skipped"; fi

# Chapter 09 starts a real Prometheus server (Debian's `prometheus` package, which also
# brings promtool for the alert-rule tests): installed when missing, root and apt allow.
system:
	@if command -v prometheus >/dev/null && command -v promtool >/dev/null; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    echo "==> installing prometheus (chapter 09 scrapes the book's server with it)"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends prometheus >/dev/null \
	    || { apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null && apt-get -o DPkg::Lock::Timeout=600 \
	         install -y -q --no-install-recommends prometheus >/dev/null; }; \
	else echo "note: prometheus is missing and cannot be apt-get installed; chapter 09 will stop and say so"; fi

# One session on every core: package, book, tooling and notebook tests (tests/test_notebooks.py
# runs each student notebook top to bottom), and the solution notebooks under nbval against
# their stored outputs (testpaths include solutions/; --nbval collects them). Each chapter and
# notebook executes once: the chapters under Quarto, when the book tests render both editions.
test: $(STAMP) quarto browser system
	$(PY) -m pytest -n $(TEST_JOBS) --dist loadscope \
	    --nbval --nbval-sanitize-with solutions/sanitize.cfg $(PYTEST_ARGS)

# The production checks (Dockerfile lint, manifests, Prometheus rules, the container built
# and run with podman): installs podman, debootstrap and the validators when missing.
production: $(STAMP)
	bash deploy/ci-check.sh

check: $(STAMP)
	$(PY) -m booktools check

notebooks: $(STAMP)
	$(PY) -m booktools notebooks

benchmarks: $(STAMP)
	@for f in benchmarks/bench_*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

lab: $(STAMP)
	$(UVBIN) pip install --python $(PY) --quiet --compile-bytecode -e ./reference -e '.[student]'
	$(VENV)/bin/jupyter lab exercises/

clean:
	rm -rf _book _book-instructor _freeze .quarto .freeze-keys.json .quarto-render*.log .quarto-build.lock .jupyter_cache .pytest_cache build deploy/build deploy/validate/node_modules $(VENV)
	find . -name __pycache__ -prune -exec rm -rf {} +
	find . -name '*.egg-info' -prune -exec rm -rf {} +
