"""Pod, and the pieces of a pod every workload prints: containers, volumes, the pod template."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kubectl_scipian.read.describers.events import print_events, search_events
from kubectl_scipian.read.describers.fields import (
    Obj,
    csi_attributes,
    get,
    go_bool,
    go_list,
    header,
    int_or_string,
    print_annotations,
    print_bool,
    print_controller,
    print_labels,
    print_tolerations,
    rfc1123z,
    selector_string,
    volume_fields,
)
from kubectl_scipian.read.humanize import since

if TYPE_CHECKING:
    from kubectl_scipian.read.describers.output import Out
    from kubectl_scipian.read.discovery import Resource
    from kubectl_scipian.read.session import Session

MIRROR_POD = "kubernetes.io/config.mirror"


def pod(session: Session, res: Resource, obj: Obj, w: Out, events: bool) -> None:
    spec, status, meta = obj.get("spec") or {}, obj.get("status") or {}, obj.get("metadata") or {}
    header(w, obj)
    if spec.get("priority") is not None:
        w.write(0, f"Priority:\t{spec['priority']}\n")
    if spec.get("priorityClassName"):
        w.write(0, f"Priority Class Name:\t{spec['priorityClassName']}\n")
    if spec.get("runtimeClassName"):
        w.write(0, f"Runtime Class Name:\t{spec['runtimeClassName']}\n")
    if spec.get("serviceAccountName"):
        w.write(0, f"Service Account:\t{spec['serviceAccountName']}\n")
    if not spec.get("nodeName"):
        w.write(0, "Node:\t<none>\n")
    else:
        w.write(0, f"Node:\t{spec['nodeName']}/{status.get('hostIP', '')}\n")
    if status.get("startTime"):
        w.write(0, f"Start Time:\t{rfc1123z(status['startTime'])}\n")
    print_labels(w, "Labels", meta.get("labels"))
    print_annotations(w, "Annotations", meta.get("annotations"))
    phase = status.get("phase", "")
    if meta.get("deletionTimestamp") and phase not in ("Failed", "Succeeded"):
        w.write(0, f"Status:\tTerminating (lasts {since(meta['deletionTimestamp'])})\n")
        w.write(0, f"Termination Grace Period:\t{meta.get('deletionGracePeriodSeconds', 0)}s\n")
    else:
        w.write(0, f"Status:\t{phase}\n")
    if status.get("reason"):
        w.write(0, f"Reason:\t{status['reason']}\n")
    if status.get("message"):
        w.write(0, f"Message:\t{status['message']}\n")
    seccomp = get(spec, "securityContext", "seccompProfile")
    if seccomp is not None:
        w.write(0, f"SeccompProfile:\t{seccomp.get('type', '')}\n")
        if seccomp.get("type") == "Localhost":
            w.write(0, f"LocalhostProfile:\t{seccomp.get('localhostProfile', '')}\n")
    w.write(0, f"IP:\t{status.get('podIP', '')}\n")
    pod_ips(w, status.get("podIPs"))
    controlled_by = print_controller(obj)
    if controlled_by:
        w.write(0, f"Controlled By:\t{controlled_by}\n")
    if status.get("nominatedNodeName"):
        w.write(0, f"NominatedNodeName:\t{status['nominatedNodeName']}\n")
    if spec.get("resources") is not None:
        w.write(0, "Resources:\n")
        resources(w, spec["resources"], 1)
    env = EnvResolver(obj)
    if spec.get("initContainers"):
        containers(
            w, "Init Containers", spec["initContainers"], status.get("initContainerStatuses"), env
        )
    containers(w, "Containers", spec.get("containers") or [], status.get("containerStatuses"), env)
    if spec.get("ephemeralContainers"):
        containers(
            w,
            "Ephemeral Containers",
            spec["ephemeralContainers"],
            status.get("ephemeralContainerStatuses"),
            env,
        )
    conditions = status.get("conditions") or []
    if spec.get("readinessGates"):
        w.write(0, "Readiness Gates:\n  Type\tStatus\n")
        for g in spec["readinessGates"]:
            found = [c for c in conditions if c.get("type") == g.get("conditionType")]
            value = found[0].get("status", "") if found else "<none>"
            w.write(1, f"{g.get('conditionType', '')} \t{value} \n")
    if conditions:
        w.write(0, "Conditions:\n  Type\tStatus\n")
        for c in conditions:
            w.write(1, f"{c.get('type', '')} \t{c.get('status', '')} \n")
    volumes(w, spec.get("volumes"), "")
    w.write(0, f"QoS Class:\t{status.get('qosClass') or compute_qos(spec)}\n")
    print_labels(w, "Node-Selectors", spec.get("nodeSelector"))
    print_tolerations(w, "Tolerations", spec.get("tolerations"))
    topology_spread(w, spec.get("topologySpreadConstraints"), "")
    if spec.get("schedulingGroup") is not None:
        scheduling_group(w, spec["schedulingGroup"], "")
    if events:
        annotations = meta.get("annotations") or {}
        uid = annotations.get(MIRROR_POD) if MIRROR_POD in annotations else None
        print_events(search_events(session, obj, None, uid), w)


def pod_ips(w: Out, ips: list[Obj] | None, space: str = "") -> None:
    if not ips:
        w.write(0, f"{space}IPs:\t<none>\n")
        return
    w.write(0, f"{space}IPs:\n")
    for ip in ips:
        w.write(1, f"IP:\t{ip.get('ip', '')}\n")


def scheduling_group(w: Out, group: Obj, space: str) -> None:
    w.write(0, f"{space}SchedulingGroup:\n")
    w.write(1, f"PodGroupName:\t{group.get('podGroupName', '')}\n")


def topology_spread(w: Out, tscs: list[Obj] | None, space: str) -> None:
    if not tscs:
        return
    w.write(0, f"{space}Topology Spread Constraints:\t")
    for i, t in enumerate(sorted(tscs, key=lambda t: str(t.get("topologyKey", "")))):
        if i:
            w.write(0, space + "\t")
        line = (
            f"{t.get('topologyKey', '')}:{t.get('whenUnsatisfiable', '')}"
            f" when max skew {t.get('maxSkew', 0)} is exceeded"
        )
        if t.get("labelSelector") is not None:
            line += f" for selector {selector_string(t['labelSelector']) or '<none>'}"
        w.write(0, line + "\n")


def compute_qos(spec: Obj) -> str:
    """ComputePodQOS for the rare pod whose status has no qosClass."""
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    guaranteed = True
    for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        res = c.get("resources") or {}
        for name in ("cpu", "memory"):
            if name in (res.get("requests") or {}) and not _zero(res["requests"][name]):
                requests[name] = res["requests"][name]
            if name in (res.get("limits") or {}) and not _zero(res["limits"][name]):
                limits[name] = res["limits"][name]
        if not all(n in (res.get("limits") or {}) for n in ("cpu", "memory")):
            guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    if guaranteed and requests == {k: v for k, v in limits.items() if k in requests}:
        return "Guaranteed"
    return "Burstable"


def _zero(q: str) -> bool:
    return q.strip("0.") in ("", "m", "k", "Ki", "M", "Mi", "G", "Gi")


# --- containers ---------------------------------------------------------------------------------


class EnvResolver:
    """EnvValueRetriever: the value a fieldRef env var takes in this pod.

    kubectl converts the field path with client-go's scheme, which knows only
    metadata.name and metadata.namespace for pods: every other path prints empty.
    """

    def __init__(self, pod_obj: Obj | None) -> None:
        self.pod = pod_obj

    def __call__(self, path: str) -> str:
        if self.pod is None or path not in ("metadata.name", "metadata.namespace"):
            return ""
        return str((self.pod.get("metadata") or {}).get(path.split(".")[1]) or "")


def containers(
    w: Out,
    label: str,
    items: list[Obj],
    statuses: list[Obj] | None,
    env: EnvResolver | None,
    space: str = "",
) -> None:
    by_name = {s.get("name"): s for s in statuses or []}
    w.write(0, f"{space}{label}:{'' if items else ' <none>'}\n")
    for c in items:
        status = by_name.get(c.get("name"))
        _basic(w, c, status, space)
        _command(w, c)
        if status is not None:
            _state(w, status)
        resources(w, c.get("resources"), 2)
        _probes(w, c)
        if c.get("envFrom"):
            _env_from(w, c)
        _env(w, c, env)
        _mounts(w, c)


def _ports(ports: list[Obj], field: str) -> str:
    out = []
    for p in ports:
        s = f"{p.get(field, 0)}/{p.get('protocol', '')}"
        if p.get("name"):
            s += f" ({p['name']})"
        out.append(s)
    return ", ".join(out)


def _basic(w: Out, c: Obj, status: Obj | None, space: str) -> None:
    w.write(1, f"{' ' if space else ''}{c.get('name', '')}:\n")
    if status is not None:
        w.write(2, f"Container ID:\t{status.get('containerID', '')}\n")
    w.write(2, f"Image:\t{c.get('image', '')}\n")
    if status is not None:
        w.write(2, f"Image ID:\t{status.get('imageID', '')}\n")
    ports = _ports(c.get("ports") or [], "containerPort")
    if "," in ports:
        w.write(2, f"Ports:\t{ports}\n")
    else:
        w.write(2, f"Port:\t{ports or '<none>'}\n")
    host_ports = _ports(c.get("ports") or [], "hostPort")
    if "," in host_ports:
        w.write(2, f"Host Ports:\t{host_ports}\n")
    else:
        w.write(2, f"Host Port:\t{host_ports or '<none>'}\n")
    seccomp = get(c, "securityContext", "seccompProfile")
    if seccomp is not None:
        w.write(2, f"SeccompProfile:\t{seccomp.get('type', '')}\n")
        if seccomp.get("type") == "Localhost":
            w.write(3, f"LocalhostProfile:\t{seccomp.get('localhostProfile', '')}\n")


def _command(w: Out, c: Obj) -> None:
    for field, title in (("command", "Command"), ("args", "Args")):
        if c.get(field):
            w.write(2, f"{title}:\n")
            for part in c[field]:
                for s in str(part).split("\n"):
                    w.write(3, f"{s}\n")


def resources(w: Out, res: Obj | None, level: int) -> None:
    if res is None:
        return
    for field, title in (("limits", "Limits"), ("requests", "Requests")):
        values = res.get(field) or {}
        if values:
            w.write(level, f"{title}:\n")
        for name in sorted(values):
            w.write(level + 1, f"{name}:\t{values[name]}\n")


def _state(w: Out, status: Obj) -> None:
    describe_state(w, "State", status.get("state") or {})
    last = status.get("lastState") or {}
    if last.get("terminated") is not None:
        describe_state(w, "Last State", last)
    w.write(2, f"Ready:\t{print_bool(status.get('ready'))}\n")
    w.write(2, f"Restart Count:\t{status.get('restartCount', 0)}\n")


def describe_state(w: Out, name: str, state: Obj) -> None:
    if state.get("running") is not None:
        w.write(2, f"{name}:\tRunning\n")
        w.write(3, f"Started:\t{rfc1123z(state['running'].get('startedAt'))}\n")
    elif state.get("waiting") is not None:
        w.write(2, f"{name}:\tWaiting\n")
        if state["waiting"].get("reason"):
            w.write(3, f"Reason:\t{state['waiting']['reason']}\n")
    elif state.get("terminated") is not None:
        t = state["terminated"]
        w.write(2, f"{name}:\tTerminated\n")
        if t.get("reason"):
            w.write(3, f"Reason:\t{t['reason']}\n")
        if t.get("message"):
            w.write(3, f"Message:\t{t['message']}\n")
        w.write(3, f"Exit Code:\t{t.get('exitCode', 0)}\n")
        if (t.get("signal") or 0) > 0:
            w.write(3, f"Signal:\t{t['signal']}\n")
        w.write(3, f"Started:\t{rfc1123z(t.get('startedAt'))}\n")
        w.write(3, f"Finished:\t{rfc1123z(t.get('finishedAt'))}\n")
    else:
        w.write(2, f"{name}:\tWaiting\n")


def describe_probe(p: Obj) -> str:
    """DescribeProbe."""
    attrs = (
        f"delay={p.get('initialDelaySeconds', 0)}s timeout={p.get('timeoutSeconds', 0)}s "
        f"period={p.get('periodSeconds', 0)}s #success={p.get('successThreshold', 0)} "
        f"#failure={p.get('failureThreshold', 0)}"
    )
    if p.get("exec") is not None:
        return f"exec {go_list(p['exec'].get('command') or [])} {attrs}"
    if p.get("httpGet") is not None:
        h = p["httpGet"]
        port, host = int_or_string(h.get("port")), str(h.get("host") or "")
        if port:
            host = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        path = str(h.get("path") or "")
        if path and not path.startswith("/") and host:
            path = "/" + path
        scheme = str(h.get("scheme") or "").lower()
        url = (f"{scheme}:" if scheme else "") + (f"//{host}" if host or scheme else "") + path
        return f"http-get {url} {attrs}"
    if p.get("tcpSocket") is not None:
        t = p["tcpSocket"]
        return f"tcp-socket {t.get('host') or ''}:{int_or_string(t.get('port'))} {attrs}"
    if p.get("grpc") is not None:
        g = p["grpc"]
        return f"grpc <pod>:{g.get('port', 0)} {g.get('service') or ''} {attrs}"
    return f"unknown {attrs}"


def _probes(w: Out, c: Obj) -> None:
    for field, title in (
        ("livenessProbe", "Liveness"),
        ("readinessProbe", "Readiness"),
        ("startupProbe", "Startup"),
    ):
        if c.get(field) is not None:
            w.write(2, f"{title}:\t{describe_probe(c[field])}\n")


def _env_from(w: Out, c: Obj) -> None:
    w.write(2, "Environment Variables from:\n")
    for e in c.get("envFrom") or []:
        source, name, optional = "", "", False
        if e.get("configMapRef") is not None:
            source, ref = "ConfigMap", e["configMapRef"]
            name, optional = ref.get("name", ""), bool(ref.get("optional"))
        elif e.get("secretRef") is not None:
            source, ref = "Secret", e["secretRef"]
            name, optional = ref.get("name", ""), bool(ref.get("optional"))
        if e.get("prefix"):
            source += f" with prefix '{e['prefix']}'"
        w.write(3, f"{name}\t{source}\tOptional: {go_bool(optional)}\n")


def _env(w: Out, c: Obj, env: EnvResolver | None) -> None:
    items = c.get("env") or []
    w.write(2, f"Environment:{'' if items else chr(9) + '<none>'}\n")
    for e in items:
        name = e.get("name", "")
        source = e.get("valueFrom")
        if source is None:
            for i, s in enumerate(str(e.get("value") or "").split("\n")):
                w.write(3, f"{name}:\t{s}\n" if i == 0 else f"\t{s}\n")
            continue
        if source.get("fieldRef") is not None:
            ref = source["fieldRef"]
            value = env(ref.get("fieldPath", "")) if env is not None else ""
            w.write(
                3, f"{name}:\t{value} ({ref.get('apiVersion', '')}:{ref.get('fieldPath', '')})\n"
            )
        elif source.get("resourceFieldRef") is not None:
            ref = source["resourceFieldRef"]
            resource = str(ref.get("resource", ""))
            value = _resource_value(c, ref)
            if value == "0" and resource in ("limits.cpu", "limits.memory"):
                value = "node allocatable"
            w.write(3, f"{name}:\t{value} ({resource})\n")
        elif source.get("secretKeyRef") is not None:
            ref = source["secretKeyRef"]
            w.write(
                3,
                f"{name}:\t<set to the key '{ref.get('key', '')}' in secret "
                f"'{ref.get('name', '')}'>\tOptional: {go_bool(ref.get('optional'))}\n",
            )
        elif source.get("configMapKeyRef") is not None:
            ref = source["configMapKeyRef"]
            w.write(
                3,
                f"{name}:\t<set to the key '{ref.get('key', '')}' of config map "
                f"'{ref.get('name', '')}'>\tOptional: {go_bool(ref.get('optional'))}\n",
            )


def _resource_value(c: Obj, ref: Obj) -> str:
    """ExtractContainerResourceValue: the quantity over the divisor, rounded up."""
    from kubectl_scipian.read.describers import quantity as qty

    kind, _, name = str(ref.get("resource", "")).partition(".")
    value = qty.parse(str(get(c, "resources", kind, name) or "0"))
    divisor = qty.parse(str(ref.get("divisor") or "0"))
    if divisor.value == 0:
        divisor = qty.parse("1")
    if name == "cpu":
        top, bottom = value.milli(), divisor.milli()
    else:
        top, bottom = value.whole(), divisor.whole()
    if bottom == 0:
        return ""
    return str(-(-top // bottom))


def _mounts(w: Out, c: Obj) -> None:
    mounts = c.get("volumeMounts") or []
    none = "" if mounts else "\t<none>"
    w.write(2, f"Mounts:{none}\n")
    for m in sorted(mounts, key=lambda m: str(m.get("mountPath", ""))):
        flags = ["ro" if m.get("readOnly") else "rw"]
        if m.get("subPath"):
            flags.append(f'path="{m["subPath"]}"')
        w.write(3, f"{m.get('mountPath', '')} from {m.get('name', '')} ({','.join(flags)})\n")
    devices = c.get("volumeDevices") or []
    if devices:
        w.write(2, f"Devices:{none}\n")
        for d in sorted(devices, key=lambda d: str(d.get("name", ""))):
            w.write(3, f"{d.get('devicePath', '')} from {d.get('name', '')}\n")


# --- volumes ------------------------------------------------------------------------------------


def volumes(w: Out, items: list[Obj] | None, space: str) -> None:
    if not items:
        w.write(0, f"{space}Volumes:\t<none>\n")
        return
    w.write(0, f"{space}Volumes:\n")
    for v in items:
        w.write(1, f"{' ' if space else ''}{v.get('name', '')}:\n")
        _volume_source(w, v)


def _volume_source(w: Out, v: Obj) -> None:
    if v.get("hostPath") is not None:
        h = v["hostPath"]
        volume_fields(
            w,
            "HostPath (bare host directory volume)",
            [
                ("Path", h.get("path", "")),
                ("HostPathType", "<none>" if h.get("type") is None else h["type"]),
            ],
        )
    elif v.get("emptyDir") is not None:
        e = v["emptyDir"]
        limit = e.get("sizeLimit")
        volume_fields(
            w,
            "EmptyDir (a temporary directory that shares a pod's lifetime)",
            [
                ("Medium", e.get("medium", "")),
                ("SizeLimit", limit if limit and not _zero(limit) else "<unset>"),
            ],
        )
    elif v.get("secret") is not None:
        s = v["secret"]
        volume_fields(
            w,
            "Secret (a volume populated by a Secret)",
            [("SecretName", s.get("secretName", "")), ("Optional", go_bool(s.get("optional")))],
        )
    elif v.get("configMap") is not None:
        s = v["configMap"]
        volume_fields(
            w,
            "ConfigMap (a volume populated by a ConfigMap)",
            [("Name", s.get("name", "")), ("Optional", go_bool(s.get("optional")))],
        )
    elif v.get("nfs") is not None:
        s = v["nfs"]
        volume_fields(
            w,
            "NFS (an NFS mount that lasts the lifetime of a pod)",
            [
                ("Server", s.get("server", "")),
                ("Path", s.get("path", "")),
                ("ReadOnly", go_bool(s.get("readOnly"))),
            ],
        )
    elif v.get("persistentVolumeClaim") is not None:
        s = v["persistentVolumeClaim"]
        volume_fields(
            w,
            "PersistentVolumeClaim (a reference to a PersistentVolumeClaim in the same namespace)",
            [("ClaimName", s.get("claimName", "")), ("ReadOnly", go_bool(s.get("readOnly")))],
        )
    elif v.get("ephemeral") is not None:
        w.write(
            2,
            "Type:\tEphemeralVolume (an inline specification for a volume that gets created "
            "and deleted with the pod)\n",
        )
        template = v["ephemeral"].get("volumeClaimTemplate")
        if template is not None:
            from kubectl_scipian.read.describers.storage import print_claim

            claim = {"metadata": template.get("metadata") or {}, "spec": template.get("spec") or {}}
            print_claim(w.nested(2), claim, False)
    elif v.get("downwardAPI") is not None:
        w.write(
            2, "Type:\tDownwardAPI (a volume populated by information about the pod)\n    Items:\n"
        )
        for item in v["downwardAPI"].get("items") or []:
            if item.get("fieldRef") is not None:
                w.write(3, f"{item['fieldRef'].get('fieldPath', '')} -> {item.get('path', '')}\n")
            if item.get("resourceFieldRef") is not None:
                w.write(
                    3, f"{item['resourceFieldRef'].get('resource', '')} -> {item.get('path', '')}\n"
                )
    elif v.get("projected") is not None:
        w.write(
            2, "Type:\tProjected (a volume that contains injected data from multiple sources)\n"
        )
        for s in v["projected"].get("sources") or []:
            if s.get("secret") is not None:
                w.write(2, f"SecretName:\t{s['secret'].get('name', '')}\n")
                w.write(0, f"    Optional:\t{go_bool(s['secret'].get('optional'))}\n")
            elif s.get("downwardAPI") is not None:
                w.write(2, "DownwardAPI:\ttrue\n")
            elif s.get("configMap") is not None:
                w.write(2, f"ConfigMapName:\t{s['configMap'].get('name', '')}\n")
                w.write(0, f"    Optional:\t{go_bool(s['configMap'].get('optional'))}\n")
            elif s.get("serviceAccountToken") is not None:
                seconds = s["serviceAccountToken"].get("expirationSeconds", 0)
                w.write(2, f"TokenExpirationSeconds:\t{seconds}\n")
    elif v.get("csi") is not None:
        s = v["csi"]
        volume_fields(
            w,
            "CSI (a Container Storage Interface (CSI) volume source)",
            [
                ("Driver", s.get("driver", "")),
                ("FSType", s.get("fsType") or ""),
                ("ReadOnly", go_bool(s.get("readOnly"))),
            ],
        )
        csi_attributes(w, s.get("volumeAttributes"))
    elif v.get("image") is not None:
        s = v["image"]
        volume_fields(
            w,
            "Image (a container image or OCI artifact)",
            [("Reference", s.get("reference", "")), ("PullPolicy", s.get("pullPolicy", ""))],
        )
    else:
        from kubectl_scipian.read.describers.volume_sources import POD, print_source

        if not print_source(w, POD, v):
            w.write(1, "<unknown>\n")


# --- the pod template of workloads ----------------------------------------------------------------


def pod_template(w: Out, template: Obj | None) -> None:
    """DescribePodTemplate."""
    w.write(0, "Pod Template:\n")
    if template is None:
        w.write(1, "<unset>")
        return
    meta, spec = template.get("metadata") or {}, template.get("spec") or {}
    print_labels(w, "  Labels", meta.get("labels"))
    if meta.get("annotations"):
        print_annotations(w, "  Annotations", meta["annotations"])
    if spec.get("serviceAccountName"):
        w.write(1, f"Service Account:\t{spec['serviceAccountName']}\n")
    if spec.get("initContainers"):
        containers(w, "Init Containers", spec["initContainers"], None, None, "  ")
    containers(w, "Containers", spec.get("containers") or [], None, None, "  ")
    volumes(w, spec.get("volumes"), "  ")
    topology_spread(w, spec.get("topologySpreadConstraints"), "  ")
    if spec.get("priorityClassName"):
        w.write(1, f"Priority Class Name:\t{spec['priorityClassName']}\n")
    print_labels(w, "  Node-Selectors", spec.get("nodeSelector"))
    print_tolerations(w, "  Tolerations", spec.get("tolerations"))
    if spec.get("schedulingGroup") is not None:
        scheduling_group(w, spec["schedulingGroup"], "  ")
