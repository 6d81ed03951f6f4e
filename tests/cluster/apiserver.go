package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: None
  resources: [{group: coordination.k8s.io, resources: [leases]}]
- level: None
  verbs: [watch]
- level: None
  userGroups: [system:nodes]
- level: Metadata
`

// freePort asks the kernel for an unused loopback port. Another process may
// take it before we bind it; the window is small and the caller fails loudly.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func runAPIServer(args []string) error {
	fs := flag.NewFlagSet("apiserver", flag.ContinueOnError)
	dir := fs.String("dir", "", "cluster state directory")
	name := fs.String("name", "cluster", "cluster name (kubeconfig context)")
	port := fs.Int("port", 0, "secure port (0: pick a free one)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("--dir is required")
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return err
	}
	// A kubeconfig left by an earlier run must not be mistaken for readiness.
	kubeconfig := filepath.Join(*dir, "admin.kubeconfig")
	_ = os.Remove(kubeconfig)

	p := newPKI(*dir)
	if err := p.ensure(*name); err != nil {
		return fmt.Errorf("pki: %w", err)
	}

	etcdURL, err := startEtcd(filepath.Join(*dir, "etcd"))
	if err != nil {
		return fmt.Errorf("etcd: %w", err)
	}

	if *port == 0 {
		if *port, err = freePort(); err != nil {
			return err
		}
	}
	policy := filepath.Join(*dir, "audit-policy.yaml")
	if err := os.WriteFile(policy, []byte(auditPolicy), 0o600); err != nil {
		return err
	}
	cmd := app.NewAPIServerCommand()
	cmd.SetArgs([]string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", *port),
		"--tls-cert-file=" + p.ServingCert,
		"--tls-private-key-file=" + p.ServingKey,
		"--client-ca-file=" + p.CACert,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + p.SAPub,
		"--service-account-signing-key-file=" + p.SAKey,
		"--authorization-mode=RBAC",
		"--service-cluster-ip-range=10.0.0.0/24",
		// Loopback is not a valid endpoint address for the kubernetes Service,
		// so the endpoint reconciler is off, as in Kubernetes' own integration tests.
		"--endpoint-reconciler-type=none",
		"--allow-privileged=true",
		"--profiling=false",
		"--audit-log-path=" + filepath.Join(*dir, "audit.log"),
		"--audit-policy-file=" + policy,
		"--audit-log-maxsize=100",
		"--audit-log-maxbackup=1",
		"--cert-dir=" + filepath.Join(*dir, "pki"),
		"--v=0",
	})
	errc := make(chan error, 1)
	go func() { errc <- cmd.Execute() }()

	server := fmt.Sprintf("https://127.0.0.1:%d", *port)
	if err := waitReady(server, p, errc); err != nil {
		return err
	}
	if err := writeKubeconfig(kubeconfig, *name, server, p); err != nil {
		return err
	}
	fmt.Printf("READY %s\n", server)
	return <-errc
}

func startEtcd(dataDir string) (string, error) {
	clientPort, err := freePort()
	if err != nil {
		return "", err
	}
	peerPort, err := freePort()
	if err != nil {
		return "", err
	}
	cfg := embed.NewConfig()
	cfg.Dir = dataDir
	cu, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", clientPort))
	pu, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", peerPort))
	cfg.ListenClientUrls = []url.URL{*cu}
	cfg.AdvertiseClientUrls = []url.URL{*cu}
	cfg.ListenPeerUrls = []url.URL{*pu}
	cfg.AdvertisePeerUrls = []url.URL{*pu}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.UnsafeNoFsync = true // test data: durability is not worth the fsync cost
	cfg.LogLevel = "error"
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return "", err
	}
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(60 * time.Second):
		e.Close()
		return "", errors.New("not ready after 60s")
	}
	return cu.String(), nil
}

func waitReady(server string, p pki, errc <-chan error) error {
	client, err := adminHTTPClient(p)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, server+"/readyz", nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-errc:
			return fmt.Errorf("kube-apiserver exited: %v", err)
		case <-ctx.Done():
			return errors.New("kube-apiserver not ready after 3m")
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func adminHTTPClient(p pki) (*http.Client, error) {
	cert, err := tls.LoadX509KeyPair(p.AdminCert, p.AdminKey)
	if err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(p.CACert)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}},
	}, nil
}
