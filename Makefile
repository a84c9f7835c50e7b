# thumbnail-operator — developer entry points. `make help` lists them.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

CLUSTER ?= thumbnails
KIND_CONFIG ?= kind-config.yaml

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

.PHONY: deps
deps: ## install the system packages and tools the build and the tests need (Debian, root)
	bash hack/install-deps.sh

.PHONY: crds
crds: ## regenerate crds/ from the Rust types
	cargo run -q -p operator --bin crdgen > crds/thumbnails.dev_thumbnails.yaml

.PHONY: crds-check
crds-check: ## fail when crds/ differs from what the code generates
	@cargo run -q -p operator --bin crdgen | diff -u crds/thumbnails.dev_thumbnails.yaml - \
	  || { echo "crds/ is out of date: run 'make crds' and commit the result" >&2; exit 1; }

.PHONY: lint
lint: ## rustfmt check and clippy with warnings as errors
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

.PHONY: test
test: deps ## the whole test suite against real servers started on loopback
	bash hack/test.sh

.PHONY: dev
dev: deps ## run the system on this machine without Docker (real API server on loopback); Ctrl-C stops it
	bash hack/dev.sh

.PHONY: up
up: ## create a kind cluster and install the CRD (needs Docker and kind)
	@command -v docker >/dev/null && docker info >/dev/null 2>&1 || { echo "make up needs a running Docker engine (and kind); without Docker use 'make dev'" >&2; exit 1; }
	@command -v kind >/dev/null || { echo "make up needs kind: https://kind.sigs.k8s.io" >&2; exit 1; }
	kind get clusters | grep -qx '$(CLUSTER)' || kind create cluster --name '$(CLUSTER)' --config '$(KIND_CONFIG)'
	kubectl --context 'kind-$(CLUSTER)' apply --server-side -f crds/
	kubectl --context 'kind-$(CLUSTER)' wait --for condition=Established crd/thumbnails.thumbnails.dev --timeout=60s

.PHONY: down
down: ## delete the kind cluster
	kind delete cluster --name '$(CLUSTER)'
