// CoreDNS, the cluster DNS of the test node (hack/cluster.sh), built from the Go module
// proxy: upstream's coremain with only the plugins the node's Corefile uses (upstream's
// default set pulls in every cloud SDK). Its own module, because its Kubernetes client
// libraries are not the release hack/k8s pins.
package main

import (
	"github.com/coredns/coredns/coremain"

	// The Corefile's directives; their order in the chain is upstream's (dnsserver.Directives).
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loop"
)

func main() {
	coremain.Run()
}
