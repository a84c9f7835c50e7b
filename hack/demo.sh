#!/usr/bin/env bash
# hack/demo.sh — `make demo`: the system on kind (after `make up`), as its users meet it.
#
#   1. an HTTP client uploads a real image through the REST shim (curl), polls until the
#      status is `success`, downloads the thumbnail;
#   2. a kubectl user puts an original into the bucket, applies examples/thumbnail.yaml,
#      waits for it, and lists `kubectl get thumbnails`.
#
# Env (defaults): KUBE_CONTEXT (current context)  NAMESPACE=thumbnails
#   RELEASE=thumbnail-operator  SHIM_URL=http://localhost:8080 (kind-config.yaml's mapping)
#   SHIM_TOKEN (default: the first token of the Secret <release>-api-shim-tokens)
#   DEMO_IMAGE (a JPEG/PNG/WebP file; default: ../shared/corpus's kleiber, else a small
#   public test image downloaded once)  DEMO_OUT=.dev/demo  DEMO_TIMEOUT=180 (seconds)
#   DEMO_S3_ENDPOINT DEMO_BUCKET DEMO_S3_ACCESS_KEY DEMO_S3_SECRET_KEY DEMO_S3_REGION:
#   the object store for step 2 (default: read from the release, port-forward to SeaweedFS)
# Needs: kubectl, curl >= 7.75 (--aws-sigv4).
set -euo pipefail
cd "$(dirname "$0")/.."

NAMESPACE=${NAMESPACE:-thumbnails}
RELEASE=${RELEASE:-thumbnail-operator}
SHIM_URL=${SHIM_URL:-http://localhost:8080}
DEMO_OUT=${DEMO_OUT:-.dev/demo}
DEMO_TIMEOUT=${DEMO_TIMEOUT:-180}
FALLBACK_IMAGE_URL=https://raw.githubusercontent.com/python-pillow/Pillow/main/Tests/images/hopper.jpg

say() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }
k() { kubectl ${KUBE_CONTEXT:+--context "$KUBE_CONTEXT"} -n "$NAMESPACE" "$@"; }
show() { local line="$*"; [ -z "${SHIM_TOKEN:-}" ] || line=${line//"$SHIM_TOKEN"/\$TOKEN}; printf '$ %s\n' "$line" >&2; "$@"; }
# The first "<name>": "<string>" in a JSON document (the top-level field in the shim's answers).
json_field() { grep -o "\"$1\" *: *\"[^\"]*\"" | head -n1 | sed 's/.*: *"\(.*\)"$/\1/'; }

command -v kubectl >/dev/null || die "kubectl is missing"
command -v curl >/dev/null || die "curl is missing"
curl --help all 2>/dev/null | grep -q -- --aws-sigv4 || die "curl is too old for --aws-sigv4 (needs 7.75 or newer)"
mkdir -p "$DEMO_OUT"

pf_pid=
cleanup() { [ -z "$pf_pid" ] || kill "$pf_pid" 2>/dev/null || true; }
trap cleanup EXIT INT TERM

# --- the image -----------------------------------------------------------------------
image=${DEMO_IMAGE:-}
if [ -z "$image" ]; then
	for candidate in ../shared/corpus/j09_storm_1920x1280.jpg ../shared/corpus/j01_kleiber_6028x3391.jpg; do
		[ -f "$candidate" ] && { image=$candidate; break; }
	done
fi
if [ -z "$image" ]; then
	image=$DEMO_OUT/hopper.jpg
	[ -s "$image" ] || { say "downloading a test image"; show curl -fsSL -o "$image" "$FALLBACK_IMAGE_URL"; }
fi
[ -s "$image" ] || die "no image at $image (set DEMO_IMAGE)"

# --- 1. the REST shim ----------------------------------------------------------------
# The chart requires a bearer token (issue 12): read the generated one as NOTES.txt says
# (SHIM_TOKEN overrides; none when the release runs with shim.requireToken=false).
if [ -z "${SHIM_TOKEN:-}" ]; then
	SHIM_TOKEN=$(k get secret "$RELEASE-api-shim-tokens" -o jsonpath='{.data.tokens}' 2>/dev/null | base64 -d | grep -v '^#' | head -1 || true)
fi
auth=()
[ -z "$SHIM_TOKEN" ] || auth=(-H "Authorization: Bearer $SHIM_TOKEN")

say "waiting for the REST shim at $SHIM_URL"
deadline=$((SECONDS + 60))
until [ "$(curl -s -o /dev/null -w '%{http_code}' "$SHIM_URL/readyz")" = 200 ]; do
	(( SECONDS < deadline )) || die "the shim is not ready at $SHIM_URL/readyz: did 'make up' finish? (kubectl -n $NAMESPACE get pods)"
	sleep 2
done

say "uploading $image through the shim"
response=$(show curl -sS --fail-with-body "${auth[@]}" -F "file=@$image" -F width=320 -F format=webp -F quality=80 \
	"$SHIM_URL/api/v1/thumbnails") || die "upload failed: $response"
printf '%s\n' "$response"
id=$(printf '%s' "$response" | json_field id)
[ -n "$id" ] || die "no id in the upload response"

say "polling $SHIM_URL/api/v1/thumbnails/$id until success"
deadline=$((SECONDS + DEMO_TIMEOUT))
while :; do
	body=$(curl -sS --fail-with-body "${auth[@]}" "$SHIM_URL/api/v1/thumbnails/$id") || die "status request failed: $body"
	status=$(printf '%s' "$body" | json_field status)
	printf '  status: %s\n' "$status" >&2
	case $status in
		success) break ;;
		error) printf '%s\n' "$body"; die "the thumbnail failed (kubectl -n $NAMESPACE describe thumbnail $id)" ;;
	esac
	(( SECONDS < deadline )) || { printf '%s\n' "$body"; die "no success after ${DEMO_TIMEOUT}s (kubectl -n $NAMESPACE describe thumbnail $id)"; }
	sleep 2
done
printf '%s\n' "$body"

out=$DEMO_OUT/$id.webp
say "downloading the thumbnail"
show curl -sS --fail "${auth[@]}" -o "$out" "$SHIM_URL/api/v1/thumbnails/$id/download"
[ -s "$out" ] || die "empty download"
[ "$(head -c 4 "$out")" = RIFF ] || die "$out is not a WebP file"
printf 'saved %s (%s bytes)\n' "$out" "$(wc -c < "$out" | tr -d ' ')"

# --- 2. kubectl ----------------------------------------------------------------------
say "putting the original of examples/thumbnail.yaml into the bucket"
key=$(sed -n 's/^ *key: *//p' examples/thumbnail.yaml | head -n1)
[ -n "$key" ] || die "examples/thumbnail.yaml names no source key"
operator_env() {
	k get deploy -l "app.kubernetes.io/instance=$RELEASE,app.kubernetes.io/component=operator" \
		-o jsonpath="{.items[0].spec.template.spec.containers[0].env[?(@.name==\"$1\")]$2}"
}
# The store, bucket and credentials come from the release (its operator Deployment, the
# Secret it names, a port-forward to the bundled SeaweedFS); DEMO_S3_ENDPOINT,
# DEMO_BUCKET, DEMO_S3_ACCESS_KEY and DEMO_S3_SECRET_KEY override them (e.g. `make dev`).
bucket=${DEMO_BUCKET:-$(operator_env S3_BUCKET .value || true)}
[ -n "$bucket" ] || die "cannot read the operator's bucket (release $RELEASE in namespace $NAMESPACE): did 'make up' finish?"
if [ -n "${DEMO_S3_ACCESS_KEY:-}" ]; then
	access_key=$DEMO_S3_ACCESS_KEY secret_key=${DEMO_S3_SECRET_KEY:?set DEMO_S3_SECRET_KEY too}
else
	secret=$(operator_env AWS_ACCESS_KEY_ID .valueFrom.secretKeyRef.name || true)
	[ -n "$secret" ] || die "cannot find the operator's S3 credentials Secret"
	access_key=$(k get secret "$secret" -o jsonpath='{.data.AWS_ACCESS_KEY_ID}' | base64 -d)
	secret_key=$(k get secret "$secret" -o jsonpath='{.data.AWS_SECRET_ACCESS_KEY}' | base64 -d)
fi
if [ -n "${DEMO_S3_ENDPOINT:-}" ]; then
	endpoint=$DEMO_S3_ENDPOINT
else
	store=$(k get svc -l "app.kubernetes.io/instance=$RELEASE,app.kubernetes.io/component=seaweedfs" -o jsonpath='{.items[0].metadata.name}' 2>/dev/null || true)
	[ -n "$store" ] || die "no bundled SeaweedFS in release $RELEASE: set DEMO_S3_ENDPOINT to an S3 endpoint reachable from here"
	port=${DEMO_S3_LOCAL_PORT:-18333}
	kubectl ${KUBE_CONTEXT:+--context "$KUBE_CONTEXT"} -n "$NAMESPACE" port-forward "svc/$store" "$port:8333" >"$DEMO_OUT/port-forward.log" 2>&1 &
	pf_pid=$!
	endpoint=http://127.0.0.1:$port
	deadline=$((SECONDS + 30))
	until curl -s -o /dev/null "$endpoint/healthz"; do
		(( SECONDS < deadline )) || { cat "$DEMO_OUT/port-forward.log" >&2; die "port-forward to svc/$store failed"; }
		sleep 0.5
	done
fi
region=${DEMO_S3_REGION:-$(operator_env S3_REGION .value 2>/dev/null || true)}; region=${region:-us-east-1}
code=$(curl -sS -o "$DEMO_OUT/put.log" -w '%{http_code}' -T "$image" -H "Content-Type: application/octet-stream" \
	--aws-sigv4 "aws:amz:$region:s3" --user "$access_key:$secret_key" "$endpoint/$bucket/$key")
[ "$code" = 200 ] || { cat "$DEMO_OUT/put.log" >&2; die "PUT s3://$bucket/$key answered $code"; }
printf 'put s3://%s/%s\n' "$bucket" "$key"

name=$(sed -n 's/^  name: *//p' examples/thumbnail.yaml | head -n1)
say "kubectl apply -f examples/thumbnail.yaml"
show k apply -f examples/thumbnail.yaml
show k wait --for=jsonpath='{.status.phase}'=Succeeded "thumbnail/$name" --timeout="${DEMO_TIMEOUT}s" \
	|| { k describe thumbnail "$name" >&2; die "thumbnail/$name did not succeed"; }

say "kubectl get thumbnails"
show k get thumbnails
say "kubectl describe thumbnail $name"
show k describe thumbnail "$name"
say "done: the uploaded image's thumbnail is $out; the REST API's page is $SHIM_URL/swagger-ui"
