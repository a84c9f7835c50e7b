#!/usr/bin/env bash
# crd-apiserver.sh - a real upstream Kubernetes API server for CustomResourceDefinitions
# (k8s.io/apiextensions-apiserver + etcd), built purely from Debian (sid) packages.
#
#   crd-apiserver.sh install   download .debs (private apt state, system apt config untouched),
#                              extract them, build crd-apiserver + helper; cached in $K8SAPI_HOME
#   crd-apiserver.sh start     start etcd + crd-apiserver on free 127.0.0.1 ports (fresh, empty etcd),
#                              write $K8SAPI_HOME/kubeconfig, wait for /readyz; stdout: export KUBECONFIG=...
#                              usage: eval "$(crd-apiserver.sh start)"   (runs install first if needed)
#   crd-apiserver.sh stop      stop the processes recorded by start (by PID, checked against /proc/PID/exe)
#   crd-apiserver.sh status    show what is running
#
# Environment:
#   K8SAPI_HOME            cache/state dir (default ~/.cache/crd-apiserver)
#   K8SAPI_DEBIAN_MIRROR   default http://deb.debian.org/debian     K8SAPI_DEBIAN_SUITE  default sid
#   K8SAPI_KEYRING         default /usr/share/keyrings/debian-archive-keyring.gpg ("" => [trusted=yes])
#   K8SAPI_ETCD            use this etcd binary instead of the one from Debian's etcd-server .deb
#   K8SAPI_APISERVER_ARGS  extra flags for crd-apiserver (e.g. "--feature-gates=...")
#   K8SAPI_KEEP_BUILD=1    keep extracted tree + Go build cache after install (default: delete, ~2 GB)
#   K8SAPI_FULL_CLOSURE=1  download the full recursive golang-* dependency closure (~320 debs, ~310 MB)
#                          instead of the 84 packages the build actually needs
# Requirements: bash, coreutils, apt-get/apt-cache, dpkg-deb, tar, awk, sed, grep. No root needed
# (as root the apt sandbox user is set to root for the private dirs). Listens on 127.0.0.1 only.
set -euo pipefail

H=${K8SAPI_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/thumbnail-operator/crd-apiserver}
MIRROR=${K8SAPI_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=${K8SAPI_DEBIAN_SUITE:-sid}
KEYRING=${K8SAPI_KEYRING-/usr/share/keyrings/debian-archive-keyring.gpg}
RECIPE=3   # bump to force a rebuild when the build recipe changes

log() { printf '[crd-apiserver] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Go packages the build needs (computed with `go list -deps` against sid on 2026-11-28,
# k8s.io/apiextensions-apiserver 0.36.4). If sid moved on and something is missing, the
# full golang-* dependency closure is downloaded automatically.
MIN_PKGS="golang-cel-cel-go-dev golang-cel-expr-dev golang-etcd-server-dev golang-github-antlr4-go-antlr-dev
golang-github-beorn7-perks-dev golang-github-blang-semver-dev golang-github-cenkalti-backoff-v5-dev
golang-github-cespare-xxhash-v2-dev golang-github-coreos-go-semver-dev golang-github-coreos-go-systemd-dev
golang-github-davecgh-go-spew-dev golang-github-docker-spdystream-dev golang-github-emicklei-go-restful-dev
golang-github-evanphx-json-patch-dev golang-github-felixge-httpsnoop-dev golang-github-fsnotify-fsnotify-dev
golang-github-fxamacker-cbor-dev golang-github-go-logr-logr-dev golang-github-go-logr-stdr-dev
golang-github-go-openapi-jsonpointer-dev golang-github-go-openapi-jsonreference-dev golang-github-go-openapi-swag-dev
golang-github-gogo-protobuf-dev golang-github-golang-protobuf-1-5-dev golang-github-google-gnostic-models-dev
golang-github-google-uuid-dev golang-github-gorilla-websocket-dev golang-github-grpc-ecosystem-go-grpc-middleware-dev
golang-github-grpc-ecosystem-grpc-gateway-dev golang-github-json-iterator-go-dev golang-github-kylelemons-godebug-dev
golang-github-modern-go-concurrent-dev golang-github-modern-go-reflect2-dev golang-github-munnerz-goautoneg-dev
golang-github-mxk-go-flowrate-dev golang-github-nytimes-gziphandler-dev golang-github-pkg-errors-dev
golang-github-pmezard-go-difflib-dev golang-github-prometheus-client-golang-dev golang-github-prometheus-client-model-dev
golang-github-prometheus-common-dev golang-github-prometheus-procfs-dev golang-github-spf13-cobra-dev
golang-github-spf13-pflag-dev golang-github-x448-float16-dev golang-go.uber-multierr-dev golang-go.uber-zap-dev
golang-golang-x-crypto-dev golang-golang-x-exp-dev golang-golang-x-net-dev golang-golang-x-oauth2-dev
golang-golang-x-sync-dev golang-golang-x-sys-dev golang-golang-x-term-dev golang-golang-x-text-dev
golang-golang-x-time-dev golang-google-genproto-dev golang-google-grpc-dev golang-google-protobuf-dev
golang-gopkg-inf.v0-dev golang-gopkg-natefinch-lumberjack.v2-dev golang-gopkg-yaml.v2-dev golang-gopkg-yaml.v3-dev
golang-k8s-api-dev golang-k8s-apiextensions-apiserver-dev golang-k8s-apimachinery-dev golang-k8s-apiserver-dev
golang-k8s-client-go-dev golang-k8s-component-base-dev golang-k8s-klog-dev golang-k8s-kms-dev
golang-k8s-kube-openapi-dev golang-k8s-sigs-apiserver-network-proxy-dev golang-k8s-sigs-json-dev
golang-k8s-sigs-randfill-dev golang-k8s-sigs-structured-merge-diff-v6-dev golang-k8s-sigs-yaml-dev
golang-k8s-streaming-dev golang-k8s-utils-dev golang-opentelemetry-contrib-dev golang-opentelemetry-otel-dev
golang-opentelemetry-proto-dev"

# ----------------------------------------------------------------------------------------------
# Go sources written into the cache at install time
# ----------------------------------------------------------------------------------------------
write_server_src() {
cat <<'EOF'
// crd-apiserver: upstream k8s.io/apiextensions-apiserver (Debian golang-k8s-apiextensions-apiserver-dev)
// run standalone, with the few changes needed to make it usable by kubectl/kube-rs without a kube-apiserver:
//  1. upstream Config.Complete() forces EnableDiscovery=false (kube-aggregator normally serves /apis),
//     so GET /apis is 404 and kubectl fails; we turn it back on (aggregated /apis then lists CRD groups).
//  2. the legacy (unaggregated) /apis group list is kept in sync with established CRD groups.
//  3. GET /api answers an empty APIVersions list (no core/v1) instead of 404.
//  4. the core-API shared informer factory (Services lister for conversion webhooks) would list/watch
//     services forever (there is no core API) and fail /readyz "informer-sync"; it is replaced by an empty one.
//  5. upstream's main never sets the OpenAPI v2 config (only its test server does); without it the
//     CRD OpenAPI controllers don't run, CRD schemas are missing from /openapi/v2 and /openapi/v3 and
//     `kubectl apply` fails with "failed to download openapi"; we set it like testserver.go does.
//  6. safer defaults for a local test server: bind 127.0.0.1, no admission plugins (all need a core API),
//     no priority&fairness (needs flowcontrol API), authn/authz kubeconfigs optional
//     (x509 client certs from --client-ca-file; group system:masters is allowed everything).
//
// All upstream flags still work.
package main

import (
	"context"
	"net"
	"net/http"
	"os"
	"sort"
	"sync"

	"github.com/spf13/cobra"

	"k8s.io/apiextensions-apiserver/pkg/apihelpers"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	extensionsapiserver "k8s.io/apiextensions-apiserver/pkg/apiserver"
	"k8s.io/apiextensions-apiserver/pkg/cmd/server/options"
	generatedopenapi "k8s.io/apiextensions-apiserver/pkg/generated/openapi"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/version"
	openapinamer "k8s.io/apiserver/pkg/endpoints/openapi"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/util/openapi"
	clientgoinformers "k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/component-base/cli"
)

func main() {
	ctx := genericapiserver.SetupSignalContext()
	o := options.NewCustomResourceDefinitionsServerOptions(os.Stdout, os.Stderr)
	ro := o.RecommendedOptions
	ro.SecureServing.BindAddress = net.ParseIP("127.0.0.1")
	o.ServerRunOptions.AdvertiseAddress = net.ParseIP("127.0.0.1")
	ro.Admission.DisablePlugins = []string{"NamespaceLifecycle", "MutatingAdmissionPolicy", "MutatingAdmissionWebhook", "ValidatingAdmissionPolicy", "ValidatingAdmissionWebhook"}
	ro.Features.EnablePriorityAndFairness = false
	ro.Authentication.RemoteKubeConfigFileOptional = true
	ro.Authorization.RemoteKubeConfigFileOptional = true

	cmd := &cobra.Command{
		Use:   "crd-apiserver",
		Short: "Standalone CRD-only Kubernetes API server (k8s.io/apiextensions-apiserver) for local tests",
		PersistentPreRunE: func(*cobra.Command, []string) error {
			return o.ServerRunOptions.ComponentGlobalsRegistry.Set()
		},
		RunE: func(c *cobra.Command, _ []string) error {
			if err := o.Complete(); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return run(c.Context(), o)
		},
	}
	cmd.SetContext(ctx)
	o.AddFlags(cmd.Flags())
	os.Exit(cli.Run(cmd))
}

func run(ctx context.Context, o *options.CustomResourceDefinitionsServerOptions) error {
	config, err := o.Config()
	if err != nil {
		return err
	}
	if cc := config.GenericConfig.ClientConfig; cc != nil { // (4)
		cs, err := kubernetes.NewForConfig(cc)
		if err != nil {
			return err
		}
		config.GenericConfig.SharedInformerFactory = clientgoinformers.NewSharedInformerFactory(cs, 0)
	}
	config.GenericConfig.OpenAPIConfig = genericapiserver.DefaultOpenAPIConfig( // (5)
		openapi.GetOpenAPIDefinitionsWithoutDisabledFeatures(generatedopenapi.GetOpenAPIDefinitions),
		openapinamer.NewDefinitionNamer(extensionsapiserver.Scheme))
	completed := config.Complete()
	completed.GenericConfig.EnableDiscovery = true // (1)
	server, err := completed.New(genericapiserver.NewEmptyDelegate())
	if err != nil {
		return err
	}
	gs := server.GenericAPIServer

	// (2) legacy /apis: add/remove CRD groups as CRDs become established / go away.
	crdInformer := server.Informers.Apiextensions().V1().CustomResourceDefinitions()
	var mu sync.Mutex
	known := map[string]bool{}
	resync := func() {
		mu.Lock()
		defer mu.Unlock()
		crds, err := crdInformer.Lister().List(labels.Everything())
		if err != nil {
			return
		}
		groups := map[string]map[string]bool{}
		for _, crd := range crds {
			if !apihelpers.IsCRDConditionTrue(crd, apiextensionsv1.Established) {
				continue
			}
			for _, v := range crd.Spec.Versions {
				if v.Served {
					if groups[crd.Spec.Group] == nil {
						groups[crd.Spec.Group] = map[string]bool{}
					}
					groups[crd.Spec.Group][v.Name] = true
				}
			}
		}
		for g := range known {
			if groups[g] == nil {
				gs.DiscoveryGroupManager.RemoveGroup(g)
				delete(known, g)
			}
		}
		for g, vs := range groups {
			names := make([]string, 0, len(vs))
			for v := range vs {
				names = append(names, v)
			}
			sort.Slice(names, func(i, j int) bool { return version.CompareKubeAwareVersionStrings(names[i], names[j]) > 0 })
			ag := metav1.APIGroup{Name: g}
			for _, v := range names {
				ag.Versions = append(ag.Versions, metav1.GroupVersionForDiscovery{GroupVersion: g + "/" + v, Version: v})
			}
			ag.PreferredVersion = ag.Versions[0]
			gs.DiscoveryGroupManager.AddGroup(ag)
			known[g] = true
		}
	}
	if _, err := crdInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { resync() },
		UpdateFunc: func(any, any) { resync() },
		DeleteFunc: func(any) { resync() },
	}); err != nil {
		return err
	}

	// (3) /api: no legacy core group here.
	gs.Handler.NonGoRestfulMux.Handle("/api", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"kind":"APIVersions","versions":[],"serverAddressByClientCIDRs":null}` + "\n"))
	}))

	return gs.PrepareRun().RunWithContext(ctx)
}
EOF
}

write_helper_src() {
cat <<'EOF'
// k8sapi-helper: stdlib-only helper for crd-apiserver.sh (no openssl/curl/python needed)
//   certs DIR                    -> ca.{crt,key} serving.{crt,key} (127.0.0.1, localhost) admin.{crt,key} (O=system:masters)
//   freeport N                   -> N currently free TCP ports on 127.0.0.1
//   wait URL SECS [CA CERT KEY]  -> poll URL until HTTP 200; prints seconds waited
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

func die(f string, a ...any) { fmt.Fprintf(os.Stderr, "k8sapi-helper: "+f+"\n", a...); os.Exit(1) }

func writePair(dir, name string, der []byte, key *ecdsa.PrivateKey) {
	kb, err := x509.MarshalPKCS8PrivateKey(key) // PKCS#8: accepted by Go, kubectl, rustls/kube-rs, openssl
	if err != nil {
		die("%v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		die("%v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		die("%v", err)
	}
}

func certs(dir string) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		die("%v", err)
	}
	now := time.Now().Add(-time.Hour)
	serial := func() *big.Int { n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62)); return n }
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: "crd-apiserver-ca"},
		NotBefore: now, NotAfter: now.AddDate(10, 0, 0), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		die("%v", err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	writePair(dir, "ca", caDER, caKey)
	leaf := func(name string, t *x509.Certificate) {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		t.SerialNumber, t.NotBefore, t.NotAfter = serial(), now, now.AddDate(10, 0, 0)
		t.KeyUsage = x509.KeyUsageDigitalSignature
		der, err := x509.CreateCertificate(rand.Reader, t, ca, &k.PublicKey, caKey)
		if err != nil {
			die("%v", err)
		}
		writePair(dir, name, der, k)
	}
	leaf("serving", &x509.Certificate{Subject: pkix.Name{CommonName: "127.0.0.1"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	leaf("admin", &x509.Certificate{Subject: pkix.Name{CommonName: "crd-apiserver-admin", Organization: []string{"system:masters"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
}

func freeport(n int) {
	var ls []net.Listener
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			die("%v", err)
		}
		ls = append(ls, l)
		fmt.Println(l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
}

func wait(url string, secs int, tlsFiles []string) {
	tr := &http.Transport{}
	if len(tlsFiles) == 3 {
		pool := x509.NewCertPool()
		b, err := os.ReadFile(tlsFiles[0])
		if err != nil || !pool.AppendCertsFromPEM(b) {
			die("bad CA %s: %v", tlsFiles[0], err)
		}
		kp, err := tls.LoadX509KeyPair(tlsFiles[1], tlsFiles[2])
		if err != nil {
			die("%v", err)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{kp}}
	}
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	start := time.Now()
	last := ""
	for time.Since(start) < time.Duration(secs)*time.Second {
		resp, err := c.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				fmt.Printf("%.2f\n", time.Since(start).Seconds())
				return
			}
			last = fmt.Sprintf("HTTP %d: %.300s", resp.StatusCode, body)
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	die("timed out after %ds waiting for %s (last: %s)", secs, url, last)
}

func main() {
	if len(os.Args) < 3 {
		die("usage: certs DIR | freeport N | wait URL SECS [CA CERT KEY]")
	}
	switch os.Args[1] {
	case "certs":
		certs(os.Args[2])
	case "freeport":
		n, _ := strconv.Atoi(os.Args[2])
		freeport(n)
	case "wait":
		if len(os.Args) < 4 {
			die("wait URL SECS [CA CERT KEY]")
		}
		s, _ := strconv.Atoi(os.Args[3])
		wait(os.Args[2], s, os.Args[4:])
	default:
		die("unknown command %q", os.Args[1])
	}
}
EOF
}

# ----------------------------------------------------------------------------------------------
# install
# ----------------------------------------------------------------------------------------------
APT_OPTS=()
apt_setup() {
	local arch opts
	arch=$(dpkg --print-architecture)
	mkdir -p "$H/apt/lists/partial" "$H/apt/cache/archives/partial" "$H/debs"
	opts="arch=$arch target=Packages"   # only the Packages index (~11 MB), no Contents/DEP-11/i18n
	if [ -n "$KEYRING" ] && [ -r "$KEYRING" ]; then opts="$opts signed-by=$KEYRING"
	else log "WARNING: no keyring ($KEYRING); using [trusted=yes]"; opts="$opts trusted=yes"; fi
	printf 'deb [%s] %s %s main\n' "$opts" "$MIRROR" "$SUITE" > "$H/apt/sources.list"
	# Private apt state: only -o options, nothing under /etc/apt or /var/lib/apt is written.
	APT_OPTS=(-o "Dir::Etc::sourcelist=$H/apt/sources.list" -o Dir::Etc::sourceparts=/dev/null
		-o Dir::Etc::preferences=/dev/null -o Dir::Etc::preferencesparts=/dev/null
		-o "Dir::State::Lists=$H/apt/lists" -o "Dir::Cache=$H/apt/cache"
		-o Acquire::Languages=none -o APT::Get::List-Cleanup=false)
	if [ "$(id -u)" = 0 ]; then APT_OPTS+=(-o APT::Sandbox::User=root); fi
	local stamp="$H/apt/lists/.updated"
	if [ ! -e "$stamp" ] || [ -n "$(find "$stamp" -mmin +720 2>/dev/null)" ] || ! ls "$H/apt/lists/"*_Packages* >/dev/null 2>&1; then
		log "apt-get update ($SUITE, private state in $H/apt)"
		apt-get "${APT_OPTS[@]}" -qq update >&2 || die "apt-get update failed"
		touch "$stamp"
	fi
}

download_pkgs() { # names... -> ensures $H/debs/<name>_*.deb exist
	local want=() p
	for p in "$@"; do compgen -G "$H/debs/${p}_*.deb" >/dev/null || want+=("$p"); done
	[ ${#want[@]} -eq 0 ] && return 0
	log "downloading ${#want[@]} packages"
	if ! (cd "$H/debs" && apt-get "${APT_OPTS[@]}" -q download "${want[@]}" >&2); then
		log "download failed; refreshing the $SUITE index once and retrying"   # sid moves fast
		apt-get "${APT_OPTS[@]}" -qq update >&2 && touch "$H/apt/lists/.updated" || die "apt-get update failed"
		(cd "$H/debs" && apt-get "${APT_OPTS[@]}" -q download "${want[@]}" >&2) || die "apt-get download failed"
	fi
}

extract_all() {
	local f b n=0
	mkdir -p "$H/root/.extracted"
	for f in "$H/debs/"*.deb; do
		b=$(basename "$f")
		[ -e "$H/root/.extracted/$b" ] && continue
		case "$b" in etcd-server_*) continue ;; esac
		dpkg-deb -x "$f" "$H/root" || die "cannot extract $b"
		touch "$H/root/.extracted/$b"; n=$((n+1))
	done
	[ $n -gt 0 ] && log "extracted $n packages into $H/root"
	return 0
}

go_env() {
	local goroot
	goroot=$(ls -d "$H"/root/usr/lib/go-1.*/ 2>/dev/null | sort -V | tail -1)
	[ -x "${goroot}bin/go" ] || die "Go toolchain not found under $H/root/usr/lib"
	export GOROOT=${goroot%/} PATH="${goroot}bin:$PATH" GOPATH="$H/root/usr/share/gocode"
	export GO111MODULE=off GOFLAGS='' GOENV=off GOPROXY=off GOTOOLCHAIN=local CGO_ENABLED=0 GOCACHE="$H/gocache"
	unset GOOS GOARCH GOBIN GOWORK GOEXPERIMENT GOAMD64 || true
}

missing_imports() { # prints Go import errors of the server program (empty = complete)
	(cd "$H/src/crd-apiserver" && go list -e -deps -f '{{if .Error}}{{.ImportPath}}: {{.Error}}{{end}}' . 2>&1 | grep -v '^$' || true)
}

full_closure() { # every golang-* package in the recursive Depends closure of the apiextensions source package
	apt-cache "${APT_OPTS[@]}" depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
		--no-replaces --no-enhances golang-k8s-apiextensions-apiserver-dev | grep '^golang-' | sort -u
}

deb_bytes() { { find "$H/debs" -name '*.deb' -printf '%s\n' 2>/dev/null || true; } | awk '{s+=$1} END{print s+0}'; }

recipe_hash() { { echo "$RECIPE"; write_server_src; write_helper_src; } | sha256sum | cut -c1-16; }

installed() { [ -f "$H/.installed" ] && [ "$(cat "$H/.installed")" = "$(recipe_hash)" ] &&
	[ -x "$H/bin/crd-apiserver" ] && [ -x "$H/bin/k8sapi-helper" ] && { [ -n "${K8SAPI_ETCD:-}" ] || [ -x "$H/bin/etcd" ]; }; }

cmd_install() {
	if installed; then log "already installed in $H ($(du -sh "$H/bin" | cut -f1) of binaries)"; return 0; fi
	command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || die "needs apt-get and dpkg-deb (Debian/Ubuntu)"
	mkdir -p "$H/bin" "$H/src/crd-apiserver" "$H/src/k8sapi-helper"
	local t0 t1 bytes0 bytes1 avail toolchain pkgs=() p
	t0=$(date +%s)
	bytes0=$(deb_bytes)
	apt_setup
	avail=$(apt-cache "${APT_OPTS[@]}" pkgnames golang- ; echo etcd-server)
	toolchain=$(apt-cache "${APT_OPTS[@]}" depends --recurse --no-recommends --no-suggests --no-conflicts \
		--no-breaks --no-replaces --no-enhances golang-go | grep -E '^golang-[0-9.]+-(go|src)$' | sort -u)
	[ -n "$toolchain" ] || die "cannot resolve golang-go in $SUITE"
	if [ "${K8SAPI_FULL_CLOSURE:-0}" = 1 ]; then
		mapfile -t pkgs < <(full_closure)
	else
		for p in $MIN_PKGS; do grep -qxF "$p" <<<"$avail" && pkgs+=("$p") || log "note: $p not in $SUITE any more"; done
	fi
	mapfile -t -O "${#pkgs[@]}" pkgs <<<"$toolchain"
	[ -n "${K8SAPI_ETCD:-}" ] || pkgs+=(etcd-server)
	download_pkgs "${pkgs[@]}"
	extract_all
	go_env
	write_server_src > "$H/src/crd-apiserver/main.go"
	write_helper_src > "$H/src/k8sapi-helper/main.go"
	local miss; miss=$(missing_imports)
	if [ -n "$miss" ]; then
		log "some imports are not satisfied by the minimal package list; fetching the full golang-* closure:"
		printf '%s\n' "$miss" | head -5 >&2
		mapfile -t pkgs < <(full_closure)
		download_pkgs "${pkgs[@]}"; extract_all
		miss=$(missing_imports)
		[ -z "$miss" ] || { printf '%s\n' "$miss" >&2; die "Debian $SUITE cannot satisfy all imports (see above)"; }
	fi
	bytes1=$(deb_bytes)
	t1=$(date +%s)
	log "download+extract: $(( (bytes1-bytes0)/1048576 )) MiB downloaded now, $((bytes1/1048576)) MiB of .debs cached, $((t1-t0)) s"

	if [ -z "${K8SAPI_ETCD:-}" ]; then
		dpkg-deb --fsys-tarfile "$(ls "$H/debs/"etcd-server_*.deb | sort -V | tail -1)" | tar -xO ./usr/bin/etcd > "$H/bin/etcd.tmp"
		chmod +x "$H/bin/etcd.tmp" && mv "$H/bin/etcd.tmp" "$H/bin/etcd"
	fi
	local debver kver minor ldf
	debver=$(dpkg-deb -f "$(ls "$H/debs/"golang-k8s-apiextensions-apiserver-dev_*.deb | sort -V | tail -1)" Version)
	kver=${debver%%-*}; kver=${kver#*:}; minor=$(cut -d. -f2 <<<"$kver")   # 0.36.4 -> v1.36.4
	ldf="-s -w -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
	ldf="$ldf -X k8s.io/component-base/version.gitVersion=v1.${kver#0.} -X k8s.io/component-base/version.gitTreeState=clean"
	ldf="$ldf -X k8s.io/component-base/version.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	log "building k8sapi-helper and crd-apiserver (k8s.io/apiextensions-apiserver $debver, $(go version | cut -d' ' -f3), GOPATH mode) ..."
	t0=$(date +%s)
	(cd "$H/src/k8sapi-helper" && go build -trimpath -ldflags '-s -w' -o "$H/bin/k8sapi-helper" .) || die "helper build failed"
	(cd "$H/src/crd-apiserver" && go build -trimpath -ldflags "$ldf" -o "$H/bin/crd-apiserver.tmp" .) || die "crd-apiserver build failed"
	mv "$H/bin/crd-apiserver.tmp" "$H/bin/crd-apiserver"
	t1=$(date +%s)
	log "built k8sapi-helper + $H/bin/crd-apiserver in $((t1-t0)) s ($(( $(stat -c %s "$H/bin/crd-apiserver") / 1048576 )) MiB)"
	printf 'apiextensions-apiserver %s\ngo %s\netcd %s\nbuild_seconds %s\n' "$debver" "$(go version | cut -d' ' -f3)" \
		"$(etcd_bin --version 2>/dev/null | head -1)" "$((t1-t0))" > "$H/build-info"
	log "build inputs: $(du -sm "$H/root" | cut -f1) MiB extracted tree, $(du -sm "$H/gocache" | cut -f1) MiB Go build cache"
	if [ "${K8SAPI_KEEP_BUILD:-0}" != 1 ]; then rm -rf "$H/gocache" "$H/root"; fi
	recipe_hash > "$H/.installed"
	log "installed into $H"
}

# ----------------------------------------------------------------------------------------------
# start / stop / status
# ----------------------------------------------------------------------------------------------
RUN="$H/run"
etcd_bin() { if [ -n "${K8SAPI_ETCD:-}" ]; then "$K8SAPI_ETCD" "$@"; else "$H/bin/etcd" "$@"; fi; }
etcd_path() { if [ -n "${K8SAPI_ETCD:-}" ]; then readlink -f "$(command -v "$K8SAPI_ETCD")"; else readlink -f "$H/bin/etcd"; fi; }

alive() { # pidfile exe -> 0 if the recorded PID is alive and runs exe
	local pid; [ -f "$1" ] || return 1; pid=$(cat "$1")
	[ -n "$pid" ] && [ "$(readlink "/proc/$pid/exe" 2>/dev/null | sed 's/ (deleted)$//')" = "$(readlink -f "$2")" ]
}

stop_one() { # name pidfile exe
	local pid
	if alive "$2" "$3"; then
		pid=$(cat "$2"); kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 1 100); do alive "$2" "$3" || break; sleep 0.1; done
		if alive "$2" "$3"; then kill -KILL "$pid" 2>/dev/null || true; fi
		log "stopped $1 (pid $pid)"
	fi
	rm -f "$2"
}

cmd_stop() {
	stop_one crd-apiserver "$RUN/apiserver.pid" "$H/bin/crd-apiserver"
	stop_one etcd "$RUN/etcd.pid" "$(etcd_path)"
	alive "$RUN/etcd.pid" "$(etcd_path)" || rm -rf "$RUN/etcd-data"   # 60+ MB of WAL; start begins empty anyway
}

b64() { base64 -w0 < "$1"; }

write_kubeconfig() { # port file
	cat > "$2.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: crd-apiserver
  cluster:
    server: https://127.0.0.1:$1
    certificate-authority-data: $(b64 "$H/pki/ca.crt")
users:
- name: crd-apiserver-admin
  user:
    client-certificate-data: $(b64 "$H/pki/admin.crt")
    client-key-data: $(b64 "$H/pki/admin.key")
contexts:
- name: crd-apiserver
  context: {cluster: crd-apiserver, user: crd-apiserver-admin, namespace: default}
current-context: crd-apiserver
EOF
	chmod 600 "$2.tmp"; mv "$2.tmp" "$2"
}

ready() { "$H/bin/k8sapi-helper" wait "https://127.0.0.1:$1/readyz" "${2:-1}" "$H/pki/ca.crt" "$H/pki/admin.crt" "$H/pki/admin.key" 2>/dev/null; }

cmd_start() {
	installed || cmd_install
	mkdir -p "$RUN"
	if alive "$RUN/apiserver.pid" "$H/bin/crd-apiserver" && alive "$RUN/etcd.pid" "$(etcd_path)" &&
		[ -f "$RUN/ports" ] && ready "$(cut -d' ' -f3 "$RUN/ports")" >/dev/null; then
		log "already running (apiserver pid $(cat "$RUN/apiserver.pid"), https://127.0.0.1:$(cut -d' ' -f3 "$RUN/ports"))"
		echo "export KUBECONFIG=$H/kubeconfig"; return 0
	fi
	cmd_stop
	[ -f "$H/pki/admin.key" ] || "$H/bin/k8sapi-helper" certs "$H/pki"
	local ports ep pp ap t0 t1 extra=()
	ports=$("$H/bin/k8sapi-helper" freeport 3 | tr '\n' ' '); read -r ep pp ap <<<"$ports"
	echo "$ep $pp $ap" > "$RUN/ports"
	rm -rf "$RUN/etcd-data"
	t0=$(date +%s.%N)
	if etcd_bin --help 2>&1 | grep -q -- --unsafe-no-fsync; then extra+=(--unsafe-no-fsync); fi
	( cd "$RUN" && exec nohup "$(etcd_path)" --name crd-apiserver --data-dir "$RUN/etcd-data" \
		--listen-client-urls "http://127.0.0.1:$ep" --advertise-client-urls "http://127.0.0.1:$ep" \
		--listen-peer-urls "http://127.0.0.1:$pp" --initial-advertise-peer-urls "http://127.0.0.1:$pp" \
		--initial-cluster "crd-apiserver=http://127.0.0.1:$pp" --log-level warn "${extra[@]}" \
		</dev/null >"$RUN/etcd.log" 2>&1 ) &
	echo $! > "$RUN/etcd.pid"
	if ! "$H/bin/k8sapi-helper" wait "http://127.0.0.1:$ep/health" 30 >/dev/null; then
		tail -20 "$RUN/etcd.log" >&2; cmd_stop; die "etcd did not become healthy"; fi
	write_kubeconfig "$ap" "$H/kubeconfig"
	# shellcheck disable=SC2086
	( cd "$RUN" && exec nohup "$H/bin/crd-apiserver" --etcd-servers "http://127.0.0.1:$ep" \
		--bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$ap" --cert-dir "$RUN/certs" \
		--tls-cert-file "$H/pki/serving.crt" --tls-private-key-file "$H/pki/serving.key" \
		--client-ca-file "$H/pki/ca.crt" --authentication-skip-lookup \
		--kubeconfig "$H/kubeconfig" ${K8SAPI_APISERVER_ARGS:-} \
		</dev/null >"$RUN/apiserver.log" 2>&1 ) &
	echo $! > "$RUN/apiserver.pid"
	if ! ready "$ap" 90 >/dev/null; then
		tail -30 "$RUN/apiserver.log" >&2; cmd_stop; die "crd-apiserver did not become ready"; fi
	t1=$(date +%s.%N)
	log "ready in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}') s: https://127.0.0.1:$ap (etcd 127.0.0.1:$ep, pids $(cat "$RUN/etcd.pid")/$(cat "$RUN/apiserver.pid"), logs in $RUN)"
	echo "export KUBECONFIG=$H/kubeconfig"
}

cmd_status() {
	local rc=0
	if alive "$RUN/etcd.pid" "$(etcd_path)"; then echo "etcd: running, pid $(cat "$RUN/etcd.pid"), port $(cut -d' ' -f1 "$RUN/ports")"; else echo "etcd: stopped"; rc=1; fi
	if alive "$RUN/apiserver.pid" "$H/bin/crd-apiserver"; then
		echo "crd-apiserver: running, pid $(cat "$RUN/apiserver.pid"), https://127.0.0.1:$(cut -d' ' -f3 "$RUN/ports"), readyz: $(ready "$(cut -d' ' -f3 "$RUN/ports")" >/dev/null && echo ok || echo failing)"
		echo "KUBECONFIG=$H/kubeconfig"
	else echo "crd-apiserver: stopped"; rc=1; fi
	return $rc
}

case "${1:-}" in
	install) cmd_install ;;
	start) cmd_start ;;
	stop) cmd_stop ;;
	status) cmd_status ;;
	*) echo "usage: $0 install|start|stop|status   (K8SAPI_HOME=${H})" >&2; exit 2 ;;
esac
