# chartgen: thin wrappers. `make demo` and `make test` run `make setup` themselves.
SHELL := /bin/bash
include versions.env

VENV     ?= .venv
PY       := $(VENV)/bin/python
CHARTGEN := $(VENV)/bin/chartgen
export CHARTGEN_CACHE ?= $(HOME)/.cache/chartgen
BIN      := $(CHARTGEN_CACHE)/bin
export PATH := $(BIN)/helm-$(HELM_VERSION):$(BIN)/etcd-$(ETCD_VERSION):$(PATH)
PRESETS  := $(shell ls presets | grep -v '^_')
# generate's arguments a preset needs for a demo (preset.yaml: example; a component's image)
EXAMPLE  = $(PY) -c 'import sys; from chartgen.presets import load; print(" ".join(f"--{k} {v}" for k, v in load(sys.argv[1]).example.items()))'
# the presets charts/ publishes (preset.yaml: published)
PUBLISHED = $(shell $(PY) -c 'from chartgen.presets import published_names; print(" ".join(published_names()))')
PYTEST   ?= $(PY) -m pytest

.PHONY: setup host-deps helm etcd checkov js-deps demo charts test e2e e2e-local bench bench-cluster cluster-build cluster-up cluster-down local-build local-up local-down clean

## setup: virtualenv + Python deps + the real helm CLI (built from its Go module). Idempotent.
setup: $(VENV)/.installed helm

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@

helm:
	@sh tools/build-helm.sh >/dev/null

## host-deps: Debian packages the runtime tests use (iproute2 for network namespaces).
host-deps:
	@sh tools/install-host-deps.sh

## etcd: etcd + etcdctl at ETCD_VERSION from their Go modules (member-level tests).
etcd:
	@sh tools/build-etcd.sh >/dev/null

## checkov: the peer linter the chart tests run, in its own virtualenv (CHECKOV_VERSION).
checkov:
	@sh tools/install-checkov.sh >/dev/null

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

## charts: regenerate charts/ (the repository's published charts) from the presets, and keep it a
## Helm repository: each chart's .tgz (a version is packaged once, never rewritten) + index.yaml,
## whose relative URLs helm resolves against wherever charts/ is served.
charts: setup
	@for p in $(PUBLISHED); do $(CHARTGEN) generate --preset $$p --name $$p --output charts/$$p --force; done
	@$(CHARTGEN) publish --repo-dir charts

## test: every test that needs no Kubernetes cluster (unit, chart, member-level runtime).
test: setup host-deps etcd checkov
	$(PYTEST) tests --ignore=tests/e2e -m "not e2e" -q

## e2e: the end-to-end suite on a kind cluster built on this machine (kindkube/): one control
## plane + 3 workers in two zones. The modules run side by side (pytest-xdist, each in its own
## namespace), then the ones that drain or stop nodes alone; the cluster is deleted at the end.
E2E_ARGS ?= -v -p no:cacheprovider
e2e: setup host-deps etcd cluster-build
	$(PY) -m kindkube create >/dev/null
	$(PY) -m kindkube load $$($(PY) -m tests.e2e.images) >/dev/null
	KINDKUBE_KEEP=1 $(PYTEST) tests/e2e tests/publish/test_release.py --cluster=kind -m "e2e and not disruptive" \
	  -n 3 --dist loadfile $(E2E_ARGS); side=$$?; \
	KINDKUBE_KEEP=1 $(PYTEST) tests/e2e --cluster=kind -m "e2e and disruptive" $(E2E_ARGS); alone=$$?; \
	$(PY) -m kindkube delete; [ $$side -eq 0 ] && [ $$alone -eq 0 ]

## e2e-local: the same suite on localkube's single-node cluster (multi-node scenarios skip there).
e2e-local: setup host-deps etcd local-build
	$(PYTEST) tests/e2e tests/publish/test_release.py --cluster=local -m e2e -v -p no:cacheprovider

## cluster-build: host packages, the project's dockerd, and everything kind needs, built from Go
## modules and Debian packages (cached in $(CHARTGEN_CACHE); rebuilt only when a pin changes).
cluster-build: local-build
	$(PY) -m kindkube setup
	nice -n 10 $(PY) -m kindkube build

## local-build: Kubernetes, kubeadm, CoreDNS, crictl from their Go modules + host packages (cached).
local-build: setup
	$(PY) -m localkube setup
	nice -n 10 $(PY) -m localkube build

## bench: speed goals (CLI start, generate, lint), then the failover bench of every clustered
## preset (bench-cluster).
bench: setup bench-cluster
	$(PY) -m chartgen.bench

## bench-cluster: the failover bench of every clustered preset on localkube's cluster, where
## pods can be cgroup-frozen (tests/bench; about an hour with 3 runs; not part of test or e2e).
## BENCH_ARGS="--runs 1 --presets etcd" narrows it.
bench-cluster: setup host-deps etcd local-build
	$(PY) -m tests.bench --cluster local $(BENCH_ARGS)

## cluster-up / cluster-down: the kind cluster by hand (kubeconfig: $(CHARTGEN_CACHE)/kindkube/);
## cluster-down deletes it and stops the project's dockerd (bridges, mounts and /run files gone).
cluster-up: cluster-build
	$(PY) -m kindkube create

cluster-down:
	$(PY) -m kindkube down

local-up: local-build
	$(PY) -m localkube up

local-down:
	$(PY) -m localkube down

clean:
	rm -rf out .pytest_cache
