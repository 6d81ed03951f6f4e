package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"
	kwokcrd "sigs.k8s.io/kwok/kustomize/crd"
	nodefast "sigs.k8s.io/kwok/kustomize/stage/node/fast"
	nodelease "sigs.k8s.io/kwok/kustomize/stage/node/heartbeat-with-lease"
	podfast "sigs.k8s.io/kwok/kustomize/stage/pod/fast"
	kwokconfig "sigs.k8s.io/kwok/pkg/config"
	kwokcmd "sigs.k8s.io/kwok/pkg/kwok/cmd"
	kwoklog "sigs.k8s.io/kwok/pkg/log"
	"sigs.k8s.io/kwok/pkg/utils/signals"
)

// podFailStage makes a pod fail instead of running when it carries the
// annotation stack.scipian.io/fail (its value becomes the exit code), so tests
// can have failed pods without a kubelet.
const podFailStage = `apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-fail
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.metadata.annotations["stack.scipian.io/fail"]'
      operator: 'Exists'
    - key: '.status.phase'
      operator: 'In'
      values: ['Running']
  weight: 10
  next:
    statusTemplate: |
      {{ $now := Now }}
      {{ $root := . }}
      containerStatuses:
      {{ range $index, $item := .spec.containers }}
      - image: {{ $item.image | Quote }}
        name: {{ $item.name | Quote }}
        ready: false
        restartCount: 0
        started: false
        state:
          terminated:
            exitCode: {{ index $root.metadata.annotations "stack.scipian.io/fail" }}
            finishedAt: {{ $now | Quote }}
            reason: Error
            startedAt: {{ $now | Quote }}
      {{ end }}
      phase: Failed
`

// defaultLogs gives every container an empty log unless a Logs object names
// the pod: a quiet container, as a kubelet would show it.
const defaultLogs = `apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterLogs
metadata:
  name: default-empty
spec:
  selector: {}
  logs:
  - logsFile: %q
    follow: true
`

func runKwok(args []string) error {
	dir, _, port, err := clusterDir("kwok", args)
	if err != nil {
		return err
	}
	empty := filepath.Join(dir, "logs", "empty.log")
	if err := os.MkdirAll(filepath.Dir(empty), 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		return err
	}
	docs := []string{
		nodefast.DefaultNodeInit,
		nodelease.DefaultNodeHeartbeatWithLease,
		podfast.DefaultPodReady,
		podfast.DefaultPodComplete,
		podfast.DefaultPodDelete,
		podFailStage,
		fmt.Sprintf(defaultLogs, empty),
	}
	cfgPath := filepath.Join(dir, "kwok.yaml")
	if err := os.WriteFile(cfgPath, []byte(strings.Join(docs, "\n---\n")), 0o600); err != nil {
		return err
	}
	kwokArgs := []string{
		"--kubeconfig=" + filepath.Join(dir, "admin.kubeconfig"),
		"--config=" + cfgPath,
		"--manage-all-nodes=true",
		"--node-ip=127.0.0.1",
		"--node-name=localhost",
		fmt.Sprintf("--node-port=%d", port),
		fmt.Sprintf("--server-address=127.0.0.1:%d", port),
		"--node-lease-duration-seconds=40",
		"--enable-crds=Logs",
		"--v=WARN", // one INFO line per pod patch would swamp the 5,000-pod benchmark
	}
	// KWOK's own flag helpers read os.Args.
	os.Args = append([]string{"kwok"}, kwokArgs...)
	// The Kubernetes packages linked into this binary register global flags
	// (a non-bool --version among them) that cobra would merge into KWOK's.
	pflag.CommandLine = pflag.NewFlagSet("kwok", pflag.ContinueOnError)
	flagset := pflag.NewFlagSet("global", pflag.ContinueOnError)
	flagset.ParseErrorsAllowlist.UnknownFlags = true
	flagset.Usage = func() {}
	ctx := signals.SetupSignalContext()
	ctx, _ = kwoklog.InitFlags(ctx, flagset)
	ctx, err = kwokconfig.InitFlags(ctx, flagset)
	if err != nil {
		return err
	}
	command := kwokcmd.NewCommand(ctx)
	command.PersistentFlags().AddFlagSet(flagset)
	command.SetArgs(kwokArgs)
	return command.ExecuteContext(ctx)
}

func printKwokCRDs() error {
	_, err := os.Stdout.Write(kwokcrd.Logs)
	return err
}
