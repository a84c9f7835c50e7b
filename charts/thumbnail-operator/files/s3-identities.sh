#!/bin/sh
# The bundled object store's identities (SeaweedFS `-s3.config` JSON), printed on stdout:
# one identity per component, each allowed only what it does (docs/SECURITY.md, "Object
# store identities"). The one generator: the chart's SeaweedFS runs it at start (mounted
# from a ConfigMap), hack/s3-server.sh runs it for `make dev` and the test servers, and
# the tests check the identities it makes against the real server.
#
# Every right is an IAM policy (AWS's action and resource names, evaluated by SeaweedFS):
# its legacy actions (Read, Write, ...) cannot grant delete without write, the operator's
# only need. The same statements work as IAM policies on AWS S3 (README, values.yaml).
#
# Env:
#   S3_BUCKET              the uploads and output bucket (originals/ and thumbnails/)
#   RESIZER_READ           comma list of extra sources the resizer may read, "bucket" or
#                          "bucket/prefix" (the administrator's allowed source buckets)
#   {OPERATOR,SHIM,RESIZER}_ACCESS_KEY, ..._SECRET_KEY   the components' keys (required)
#   ADMIN_ACCESS_KEY, ADMIN_SECRET_KEY   optional: an identity with every right, for people
#                          and test fixtures; no component gets it
set -eu

fail() { echo "s3-identities: $*" >&2; exit 1; }

# Keys go into JSON unescaped: allow only what access keys and base64 secrets use.
key() {
	eval "v=\${$1:-}"
	# shellcheck disable=SC2154 # set by eval
	printf '%s' "$v" | grep -qx '[A-Za-z0-9+/=._~-]\{1,128\}' ||
		fail "$1 must be 1-128 characters of A-Z a-z 0-9 + / = . _ ~ -"
	printf '%s' "$v"
}

# Bucket names (and prefixes) as S3 allows them, so they need no escaping either.
bucket_re='[a-z0-9][a-z0-9.-]\{1,61\}[a-z0-9]'
printf '%s' "${S3_BUCKET:-}" | grep -qx "$bucket_re" || fail "S3_BUCKET ${S3_BUCKET:-} is not a bucket name"
B=$S3_BUCKET

arn() { printf '\\"arn:aws:s3:::%s\\"' "$1"; }
# A policy statement: allow actions (comma list) on resources (already quoted ARNs).
allow() { printf '{\\"Effect\\":\\"Allow\\",\\"Action\\":[%s],\\"Resource\\":[%s]}' "$1" "$2"; }
acts() { printf '%s' "$1" | sed 's/[^,][^,]*/\\"s3:&\\"/g'; }
policy() { printf '{"name":"%s","content":"{\\"Version\\":\\"2012-10-17\\",\\"Statement\\":[%s]}"}' "$1" "$2"; }
identity() {
	printf '{"name":"%s","credentials":[{"accessKey":"%s","secretKey":"%s"}],"actions":[],"policyNames":["%s"]}' \
		"$1" "$(key "$2_ACCESS_KEY")" "$(key "$2_SECRET_KEY")" "$1"
}

originals=$(arn "$B/originals/*")
thumbnails=$(arn "$B/thumbnails/*")

# The resizer: reads sources (the shim's originals and what the administrator allows),
# writes thumbnails; never deletes, never lists.
sources=$originals
old_ifs=$IFS; IFS=,
for s in ${RESIZER_READ:-}; do
	[ -n "$s" ] || continue
	b=${s%%/*}
	printf '%s' "$b" | grep -qx "$bucket_re" || fail "RESIZER_READ: $s does not start with a bucket name"
	case $s in
	*/*) p=${s#*/}
		printf '%s' "$p" | grep -qx '[A-Za-z0-9/._=-]*' || fail "RESIZER_READ: prefix of $s may hold only A-Z a-z 0-9 / . _ = -"
		sources="$sources,$(arn "$b/$p*")" ;;
	*) sources="$sources,$(arn "$b/*")" ;;
	esac
done
IFS=$old_ifs

resizer=$(allow "$(acts GetObject)" "$sources"),$(allow "$(acts PutObject)" "$thumbnails")
# The shim: stores and removes originals (multipart uploads too, and the listing that finds
# an upload whose id a cancelled request never received), reads thumbnails for downloads;
# HeadBucket for its readiness probe.
shim=$(allow "$(acts PutObject,DeleteObject,AbortMultipartUpload,ListMultipartUploadParts)" "$originals"),$(allow "$(acts GetObject)" "$thumbnails"),$(allow "$(acts ListBucketMultipartUploads,ListBucket)" "$(arn "$B")")
# The operator: deletes thumbnails and the shim's originals; reads back a stored
# thumbnail's metadata (a run whose Job's TTL expired); never writes.
operator=$(allow "$(acts DeleteObject)" "$thumbnails,$originals"),$(allow "$(acts GetObject)" "$thumbnails")

printf '{"identities":['
if [ -n "${ADMIN_ACCESS_KEY:-}" ]; then
	printf '{"name":"admin","credentials":[{"accessKey":"%s","secretKey":"%s"}],"actions":["Admin","Read","List","Tagging","Write"]},' \
		"$(key ADMIN_ACCESS_KEY)" "$(key ADMIN_SECRET_KEY)"
fi
printf '%s,%s,%s' "$(identity thumbnail-operator OPERATOR)" "$(identity thumbnail-api-shim SHIM)" "$(identity thumbnail-resizer RESIZER)"
printf '],"policies":[%s,%s,%s]}\n' \
	"$(policy thumbnail-operator "$operator")" "$(policy thumbnail-api-shim "$shim")" "$(policy thumbnail-resizer "$resizer")"
