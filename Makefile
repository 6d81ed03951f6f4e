# kubectl-scipian: the stable entry points are demo, test, bench, dist
# (see README.md). Everything installs into .venv/ and caches; every target
# works on a fresh machine.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed

.PHONY: all install venv idp harness lint test unit e2e demo bench dist image stack-up stack-down clean audit soak recordings

all: install

install: $(STAMP) idp harness

# System packages (only what a fresh machine of our kind may lack), the
# virtualenv with both distributions (the plugin, ., and the backend, ./backend)
# and the test tools, pinned by constraints.txt.
$(STAMP): setup.py pyproject.toml backend/pyproject.toml constraints.txt scripts/bootstrap
	scripts/bootstrap
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --disable-pip-version-check --upgrade "pip>=24"
	$(PIP) install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]' -e ./backend
	touch $@

venv: $(STAMP)

# npm ci for the OIDC provider, skipped while node_modules matches the lock.
idp: $(STAMP)
	$(PY) -c 'from tests.stack.idp_process import ensure_installed; ensure_installed()'

# The Go harness (etcd + kube-apiserver + controller-manager + scheduler +
# KWOK), Dex and the real node's kubelet, cached outside the work tree by a hash of
# their sources.
harness: $(STAMP)
	$(PY) -m tests.stack build

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy kubectl_scipian backend/scipian_backend tests bench tools
	@out=$$(gofmt -l tests/cluster tests/tools); if [ -n "$$out" ]; then echo "gofmt: $$out"; exit 1; fi

unit: $(STAMP)
	$(PY) -m pytest tests/unit -q

# The parity suites' apiserver answers and kubectl's output, recorded from the stack into
# tests/data/read/ for the fast replay tests (tests/read_recordings.py).
recordings: install
	$(PY) -m tests.read_recordings record

# The suite runs in two pytest-xdist workers on the one stack (a test file stays on one
# worker; the files that change what everyone sees of the stack run one after the other:
# tests/conftest.py). TEST_WORKERS=0 runs it in one process (README "Tests").
TEST_WORKERS ?= 2
XDIST = $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadfile)

test: install lint audit image
	$(PY) -m pytest -q $(XDIST)

# pip-audit of the exact pins in constraints.txt: fails on a known vulnerability, skips
# with a clear message when the vulnerability service is unreachable (offline-safe).
audit: $(STAMP)
	$(PY) scripts/audit

# Not part of `make test`: 32 clients for 60 s against two backend replicas, one killed
# and restarted midway; zero failed requests after retries, p99 in bench/results/soak.json.
soak: install
	$(PY) -m bench.soak

demo: install
	scripts/demo

stack-up: install
	scripts/stack up

stack-down:
	scripts/stack down

bench: install
	$(PY) -m bench.run

# The backend's container image (backend/Containerfile) from a debootstrap base, built by
# buildah into a store under the stack cache; cached by a hash of its inputs (tools/image.py).
image: $(STAMP)
	$(PY) -m tools.image

# Release archives (a zipapp + kubectl_complete-scipian per os/arch) and the krew
# manifest with their sha256 into dist/; also rewrites ./plugin.yaml (tools/dist.py).
dist: $(STAMP)
	$(PY) -m tools.dist

clean:
	-scripts/stack down
	rm -rf $(VENV) .stack dist build *.egg-info tests/idp/node_modules
