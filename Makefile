# The two commands a newcomer needs (see README):
#   make run   - create .venv, install DCLIP, start the app
#   make test  - create .venv, install DCLIP with its dev tools, run linters, type checks,
#                import contracts and the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.dclip-installed

.PHONY: run test lint install clean

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
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
