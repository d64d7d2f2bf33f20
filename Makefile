# chartgen: thin wrappers. `make demo` and `make test` run `make setup` themselves.
SHELL := /bin/bash
include versions.env

VENV     ?= .venv
PY       := $(VENV)/bin/python
CHARTGEN := $(VENV)/bin/chartgen
export CHARTGEN_CACHE ?= $(HOME)/.cache/chartgen
export PATH := $(CHARTGEN_CACHE)/bin/helm-$(HELM_VERSION):$(PATH)
PRESETS  := $(shell ls presets | grep -v '^_')
# generate's arguments a preset needs for a demo (preset.yaml: example; a component's image)
EXAMPLE  = $(PY) -c 'import sys; from chartgen.presets import load; print(" ".join(f"--{k} {v}" for k, v in load(sys.argv[1]).example.items()))'
# the charts charts/ publishes, as name:preset:flavor (preset.yaml: published; one per flavor)
PUBLISHED = $(shell $(PY) -c 'from chartgen.presets import published_charts; print(" ".join(":".join((c.name, c.preset, c.flavor or "")) for c in published_charts()))')
PYTEST   ?= $(PY) -m pytest
SHELF    := $(PY) -m tests.infra.shelf
KIND     := $(PY) -m tests.infra.kind

.PHONY: setup host-deps helm js-deps demo charts test test-tools e2e bench cluster-build cluster-up cluster-down clean

## setup: virtualenv + Python deps + the real helm CLI (built from its Go module). Idempotent.
setup: $(VENV)/.installed helm

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@

helm: $(VENV)/.installed
	@$(SHELF) helm >/dev/null

## host-deps: every Debian package a test or build step uses, one installer (tests/infra/host.py).
host-deps:
	@python3 -m tests.infra.host

## js-deps: the real mongosh and bson the mongodb preset's JavaScript is tested with (tests/js:
## package.json pins them, package-lock.json the tree; npm's cache in $(CHARTGEN_CACHE)/npm).
## Installed again only when one of those two files changed.
js-deps: tests/js/node_modules/.installed

tests/js/node_modules/.installed: tests/js/package.json tests/js/package-lock.json
	cd tests/js && npm ci --cache "$(CHARTGEN_CACHE)/npm" --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

## demo: the main job on the embedded presets; no cluster needed.
demo: setup
	@$(CHARTGEN) presets
	@rm -rf out/demo
	@for p in $(PRESETS); do \
	  $(CHARTGEN) generate --preset $$p --name $$p $$($(EXAMPLE) $$p) --output out/demo/$$p && \
	  $(CHARTGEN) lint out/demo/$$p && \
	  $(CHARTGEN) topology out/demo/$$p --namespace demo || exit 1; \
	done

## charts: regenerate charts/ (the repository's published charts) from the presets, one chart per
## flavor (mysql and mariadb, redis and valkey), and keep it a Helm repository: each chart's .tgz
## (a version is packaged once, never rewritten) + index.yaml, whose relative URLs helm resolves
## against wherever charts/ is served.
charts: setup
	@for c in $(PUBLISHED); do IFS=: read -r n p f <<< "$$c"; \
	  $(CHARTGEN) generate --preset $$p $${f:+--flavor $$f} --name $$n --output charts/$$n --force || exit 1; done
	@$(CHARTGEN) publish --repo-dir charts

## test-tools: what the tests without a cluster run, built before they start (cached in
## $(CHARTGEN_CACHE)): etcd, kube-apiserver and kubectl from their Go modules, checkov, mongosh and
## bson (npm), and the test images' roots (Debian trixie, each pruned to its default image's tools).
test-tools: setup host-deps js-deps
	@$(SHELF) etcd kube-apiserver kubectl checkov >/dev/null
	@$(PY) -m tests.infra.images --roots >/dev/null

## test: every test that needs no Kubernetes cluster (unit, chart, member-level runtime), on two
## pytest-xdist workers, a module per worker (its fixtures' servers started once): the member
## tests mostly wait on servers while the chart tests compute.
TEST_ARGS ?= -n 2 --dist loadfile -q
test: test-tools
	$(PYTEST) tests --ignore=tests/e2e -m "not e2e" $(TEST_ARGS)

## e2e: the end-to-end suite on a kind cluster built on this machine (tests/infra/kind): one control
## plane + 3 workers in two zones. The drivers' scenarios (every driver's release at once, a round
## per scenario) beside the other modules (pytest-xdist, one group per module), then the ones that
## drain or stop nodes or cut the API alone; the cluster is deleted at the end.
E2E_ARGS ?= -v -p no:cacheprovider --maxfail=4
e2e: setup host-deps cluster-build
	$(KIND) create >/dev/null
	$(KIND) load $$($(PY) -m tests.drivers) >/dev/null
	KINDKUBE_KEEP=1 $(PYTEST) tests/e2e tests/publish/test_release.py --cluster=kind -m "e2e and not disruptive" \
	  -n 2 --dist loadgroup $(E2E_ARGS); side=$$?; \
	KINDKUBE_KEEP=1 $(PYTEST) tests/e2e --cluster=kind -m "e2e and disruptive" $(E2E_ARGS); alone=$$?; \
	$(KIND) delete; [ $$side -eq 0 ] && [ $$alone -eq 0 ]

## cluster-build: the project's dockerd and everything kind needs, from Go modules and Debian
## packages (cached in $(CHARTGEN_CACHE); rebuilt only when a pin changes).
cluster-build: setup host-deps
	$(KIND) build

## bench: speed goals (CLI start, generate, lint), then the failover bench: every driver under
## every fault of the catalogue on the kind cluster, 3 runs each (about two hours; not part of test
## or e2e). BENCH_ARGS="--runs 1 --drivers etcd" narrows it.
bench: setup host-deps cluster-build
	$(PY) -m chartgen.bench
	$(KIND) create >/dev/null
	$(PY) -m tests.bench --cluster kind $(BENCH_ARGS)

## cluster-up / cluster-down: the kind cluster by hand (kubeconfig: $(CHARTGEN_CACHE)/kind/);
## cluster-down deletes it and stops the project's dockerd (bridges, mounts and /run files gone).
cluster-up: cluster-build
	$(KIND) create

cluster-down:
	$(KIND) down

clean:
	rm -rf out .pytest_cache
