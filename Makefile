# The command surface: the README, .ci/run and developers all call these targets.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.vecq-installed

.PHONY: demo test lint format bench shape clean constraints

# The virtual environment, (re)made whenever pyproject.toml or the pinned versions change:
# the package and what it needs to run (make demo), or that and the development tools (make
# test, make lint). Each prints how long its install took.
RUNTIME := $(VENV)/.vecq-runtime

$(RUNTIME): pyproject.toml .ci/constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "vecq needs Python >= 3.11 (set PYTHON=...)"; exit 1; }
	@start=$$(date +%s); \
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV); \
	$(BIN)/python -m pip install --quiet --upgrade pip && \
	$(BIN)/python -m pip install --quiet -c .ci/constraints.txt -e . && \
	echo "installed vecq and what it needs to run in $$(( $$(date +%s) - start )) s"
	touch $(RUNTIME)

$(STAMP): $(RUNTIME)
	@start=$$(date +%s); \
	$(BIN)/python -m pip install --quiet -c .ci/constraints.txt -e '.[dev]' && \
	echo "installed the development tools in $$(( $$(date +%s) - start )) s"
	touch $(STAMP)

demo: $(RUNTIME)
	$(BIN)/vecq demo

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python -m bench

# Long modules, long functions, reaching into other modules' privates (counts; -v lists them).
shape:
	$(PYTHON) .ci/shape.py

# Pin what the development environment holds now (after changing dependencies).
constraints: $(STAMP)
	{ sed -n '1,3p' .ci/constraints.txt; $(BIN)/python -m pip freeze --exclude-editable; } > .ci/constraints.new
	mv .ci/constraints.new .ci/constraints.txt

clean:
	rm -rf $(VENV) .vecq .pytest_cache .mypy_cache .ruff_cache *.egg-info
