# The two commands of the README, and the steps they are made of.
#   make demo   set everything up, start the sandbox, run `inv deploy --account=prod --sandbox`
#   make test   set everything up, start the sandbox, run the full test suite
PYTHON ?= python3
VENV   ?= .venv
INV    := $(VENV)/bin/inv
# In the sandbox, a run without a terminal (CI, scripts) approves prod itself; on a terminal you are asked.
APPROVE := $(shell [ -t 0 ] || echo --yes)

.PHONY: setup sandbox demo test test-fast clean-sandbox

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "error: Python 3.11+ is needed (PYTHON=$(PYTHON))" >&2; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check --no-deps -r requirements.lock
	$(VENV)/bin/pip install -q --disable-pip-version-check --no-deps -e .
	@touch $@

sandbox: setup
	$(INV) sandbox.up

demo: sandbox
	$(INV) deploy --account=prod --sandbox $(APPROVE)
	$(INV) status --account=prod --sandbox

test: sandbox
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/pytest -q

test-fast: setup
	$(INV) test

clean-sandbox: setup
	$(INV) sandbox.down
