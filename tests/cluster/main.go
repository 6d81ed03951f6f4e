// Command clusterd runs the pieces of a local Kubernetes cluster for the
// kubectl-scipian test stack: embedded etcd with kube-apiserver, the
// controller manager, the scheduler and KWOK (simulated nodes, pods and
// pods/log). Each piece runs in its own process because every Kubernetes
// component installs a process-wide signal handler.
package main

import (
	"fmt"
	"os"
)

const usage = `usage: clusterd COMMAND [flags]

commands:
  apiserver           etcd (embedded) + kube-apiserver; writes DIR/admin.kubeconfig when ready
  controller-manager  kube-controller-manager for the cluster in DIR
  scheduler           kube-scheduler for the cluster in DIR
  kwok                KWOK nodes, pods and logs for the cluster in DIR
  kwok-crds           print the KWOK Logs CRD (apply it so tests can give pods log files)
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	cmd, args := os.Args[1], os.Args[2:]
	var err error
	switch cmd {
	case "apiserver":
		err = runAPIServer(args)
	case "controller-manager":
		err = runControllerManager(args)
	case "scheduler":
		err = runScheduler(args)
	case "kwok":
		err = runKwok(args)
	case "kwok-crds":
		err = printKwokCRDs()
	case "-h", "--help", "help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "clusterd: unknown command %q\n%s", cmd, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "clusterd %s: %v\n", cmd, err)
		os.Exit(1)
	}
}
