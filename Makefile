# The command surface: the README, .ci/run and developers all call these targets.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.vecq-installed

.PHONY: demo test lint format bench shape clean constraints

# (Re)create the virtual environment whenever pyproject.toml or the pinned versions change.
$(STAMP): pyproject.toml .ci/constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "vecq needs Python >= 3.11 (set PYTHON=...)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c .ci/constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
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
