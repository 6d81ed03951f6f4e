"""One real node joined to the stack's mgmt cluster: `scripts/stack node up|down`.

A kubelet built from the harness module (harness.kubelet) runs real containers through
Debian's containerd and runc, with a configuration, socket, root and state of its own under
.stack/node; mgmt gains a scheduler while the node is up. The recipe and its caveats are
those of real-node.md (docs/stack.md "Real node"): containerd's restrict_oom_score_adj
(the VM refuses negative oom_score_adj), the kubelet's failCgroupV1: false, anonymous
kubelet authentication (the harness apiserver has no kubelet client certificate) and the
system:node ClusterRoleBinding (mgmt authorizes with RBAC only).

The node is tainted (TAINT) and labelled (LABEL): only pods that ask for it run there.
Before the kubelet first starts, the host's state goes to .stack/host-before.json
(host_state.py); `down` and the stack's next `up`/`down` restore it. One real node per
machine: the owner's state file is named under the shared cache's locks.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

from tests.stack import clusters, harness, host_state, procs
from tests.stack.exclusive import exclusive
from tests.stack.paths import cache_dir, stack_dir

OPT_OUT_VAR = "STACK_REAL_NODE"
LABEL = "scipian.io/real-node"
TAINT = "scipian.io/real-node"
BRIDGE = "scipian0"
SUBNET = "10.244.77.0/24"
PAUSE_IMAGE = "localhost/scipian/pause:1"
CNI_BIN = Path("/usr/lib/cni")
RUNC = "/usr/sbin/runc"
BINDING = "scipian-real-node"
PROCS = ("node-containerd", "node-kubelet", "mgmt-scheduler")
READY_TIMEOUT = 120.0
DRAIN_TIMEOUT = 30.0


class Unavailable(Exception):
    """This host cannot run the real node; the message says why (a test skips with it)."""


def node_dir() -> Path:
    return stack_dir() / "node"


def before_file() -> Path:
    return stack_dir() / "host-before.json"


def socket_path() -> Path:
    return node_dir() / "containerd" / "containerd.sock"


def _owner_file() -> Path:
    return cache_dir() / "locks" / "real-node.json"


def name() -> str:
    """The node's name: the host's, which must resolve (the apiserver dials it)."""
    return socket.gethostname()


def unavailable_reason() -> str | None:
    """Why this host cannot run the real node, or None."""
    if os.environ.get(OPT_OUT_VAR) == "0":
        return f"{OPT_OUT_VAR}=0 opts out of the real node"
    if os.geteuid() != 0:
        return "the real node needs root (the kubelet, containerd and runc run as root)"
    path = f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin"
    missing = [
        t for t in ("containerd", "ctr", "runc", "nft", "ip") if not shutil.which(t, path=path)
    ]
    missing += [p for p in ("bridge", "host-local", "loopback") if not (CNI_BIN / p).exists()]
    if missing:
        return f"the real node needs {', '.join(missing)}: run scripts/bootstrap"
    try:
        socket.gethostbyname(name())
    except OSError:
        return f"the host name {name()!r} does not resolve (the apiserver dials the node by it)"
    return None


def running() -> bool:
    pids = procs.tracked()
    return all(n in pids and procs.alive(pids[n]) for n in PROCS[:2])


def ctr(*args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ctr", f"--address={socket_path()}", "--namespace=k8s.io", *args],
        capture_output=True,
        text=True,
        check=check,
        timeout=timeout,
    )


def up(images: tuple[tuple[str, Path], ...] = ()) -> dict[str, float]:
    """Starts the node on the running stack (or finds it up) and imports `images`
    ((name, OCI archive) pairs); returns timings in seconds. Raises Unavailable."""
    reason = unavailable_reason()
    if reason:
        raise Unavailable(reason)
    if not clusters.admin_kubeconfig("mgmt").exists():
        raise Unavailable("the stack is not running (scripts/stack up)")
    timings: dict[str, float] = {}
    with exclusive("real-node"):
        if not running():
            _take_ownership()
            _stop_processes()
            if before_file().exists():  # a crashed run's: restore before saving anew
                _restore(quiet=True)
            timings = _start()
        for ref, archive in images:
            started = time.monotonic()
            import_image(ref, archive)
            timings[f"import {ref}"] = time.monotonic() - started
    return timings


def import_image(ref: str, archive: Path) -> None:
    """Imports an OCI archive (whose ref.name is `ref`) unless containerd holds `ref` with the
    same manifest already (its root is kept across runs: a first import of the backend's
    image takes ~40 s). The kubelet's GC thresholds keep it (no registry to pull it again);
    a replaced image's content is collected by containerd."""
    if _held_digest(ref) == _archive_digest(archive):
        return
    ctr("images", "import", str(archive))
    if not ctr("images", "ls", "-q", f"name=={ref}").stdout.strip():
        names = ctr("images", "ls", "-q").stdout.split()
        raise RuntimeError(f"node: {archive} did not import as {ref} (containerd has {names})")


def _held_digest(ref: str) -> str | None:
    for line in ctr("images", "ls", f"name=={ref}").stdout.splitlines()[1:]:
        fields = line.split()
        if fields and fields[0] == ref:
            return fields[2]
    return None


def _archive_digest(archive: Path) -> str:
    with tarfile.open(archive) as tar:
        member = tar.extractfile("index.json")
        if member is None:
            raise RuntimeError(f"node: {archive} has no index.json")
        index = json.load(member)
    return str(index["manifests"][0]["digest"])


def containerd_root() -> Path:
    """Images and snapshots, kept across runs and checkouts (one real node per machine)."""
    return cache_dir() / "node" / "containerd-root"


def down(quiet: bool = False) -> list[str]:
    """Stops the node (its pods first, while mgmt still answers) and restores the host.
    Returns the problems the restore met."""
    with exclusive("real-node"):
        if running():
            _drain()
        _stop_processes()
        problems = _restore(quiet) if before_file().exists() else []
        _release_ownership()
    return problems


def _take_ownership() -> None:
    owner = _owner_file()
    owner.parent.mkdir(parents=True, exist_ok=True)
    if owner.exists():
        held = json.loads(owner.read_text())
        theirs = Path(held.get("before", ""))
        if held.get("stackDir") != str(stack_dir()) and theirs.exists():
            if any(procs.alive(p) for p in held.get("pids", [])):
                raise Unavailable(
                    f"the real node belongs to the stack in {held['stackDir']}: "
                    "`scripts/stack node down` there first"
                )
            problems = host_state.restore(theirs)  # that stack crashed: undo its changes
            for p in problems:
                print(f"stack: node: {p}", file=sys.stderr)
    owner.write_text(json.dumps({"stackDir": str(stack_dir()), "before": str(before_file())}))


def _release_ownership() -> None:
    owner = _owner_file()
    if owner.exists() and json.loads(owner.read_text()).get("stackDir") == str(stack_dir()):
        owner.unlink(missing_ok=True)


def _record_pids() -> None:
    owner = _owner_file()
    held = json.loads(owner.read_text())
    pids = procs.tracked()
    held["pids"] = [pids[n] for n in PROCS[:2] if n in pids]
    owner.write_text(json.dumps(held))


def _start() -> dict[str, float]:
    timings: dict[str, float] = {}
    started = time.monotonic()
    kubelet = harness.kubelet()
    from tests import tools

    pause = tools.pause()
    timings["build"] = time.monotonic() - started
    d = node_dir()
    shutil.rmtree(d, ignore_errors=True)
    for sub in ("containerd", "cni/net.d", "cni/ipam", "kubelet/root", "kubelet/pki", "images"):
        (d / sub).mkdir(parents=True, mode=0o700)
    _write_containerd_config(d)
    _write_cni_config(d)
    kubelet_port = _free_port()
    healthz_port = _free_port()
    _write_kubelet_config(d, kubelet_port, healthz_port)
    _write_node_kubeconfig(d)
    clusters.apply("mgmt", json.dumps(_node_binding()))
    host_state.save(
        before_file(), BRIDGE, {"nodeDir": str(d), "mountRoots": [str(d), str(containerd_root())]}
    )
    started = time.monotonic()
    procs.spawn("node-containerd", ["containerd", f"--config={d / 'containerd' / 'config.toml'}"])
    _wait(lambda: ctr("version", check=False).returncode == 0, 30, "containerd")
    import_image(PAUSE_IMAGE, _pause_archive(pause, d / "images"))
    timings["containerd and pause image"] = time.monotonic() - started
    started = time.monotonic()
    procs.spawn(
        "node-kubelet",
        [
            str(kubelet),
            f"--config={d / 'kubelet' / 'config.yaml'}",
            f"--kubeconfig={d / 'kubelet' / 'node.kubeconfig'}",
            f"--root-dir={d / 'kubelet' / 'root'}",
            f"--cert-dir={d / 'kubelet' / 'pki'}",
            f"--node-labels={LABEL}=true",
            "--v=1",
        ],
    )
    if "mgmt-scheduler" not in procs.tracked():
        procs.spawn(
            "mgmt-scheduler",
            [
                str(harness.build(verbose=False)),
                "scheduler",
                f"--dir={clusters.cluster_dir('mgmt')}",
            ],
        )
    _record_pids()
    _wait(_ready, READY_TIMEOUT, f"node {name()} Ready")
    timings["kubelet start to node Ready"] = time.monotonic() - started
    return timings


def _ready() -> bool:
    for proc in PROCS:
        pid = procs.tracked().get(proc)
        if pid is None or not procs.alive(pid):
            raise RuntimeError(f"node: {proc} exited; see {procs.log_dir() / (proc + '.log')}")
    out = clusters.kubectl_run("mgmt", "get", "node", name(), "-o", "json", check=False)
    if out.returncode != 0:
        return False
    conds = json.loads(out.stdout).get("status", {}).get("conditions", [])
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)


def _drain() -> None:
    """Deletes the node's pods so the kubelet stops them (CNI DEL included), then the Node."""
    node = name()
    clusters.kubectl_run("mgmt", "cordon", node, check=False)  # no replacements land here
    clusters.kubectl_run(
        "mgmt", "delete", "pods", "--all-namespaces", f"--field-selector=spec.nodeName={node}",
        "--grace-period=1", "--wait=false", check=False,
    )  # fmt: skip
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while time.monotonic() < deadline:
        tasks = ctr("tasks", "ls", "-q", check=False, timeout=30)
        if tasks.returncode != 0 or not tasks.stdout.strip():
            break
        time.sleep(0.5)
    clusters.kubectl_run("mgmt", "delete", "node", node, "--wait=false", check=False)
    clusters.kubectl_run("mgmt", "delete", "clusterrolebinding", BINDING, check=False)


def _stop_processes() -> None:
    pids = procs.tracked()
    for proc in ("mgmt-scheduler", "node-kubelet", "node-containerd"):
        if proc in pids:
            procs.stop(proc, pids[proc])


def _restore(quiet: bool) -> list[str]:
    problems = host_state.restore(before_file())
    for p in problems:
        print(f"stack: node: {p}", file=sys.stderr)
    if not quiet:
        print("stack: node down, host restored", file=sys.stderr)
    return problems


def _wait(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"node: {what} not reached after {timeout:.0f}s")
        time.sleep(0.2)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _write_containerd_config(d: Path) -> None:
    c = d / "containerd"
    containerd_root().mkdir(parents=True, exist_ok=True, mode=0o700)
    (c / "config.toml").write_text(f"""version = 2
root = "{containerd_root()}"
state = "{c / "state"}"

[grpc]
  address = "{c / "containerd.sock"}"

[ttrpc]
  address = "{c / "containerd.sock.ttrpc"}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  # The VM denies negative oom_score_adj writes (no CAP_SYS_RESOURCE): without this every
  # sandbox fails with "can't get final child's PID from pipe: EOF".
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  enable_selinux = false
  disable_apparmor = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "{RUNC}"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN}"
    conf_dir = "{d / "cni" / "net.d"}"
    max_conf_num = 1
""")


def _write_cni_config(d: Path) -> None:
    conf = {
        "cniVersion": "1.0.0",
        "name": "scipian",
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": SUBNET}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(d / "cni" / "ipam"),
                },
            }
        ],
    }
    (d / "cni" / "net.d" / "10-scipian.conflist").write_text(json.dumps(conf, indent=2))


def _write_kubelet_config(d: Path, port: int, healthz_port: int) -> None:
    k = d / "kubelet"
    ca = clusters.cluster_dir("mgmt") / "pki" / "ca.crt"
    sock = f"unix://{socket_path()}"
    config = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "failCgroupV1": False,  # the VM's cgroups are v1 (deprecated, still supported)
        "cgroupDriver": "cgroupfs",  # no systemd
        "failSwapOn": False,
        "containerRuntimeEndpoint": sock,
        "imageServiceEndpoint": sock,
        "address": "127.0.0.1",
        "port": port,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": healthz_port,
        "readOnlyPort": 0,
        "podLogsDir": str(k / "pod-logs"),
        # The harness apiserver calls the kubelet (logs, exec) without a client certificate.
        "authentication": {
            "anonymous": {"enabled": True},
            "webhook": {"enabled": False},
            "x509": {"clientCAFile": str(ca)},
        },
        "authorization": {"mode": "AlwaysAllow"},
        "rotateCertificates": False,
        "serverTLSBootstrap": False,
        "registerNode": True,
        "registerWithTaints": [{"key": TAINT, "value": "true", "effect": "NoSchedule"}],
        # Never GC the imported images: there is no registry to pull them again.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        "resolvConf": "/etc/resolv.conf",
        "maxPods": 50,
    }
    (k / "config.yaml").write_text(json.dumps(config, indent=2))


def _write_node_kubeconfig(d: Path) -> None:
    """A client certificate for system:node:<name> in group system:nodes, signed by mgmt's CA."""
    k = d / "kubelet"
    pki = clusters.cluster_dir("mgmt") / "pki"
    key, csr, crt, ext = (k / n for n in ("node.key", "node.csr", "node.crt", "node.ext"))
    ext.write_text(
        "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
    )
    subprocess.run(
        ["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-subj", f"/O=system:nodes/CN=system:node:{name()}",
         "-out", str(csr)],
        capture_output=True,
        check=True,
    )  # fmt: skip
    subprocess.run(
        ["openssl", "x509", "-req", "-in", str(csr), "-CA", str(pki / "ca.crt"),
         "-CAkey", str(pki / "ca.key"), "-CAcreateserial", "-CAserial", str(k / "ca.srl"),
         "-days", "30", "-extfile", str(ext), "-out", str(crt)],
        capture_output=True,
        check=True,
    )  # fmt: skip
    admin = clusters.admin_kubeconfig("mgmt").read_text()
    server = next(
        line.split("server:", 1)[1].strip() for line in admin.splitlines() if "server:" in line
    )

    def b64(p: Path) -> str:
        return base64.b64encode(p.read_bytes()).decode()

    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "mgmt",
                "cluster": {"server": server, "certificate-authority-data": b64(pki / "ca.crt")},
            }
        ],
        "users": [
            {
                "name": "node",
                "user": {"client-certificate-data": b64(crt), "client-key-data": b64(key)},
            }
        ],
        "contexts": [{"name": "mgmt", "context": {"cluster": "mgmt", "user": "node"}}],
        "current-context": "mgmt",
    }
    (k / "node.kubeconfig").write_text(json.dumps(kubeconfig))
    (k / "node.kubeconfig").chmod(0o600)


def _node_binding() -> dict[str, object]:
    """mgmt authorizes with RBAC only (no Node authorizer): the nodes group gets system:node."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": BINDING, "labels": {LABEL: "true"}},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "system:node",
        },
        "subjects": [
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:nodes"}
        ],
    }


def _pause_archive(pause: Path, out: Path) -> Path:
    """The sandbox image: the static pause binary alone, as an OCI archive (buildah)."""
    from tools import image

    return image.scratch_archive(pause, PAUSE_IMAGE, out / "pause.tar")


def main(argv: list[str]) -> int:
    usage = "usage: scripts/stack node up|down"
    if argv == ["up"]:
        try:
            timings = up()
        except Unavailable as e:
            print(f"stack: node: {e}", file=sys.stderr)
            return 1
        for what, seconds in timings.items():
            print(f"stack: node: {what}: {seconds:.1f}s", file=sys.stderr)
        print(f"READY {name()}")
        return 0
    if argv == ["down"]:
        return 1 if down() else 0
    print(usage, file=sys.stderr)
    return 2
