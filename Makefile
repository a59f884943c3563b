# The two commands of the README's quick start. Both create .venv on first use and
# reinstall only when the package metadata changes.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.segkit-installed

PYTEST_ARGS ?=

.PHONY: demo test lint install bench docs clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): setup.cfg pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) tools/demo.py --workdir runs/demo \
		$(if $(PETS_DIR),--pets-dir "$(PETS_DIR)") \
		$(if $(SAM_PRESET),--sam-preset "$(SAM_PRESET)") \
		$(if $(MODEL),--model "$(MODEL)") \
		$(if $(DATASET),--dataset "$(DATASET)")

LINTED := segdata segmodel tools tests benchmarks

test: $(STAMP)
	$(PY) -m ruff check $(LINTED)
	$(PY) -m pytest tests $(PYTEST_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check $(LINTED)

# The documentation site (MkDocs, offline) in runs/site/; `make test` builds it too (tests/test_docs.py).
docs: $(STAMP)
	$(PY) -m mkdocs build --strict --site-dir runs/site

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf runs .pytest_cache
