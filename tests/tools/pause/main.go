// Command pause holds a pod sandbox's namespaces for the stack's real node: it sleeps
// until SIGINT or SIGTERM and exits 0. (The kubelet does not share the pod's PID namespace
// by default, so it has no zombies to reap.) Built static by the harness's go_tool.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
}
