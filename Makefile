# The two commands a newcomer needs (see README):
#   make run   - create .venv, install DCLIP, start the app
#   make test  - create .venv, install DCLIP with its dev tools, run linters, type checks,
#                import contracts and the whole test suite (what CI runs)
#   make test-fast - the same without tests marked slow (the edit-test loop, ~3 min)
#   make package   - by hand, not in CI: the wheel + sdist and the PyInstaller builds in dist/
#                    (slim and full, ~6-10 min on 2 cores); then packaging/smoke.sh tests them.
#                    `make package VARIANTS="wheel slim"` builds fewer. See packaging/README.md.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.dclip-installed

.PHONY: run test test-fast lint install package clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e ".[dev,heif]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/dclip-app

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest --durations=10

test-fast: lint
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -m "not slow"

PACKAGE_STAMP := $(VENV)/.dclip-package-tools

$(PACKAGE_STAMP): $(STAMP)
	$(BIN)/python -m pip install -e ".[dev,heif,package]"
	touch $(PACKAGE_STAMP)

package: $(PACKAGE_STAMP)
	BUILD_PYTHON=$(BIN)/python PYTHON=$(PYTHON) packaging/build.sh $(VARIANTS)

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
