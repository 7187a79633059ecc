# One entry point for everything a developer or CI does. `make help` lists the targets.
PYTHON ?= python3
# Debian packages need root: use sudo when not root and sudo is there.
SUDO := $(shell [ "$$(id -u)" = 0 ] || command -v sudo >/dev/null && [ "$$(id -u)" != 0 ] && echo sudo)

.PHONY: help dev demo test lint crds manifests cluster-up cluster-down tools peers kueue-compare mutants

help:  ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

dev:  ## install pricewise and its development tools (one command on a fresh machine)
	command -v promtool >/dev/null || ($(SUDO) apt-get update -q && \
		$(SUDO) apt-get install -y -q --no-install-recommends prometheus)
	$(PYTHON) -m pip install -e '.[dev]'

demo: tools  ## the main job: local cluster, sample prices, budgets and jobs, the operator placing them
	$(PYTHON) hack/demo.py

lint:  ## ruff, mypy and the import contracts
	ruff check --no-cache .
	ruff format --no-cache --check .
	mypy
	lint-imports

test: lint tools  ## everything CI runs: lint, then the whole suite (starts the local cluster)
	$(PYTHON) -m pytest

mutants:  ## mutation testing of the pure core with mutmut (minutes; not part of `make test`)
	$(PYTHON) hack/mutants.py

crds:  ## regenerate crds/ from the pydantic models, and the chart's and deploy/'s copies
	$(PYTHON) -m pricewise.api.crdgen crds
	$(PYTHON) deploy/render.py

manifests:  ## re-render deploy/ from the Helm chart
	$(PYTHON) deploy/render.py

tools:  ## build (or reuse) kube-apiserver, etcd, kwok, kubectl, helm into ~/.cache/pricewise
	$(PYTHON) hack/cluster.py build

peers:  ## build (or reuse) Kueue v0.17.0, its manager and scheduler perf harness (minutes; not for `make test`)
	$(PYTHON) hack/cluster.py build kueue

kueue-compare: tools peers  ## the real Kueue beside pricewise: cost on a trace window, then Kueue's own benchmark (~13 min)
	$(PYTHON) benchmarks/kueue_cost.py --plot benchmarks/figures/kueue/cost_and_misses.png
	$(PYTHON) benchmarks/kueue_side_by_side.py --cohorts 1 --share 0.2

cluster-up: tools  ## start the local control plane with simulated node pools
	$(PYTHON) hack/cluster.py up

cluster-down:  ## stop the local control plane, leaving no process behind
	$(PYTHON) hack/cluster.py down
