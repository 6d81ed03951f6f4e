package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	kcm "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

// clusterDir parses --dir and waits for the apiserver's admin kubeconfig.
func clusterDir(name string, args []string) (string, pki, int, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	dir := fs.String("dir", "", "cluster state directory")
	port := fs.Int("port", 0, "port this component serves on (0: pick a free one)")
	if err := fs.Parse(args); err != nil {
		return "", pki{}, 0, err
	}
	if *dir == "" {
		return "", pki{}, 0, errors.New("--dir is required")
	}
	kubeconfig := filepath.Join(*dir, "admin.kubeconfig")
	deadline := time.Now().Add(5 * time.Minute)
	for {
		if _, err := os.Stat(kubeconfig); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return "", pki{}, 0, fmt.Errorf("%s did not appear", kubeconfig)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if *port == 0 {
		var err error
		if *port, err = freePort(); err != nil {
			return "", pki{}, 0, err
		}
	}
	return *dir, newPKI(*dir), *port, nil
}

func runControllerManager(args []string) error {
	dir, p, port, err := clusterDir("controller-manager", args)
	if err != nil {
		return err
	}
	kc := filepath.Join(dir, "admin.kubeconfig")
	cmd := kcm.NewControllerManagerCommand()
	cmd.SetArgs([]string{
		"--kubeconfig=" + kc,
		"--authentication-kubeconfig=" + kc,
		"--authorization-kubeconfig=" + kc,
		"--bind-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", port),
		"--leader-elect=false",
		"--service-account-private-key-file=" + p.SAKey,
		"--root-ca-file=" + p.CACert,
		"--cluster-signing-cert-file=" + p.CACert,
		"--cluster-signing-key-file=" + p.CAKey,
		"--use-service-account-credentials=false",
		"--controllers=*",
		"--cert-dir=" + filepath.Join(dir, "kcm-certs"),
		"--profiling=false",
		"--v=0",
	})
	return cmd.Execute()
}

func runScheduler(args []string) error {
	dir, _, port, err := clusterDir("scheduler", args)
	if err != nil {
		return err
	}
	kc := filepath.Join(dir, "admin.kubeconfig")
	cmd := scheduler.NewSchedulerCommand()
	cmd.SetArgs([]string{
		"--kubeconfig=" + kc,
		"--authentication-kubeconfig=" + kc,
		"--authorization-kubeconfig=" + kc,
		"--bind-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", port),
		"--leader-elect=false",
		"--cert-dir=" + filepath.Join(dir, "scheduler-certs"),
		"--profiling=false",
		"--v=0",
	})
	return cmd.Execute()
}
