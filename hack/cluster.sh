#!/usr/bin/env bash
# hack/cluster.sh — a real single-node Kubernetes on this machine, without Docker, kind
# or an image registry: what the cluster tests (hack/test.sh) and `make cluster` run on.
#
#   hack/cluster.sh install        build the node's programs once (cached, see below)
#   eval "$(hack/cluster.sh start)"  a fresh cluster (empty etcd); prints `export KUBECONFIG=...`
#   hack/cluster.sh env            print `export KUBECONFIG=...` of the running cluster
#   hack/cluster.sh status         which of the node's processes run
#   hack/cluster.sh ctr ARGS...    containerd's ctr on the node's image store (namespace k8s.io)
#   hack/cluster.sh stop           stop everything start started, remove its pods, bridge and rules
#
# What runs (all host processes, root): containerd + runc from Debian (own socket and state,
# cgroupfs), etcd from Debian, and Kubernetes $K8S_VERSION — kube-apiserver,
# kube-controller-manager, kube-scheduler, kubelet, kube-proxy (iptables) — plus CoreDNS,
# all built from the Go module proxy by the pinned modules in hack/k8s/ (upstream's own
# mains; nothing patched). Pods get addresses on the bridge `thumbnails0` (10.244.0.0/16)
# from the bridge CNI plugin. The API server and the kubelet listen on the bridge's
# address only (10.244.0.1: reachable from this host and from pods, not from the network);
# NodePorts are served on 127.0.0.1 only. Authentication is by client certificate (one
# CA made at first start), authorisation RBAC + Node, admission with Pod Security.
#
# Needs root (containerd, iptables, a bridge), the Debian packages hack/install-deps.sh
# installs, and Go. The build is cached in $CLUSTER_HOME (default
# ~/.cache/thumbnail-operator/cluster): the Go module cache, the binaries (rebuilt only
# when hack/k8s/ changes), the CA, and containerd's image store; a start's state (etcd,
# kubelet, logs) is under $CLUSTER_HOME/state and is wiped by the next start.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

CLUSTER_HOME=${CLUSTER_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/thumbnail-operator/cluster}
K8S_VERSION=$(awk '$1 == "k8s.io/kubernetes" {print $2}' hack/k8s/go.mod)
COREDNS_VERSION=$(grep -o "github.com/coredns/coredns v[0-9.]*" hack/k8s/coredns/go.mod | cut -d" " -f2)
BIN=$CLUSTER_HOME/bin
STATE=$CLUSTER_HOME/state
PKI=$CLUSTER_HOME/pki
LOGS=$STATE/logs
RUN=/run/thumbnail-cluster            # containerd's state and socket (tmpfs)
SOCK=$RUN/containerd.sock
BRIDGE=thumbnails0
NODE_IP=10.244.0.1
POD_CIDR=10.244.0.0/16
SERVICE_CIDR=10.96.0.0/16
DNS_IP=$NODE_IP                       # CoreDNS runs on the host, on the bridge address
NODE=thumbnails-node
APISERVER=https://$NODE_IP:6443
ETCD_PORT=12379                       # not 2379: leave a developer's own etcd alone
PAUSE_IMAGE=registry.k8s.io/pause:3.10

log() { printf '[cluster] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# -- install -------------------------------------------------------------------------------

# The build's inputs: a change to any of them rebuilds the binaries.
build_stamp() {
	{
		go version
		cat hack/k8s/go.mod hack/k8s/go.sum hack/k8s/coredns/go.mod hack/k8s/coredns/go.sum
		find hack/k8s -name '*.go' | sort | xargs cat
		sed -n '/^build_programs()/,/^}/p' "$0"
	} | sha256sum | cut -c1-16
}

build_programs() {
	local out=$1
	export GOMODCACHE=$CLUSTER_HOME/go/mod GOCACHE=$CLUSTER_HOME/go/cache
	export GOFLAGS=-modcacherw GOTOOLCHAIN=local CGO_ENABLED=0
	local pkg=k8s.io/component-base/version client=k8s.io/client-go/pkg/version
	local minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
	local ldflags="-s -w"
	for p in $pkg $client; do
		ldflags+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
		ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
	done
	log "building Kubernetes $K8S_VERSION (kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy): ~10-25 min cold on 2 cores"
	(cd hack/k8s && go build -trimpath -ldflags "$ldflags" -o "$out/" ./cmd/...)
	log "building CoreDNS $COREDNS_VERSION"
	(cd hack/k8s/coredns && go build -trimpath -ldflags "-s -w -X github.com/coredns/coredns/coremain.GitCommit=$COREDNS_VERSION" -o "$out/coredns" .)
	# The pod sandbox's program: upstream's pause.c, static (the image has nothing else).
	gcc -static -Os -DVERSION="$K8S_VERSION" -o "$out/pause" \
		"$GOMODCACHE/k8s.io/kubernetes@$K8S_VERSION/build/pause/linux/pause.c"
	strip "$out/pause"
}

install() {
	command -v go >/dev/null || die "Go is missing (the node's programs are built from the Go module proxy)"
	for tool in containerd runc etcd iptables ip gcc; do
		command -v "$tool" >/dev/null || die "$tool is missing: run 'make deps' (hack/install-deps.sh)"
	done
	[ -x /usr/lib/cni/bridge ] || die "the CNI plugins are missing: run 'make deps' (containernetworking-plugins)"
	local stamp
	stamp=$(build_stamp)
	if [ "$(cat "$BIN/.stamp" 2>/dev/null)" != "$stamp" ]; then
		local t0=$SECONDS
		rm -rf "$BIN.new"
		mkdir -p "$BIN.new"
		build_programs "$BIN.new"
		rm -rf "$BIN"
		mv "$BIN.new" "$BIN"
		echo "$stamp" >"$BIN/.stamp"
		log "built the node's programs in $((SECONDS - t0)) s into $BIN"
	fi
	local name
	for name in ca sa $CERTS; do
		[ -f "$PKI/$name.key" ] || { make_pki; break; }
	done
}

# The components' certificates (make_pki), one per identity.
CERTS="apiserver apiserver-kubelet-client kubelet-serving admin kubelet kube-controller-manager kube-scheduler kube-proxy coredns"

# One CA; a certificate per component, named as Kubernetes' default RBAC expects.
make_pki() {
	log "making the cluster's CA and certificates in $PKI"
	rm -rf "$PKI.new"
	mkdir -p "$PKI.new"
	(
		cd "$PKI.new"
		umask 077
		openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 -subj /CN=thumbnails-cluster-ca 2>/dev/null
		openssl genrsa -out sa.key 2048 2>/dev/null
		openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
		local client='extendedKeyUsage=clientAuth' server='extendedKeyUsage=serverAuth'
		cert() { # name subject extensions
			printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n%b\n' "$3" >"$1.ext"
			openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
			openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$1.crt" -days 3650 -extfile "$1.ext" 2>/dev/null
			rm -f "$1.csr" "$1.ext"
		}
		cert apiserver /CN=kube-apiserver "$server\nsubjectAltName=IP:$NODE_IP,IP:10.96.0.1,IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
		cert apiserver-kubelet-client "/O=kubelet-api-admin/CN=kube-apiserver-kubelet-client" "$client"
		cert kubelet-serving "/CN=$NODE" "$server\nsubjectAltName=IP:$NODE_IP,DNS:$NODE"
		cert admin "/O=system:masters/CN=thumbnails-admin" "$client"
		cert kubelet "/O=system:nodes/CN=system:node:$NODE" "$client"
		cert kube-controller-manager /CN=system:kube-controller-manager "$client"
		cert kube-scheduler /CN=system:kube-scheduler "$client"
		cert kube-proxy /CN=system:kube-proxy "$client"
		cert coredns /CN=thumbnails:coredns "$client"
	)
	rm -rf "$PKI"
	mv "$PKI.new" "$PKI"
}

# -- start ---------------------------------------------------------------------------------

kubeconfig() { # name -> $STATE/name.kubeconfig with that component's certificate
	cat >"$STATE/$1.kubeconfig" <<-EOF
		apiVersion: v1
		kind: Config
		clusters:
		- name: thumbnails
		  cluster: {server: "$APISERVER", certificate-authority: "$PKI/ca.crt"}
		users:
		- name: $1
		  user: {client-certificate: "$PKI/$1.crt", client-key: "$PKI/$1.key"}
		contexts:
		- name: thumbnails
		  context: {cluster: thumbnails, user: $1}
		current-context: thumbnails
	EOF
	chmod 600 "$STATE/$1.kubeconfig"
}

spawn() { # name command... : runs in the background, logs to $LOGS/name.log, pid in $STATE/name.pid
	local name=$1
	shift
	nohup "$@" >"$LOGS/$name.log" 2>&1 </dev/null &
	echo $! >"$STATE/$name.pid"
}

wait_for() { # what seconds command...
	local what=$1 deadline=$((SECONDS + $2)) name
	shift 2
	until "$@" >/dev/null 2>&1; do
		for pidfile in "$STATE"/*.pid; do
			name=$(basename "$pidfile" .pid)
			kill -0 "$(cat "$pidfile")" 2>/dev/null || { tail -n 30 "$LOGS/$name.log" >&2; die "$name exited while waiting for $what (log: $LOGS/$name.log)"; }
		done
		[ $SECONDS -lt $deadline ] || die "timed out waiting for $what (logs: $LOGS)"
		sleep 0.3
	done
}

# The kubectl of the cluster's minor version (hack/get-helm.sh's, cached), unless given.
TOOLS=${THUMBNAIL_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/thumbnail-operator/tools}
KUBECTL=${KUBECTL:-$TOOLS/kubectl-1.34}
[ -x "$KUBECTL" ] || command -v "$KUBECTL" >/dev/null || bash hack/get-helm.sh "$TOOLS" >&2
kc() { "$KUBECTL" --kubeconfig "$STATE/admin.kubeconfig" "$@"; }

write_configs() {
	mkdir -p "$STATE/cni" "$STATE/manifests"
	cat >"$STATE/containerd.toml" <<-EOF
		version = 2
		root = "$CLUSTER_HOME/containerd"
		state = "$RUN"
		[grpc]
		  address = "$SOCK"
		[plugins."io.containerd.grpc.v1.cri"]
		  sandbox_image = "$PAUSE_IMAGE"
		  # No CAP_SYS_RESOURCE in these VMs: without this every pod fails (oom_score_adj).
		  restrict_oom_score_adj = true
		  disable_tcp_service = true
		  stream_server_address = "127.0.0.1"
		  [plugins."io.containerd.grpc.v1.cri".cni]
		    bin_dir = "/usr/lib/cni"
		    conf_dir = "$STATE/cni"
		    max_conf_num = 1
		  [plugins."io.containerd.grpc.v1.cri".containerd]
		    snapshotter = "overlayfs"
		    default_runtime_name = "runc"
		    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
		      runtime_type = "io.containerd.runc.v2"
		      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
		        SystemdCgroup = false
	EOF
	cat >"$STATE/cni/10-thumbnails.conflist" <<-EOF
		{
		  "cniVersion": "1.0.0",
		  "name": "thumbnails",
		  "plugins": [
		    {"type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": true, "hairpinMode": true,
		     "ipam": {"type": "host-local", "dataDir": "$STATE/cni/ipam",
		              "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$NODE_IP"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
		    {"type": "portmap", "capabilities": {"portMappings": true}}
		  ]
		}
	EOF
	cat >"$STATE/kubelet.yaml" <<-EOF
		apiVersion: kubelet.config.k8s.io/v1beta1
		kind: KubeletConfiguration
		address: $NODE_IP
		readOnlyPort: 0
		healthzBindAddress: 127.0.0.1
		authentication:
		  anonymous: {enabled: false}
		  webhook: {enabled: true}
		  x509: {clientCAFile: "$PKI/ca.crt"}
		authorization: {mode: Webhook}
		tlsCertFile: "$PKI/kubelet-serving.crt"
		tlsPrivateKeyFile: "$PKI/kubelet-serving.key"
		containerRuntimeEndpoint: unix://$SOCK
		# cgroup v1 host, containerd with cgroupfs.
		cgroupDriver: cgroupfs
		failCgroupV1: false
		failSwapOn: false
		clusterDomain: cluster.local
		clusterDNS: [$DNS_IP]
		resolvConf: /etc/resolv.conf
		staticPodPath: "$STATE/manifests"
		rotateCertificates: false
		serializeImagePulls: false
		# Images are imported, never pulled: never collect them.
		imageGCHighThresholdPercent: 100
		imageGCLowThresholdPercent: 99
		evictionHard: {memory.available: "100Mi", nodefs.available: "2%", imagefs.available: "2%"}
	EOF
	cat >"$STATE/kube-proxy.yaml" <<-EOF
		apiVersion: kubeproxy.config.k8s.io/v1alpha1
		kind: KubeProxyConfiguration
		clientConnection: {kubeconfig: "$STATE/kube-proxy.kubeconfig"}
		mode: iptables
		clusterCIDR: $POD_CIDR
		hostnameOverride: $NODE
		bindAddress: 127.0.0.1
		healthzBindAddress: 127.0.0.1:10256
		metricsBindAddress: 127.0.0.1:10249
		# NodePorts on this machine's loopback only, not on its network.
		nodePortAddresses: [127.0.0.0/8]
		conntrack: {maxPerCore: 0, min: 0}
	EOF
	cat >"$STATE/Corefile" <<-EOF
		.:53 {
		    bind $DNS_IP
		    errors
		    kubernetes cluster.local in-addr.arpa ip6.arpa {
		        kubeconfig $STATE/coredns.kubeconfig thumbnails
		        pods insecure
		        fallthrough in-addr.arpa ip6.arpa
		    }
		    forward . /etc/resolv.conf
		    cache 30
		    loop
		}
	EOF
}

# What CoreDNS reads (upstream's system:coredns ClusterRole), bound to its certificate's user.
COREDNS_RBAC='
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "thumbnails:coredns"}
rules:
- apiGroups: [""]
  resources: [endpoints, services, pods, namespaces]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "thumbnails:coredns"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "thumbnails:coredns"}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: "thumbnails:coredns"}
'

# The API server's kubelet client: what `kubectl logs/exec` need on the kubelet.
KUBELET_API_RBAC='
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "thumbnails:kubelet-api-admin"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:kubelet-api-admin"}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: Group, name: kubelet-api-admin}
'

network_up() {
	modprobe br_netfilter 2>/dev/null || true
	modprobe overlay 2>/dev/null || true
	# Pod -> Service -> pod on the same bridge must pass iptables (kube-proxy's rules).
	sysctl -qw net.ipv4.ip_forward=1
	[ -e /proc/sys/net/bridge/bridge-nf-call-iptables ] || die "br_netfilter is not available (modprobe br_netfilter failed): Services cannot work"
	sysctl -qw net.bridge.bridge-nf-call-iptables=1
	ip link show "$BRIDGE" >/dev/null 2>&1 || ip link add "$BRIDGE" type bridge
	ip addr replace "$NODE_IP/16" dev "$BRIDGE"
	ip link set "$BRIDGE" up
}

start() {
	[ "$(id -u)" = 0 ] || die "the cluster needs root (containerd, a bridge, iptables)"
	install
	stop_all >/dev/null 2>&1 || true
	local t0=$SECONDS
	rm -rf "$STATE"
	mkdir -p "$STATE" "$LOGS" "$RUN"
	write_configs
	for c in admin kube-controller-manager kube-scheduler kubelet kube-proxy coredns; do kubeconfig "$c"; done
	network_up

	spawn containerd containerd --config "$STATE/containerd.toml"
	wait_for containerd 30 ctr --address "$SOCK" version
	ctr --address "$SOCK" -n k8s.io images ls -q | grep -qx "$PAUSE_IMAGE" || {
		python3 hack/mkimage.py "$STATE/pause.tar" "$PAUSE_IMAGE" --file "$BIN/pause:/pause:0755" \
			--user 65535:65535 --entrypoint '["/pause"]' >/dev/null
		ctr --address "$SOCK" -n k8s.io images import "$STATE/pause.tar" >/dev/null
	}

	spawn etcd etcd --name thumbnails --data-dir "$STATE/etcd" \
		--listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
		--listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
		--initial-cluster "thumbnails=http://127.0.0.1:$((ETCD_PORT + 1))" --listen-metrics-urls "http://127.0.0.1:$((ETCD_PORT + 2))"
	wait_for etcd 30 curl -sf "http://127.0.0.1:$ETCD_PORT/health"

	spawn kube-apiserver "$BIN/kube-apiserver" \
		--etcd-servers="http://127.0.0.1:$ETCD_PORT" \
		--bind-address="$NODE_IP" --advertise-address="$NODE_IP" --secure-port=6443 \
		--tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
		--client-ca-file="$PKI/ca.crt" \
		--authorization-mode=Node,RBAC \
		--enable-admission-plugins=NodeRestriction \
		--allow-privileged=true \
		--service-cluster-ip-range="$SERVICE_CIDR" \
		--service-node-port-range=30000-32767 \
		--service-account-issuer=https://kubernetes.default.svc.cluster.local \
		--service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
		--kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
		--kubelet-certificate-authority="$PKI/ca.crt" \
		--kubelet-preferred-address-types=InternalIP \
		--profiling=false
	wait_for "the API server" 120 curl -sf --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" "$APISERVER/readyz"
	log "API server ready ($((SECONDS - t0)) s)"

	local common=(--bind-address=127.0.0.1 --leader-elect=false --profiling=false)
	spawn kube-controller-manager "$BIN/kube-controller-manager" "${common[@]}" \
		--kubeconfig="$STATE/kube-controller-manager.kubeconfig" \
		--authentication-kubeconfig="$STATE/kube-controller-manager.kubeconfig" \
		--authorization-kubeconfig="$STATE/kube-controller-manager.kubeconfig" \
		--service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
		--use-service-account-credentials=true \
		--cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
		--controllers='*'
	spawn kube-scheduler "$BIN/kube-scheduler" "${common[@]}" \
		--kubeconfig="$STATE/kube-scheduler.kubeconfig" \
		--authentication-kubeconfig="$STATE/kube-scheduler.kubeconfig" \
		--authorization-kubeconfig="$STATE/kube-scheduler.kubeconfig"

	echo "$COREDNS_RBAC---$KUBELET_API_RBAC" | kc apply -f - >/dev/null
	spawn coredns "$BIN/coredns" -conf "$STATE/Corefile"
	spawn kube-proxy "$BIN/kube-proxy" --config="$STATE/kube-proxy.yaml"
	spawn kubelet "$BIN/kubelet" --config="$STATE/kubelet.yaml" --kubeconfig="$STATE/kubelet.kubeconfig" \
		--hostname-override="$NODE" --node-ip="$NODE_IP" \
		--root-dir="$STATE/kubelet" --cert-dir="$STATE/kubelet/pki"

	wait_for "node $NODE to be Ready" 120 node_ready
	# Pods can be created once their namespace's default ServiceAccount exists.
	wait_for "the default ServiceAccount" 60 kc get serviceaccount default
	log "cluster ready in $((SECONDS - t0)) s: Kubernetes $K8S_VERSION, node $NODE ($NODE_IP)"
	env_lines
}

node_ready() {
	[ "$(kc get node "$NODE" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" = True ]
}

env_lines() {
	echo "export KUBECONFIG=$STATE/admin.kubeconfig"
}

# -- stop ----------------------------------------------------------------------------------

stop_pid() {
	local f=$STATE/$1.pid pid
	[ -f "$f" ] || return 0
	pid=$(cat "$f")
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$f"
}

stop_all() {
	# The kubelet first, so that it restarts nothing; then the pods' containers, by hand.
	stop_pid kubelet
	if [ -S "$SOCK" ]; then
		local ctr=(ctr --address "$SOCK" -n k8s.io)
		for t in $("${ctr[@]}" tasks ls -q 2>/dev/null); do "${ctr[@]}" tasks kill -s KILL "$t" >/dev/null 2>&1 || true; done
		sleep 0.5
		for t in $("${ctr[@]}" tasks ls -q 2>/dev/null); do "${ctr[@]}" tasks rm -f "$t" >/dev/null 2>&1 || true; done
		for c in $("${ctr[@]}" containers ls -q 2>/dev/null); do "${ctr[@]}" containers rm "$c" >/dev/null 2>&1 || true; done
	fi
	for p in kube-proxy coredns kube-scheduler kube-controller-manager kube-apiserver etcd containerd; do stop_pid "$p"; done
	# containerd's shims outlive it: only ours (their command line names our state folder).
	for pid in $(pgrep -f containerd-shim-runc-v2 || true); do
		grep -qa -- "$RUN" "/proc/$pid/cmdline" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
	done
	# Mounts left by pods (volumes, sandboxes' network namespaces, rootfs), deepest first.
	awk -v a="$STATE" -v b="$RUN" -v c="$CLUSTER_HOME/containerd" \
		'index($2, a) == 1 || index($2, b) == 1 || index($2, c) == 1 {print $2}' /proc/mounts | sort -r |
		while read -r m; do umount -l "$m" 2>/dev/null || true; done
	for ns in $(ip netns list 2>/dev/null | awk '/^cni-/{print $1}'); do ip netns delete "$ns" 2>/dev/null || true; done
	[ -x "$BIN/kube-proxy" ] && "$BIN/kube-proxy" --cleanup >/dev/null 2>&1 || true
	# The bridge plugin's masquerade chains (CNI-*) and the portmap plugin's (CNI-HOSTPORT-*).
	iptables -t nat -S POSTROUTING 2>/dev/null | awk '/CNI-/{ $1 = "-D"; print }' |
		while read -r rule; do eval "iptables -t nat $rule" 2>/dev/null || true; done
	for chain in $(iptables -t nat -S 2>/dev/null | awk '/^-N CNI-/{print $2}'); do
		iptables -t nat -F "$chain" 2>/dev/null || true
	done
	for chain in $(iptables -t nat -S 2>/dev/null | awk '/^-N CNI-/{print $2}'); do
		iptables -t nat -X "$chain" 2>/dev/null || true
	done
	# The kubelet's own chains (its canaries, and the firewall that guards route_localnet,
	# which kube-proxy turned on for the loopback NodePorts: turned off again here).
	local ipt table
	for ipt in iptables ip6tables; do
		for table in filter nat mangle; do
			for hook in INPUT OUTPUT; do
				while "$ipt" -t "$table" -D "$hook" -j KUBE-FIREWALL 2>/dev/null; do :; done
			done
			for chain in KUBE-FIREWALL KUBE-KUBELET-CANARY KUBE-IPTABLES-HINT; do
				"$ipt" -t "$table" -F "$chain" 2>/dev/null && "$ipt" -t "$table" -X "$chain" 2>/dev/null || true
			done
		done
	done
	sysctl -qw net.ipv4.conf.all.route_localnet=0 2>/dev/null || true
	ip link del "$BRIDGE" 2>/dev/null || true
	rm -rf "$RUN"
}

status() {
	local any=0
	for p in containerd etcd kube-apiserver kube-controller-manager kube-scheduler coredns kube-proxy kubelet; do
		if [ -f "$STATE/$p.pid" ] && kill -0 "$(cat "$STATE/$p.pid")" 2>/dev/null; then
			printf '%-24s running (pid %s)\n' "$p" "$(cat "$STATE/$p.pid")"
			any=1
		else
			printf '%-24s stopped\n' "$p"
		fi
	done
	[ $any = 1 ]
}

case ${1:-} in
install) install ;;
start) start ;;
env)
	[ -f "$STATE/kube-apiserver.pid" ] && kill -0 "$(cat "$STATE/kube-apiserver.pid")" 2>/dev/null ||
		die "no cluster is running: eval \"\$(hack/cluster.sh start)\""
	env_lines
	;;
status) status ;;
ctr)
	shift
	exec ctr --address "$SOCK" -n k8s.io "$@"
	;;
stop)
	stop_all
	log "stopped"
	;;
*)
	sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
	;;
esac
