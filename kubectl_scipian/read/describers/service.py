"""Service and Ingress (both print endpoints from EndpointSlices)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kubectl_scipian.read.describers.events import describe_events
from kubectl_scipian.read.describers.fields import (
    Obj,
    format_labels,
    header,
    print_annotations,
    print_labels,
)
from kubectl_scipian.read.errors import StatusError

if TYPE_CHECKING:
    from kubectl_scipian.read.describers.output import Out
    from kubectl_scipian.read.discovery import Resource
    from kubectl_scipian.read.session import Session

SERVICE_NAME_LABEL = "kubernetes.io/service-name"


def endpoint_slices(session: Session, namespace: str, service: str) -> list[Obj]:
    path = f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices"
    doc = session.client.get_json(path, {"labelSelector": f"{SERVICE_NAME_LABEL}={service}"})
    return list(doc.get("items") or [])


def _host_port(addr: str, port: int) -> str:
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"


def format_endpoint_slices(slices: list[Obj], ports: set[str] | None) -> str:
    """formatEndpointSlices: up to three ready addresses, then `+ N more...`."""
    if not slices:
        return "<none>"
    out: list[str] = []
    limit, more, count = 3, False, 0

    def ready(e: Obj) -> bool:
        return (e.get("conditions") or {}).get("ready") is not False

    for s in slices:
        endpoints = s.get("endpoints") or []
        if not s.get("ports"):
            for e in endpoints:
                if len(out) == limit:
                    more = True
                if not ready(e):
                    continue
                if not more:
                    out.append(str((e.get("addresses") or [""])[0]))
                count += 1
            continue
        for p in s["ports"]:
            if ports is not None and (p.get("name") or "") not in ports:
                continue
            for e in endpoints:
                if len(out) == limit:
                    more = True
                if not ready(e):
                    continue
                if not more:
                    out.append(
                        _host_port(str((e.get("addresses") or [""])[0]), int(p.get("port") or 0))
                    )
                count += 1
    text = ",".join(out)
    return f"{text} + {count - limit} more..." if more else text


def _lb_ingress(items: list[Obj]) -> str:
    parts = []
    for i in items:
        if i.get("ip"):
            parts.append(i["ip"] + (f" ({i['ipMode']})" if i.get("ipMode") else ""))
        else:
            parts.append(str(i.get("hostname") or ""))
    return ", ".join(parts)


def service(session: Session, res: Resource, obj: Obj, w: Out, events: bool) -> None:
    meta, spec, status = (obj.get(k) or {} for k in ("metadata", "spec", "status"))
    try:
        slices = endpoint_slices(session, str(meta.get("namespace", "")), str(meta.get("name", "")))
    except StatusError:
        slices = []
    header(w, obj)
    print_labels(w, "Labels", meta.get("labels"))
    print_annotations(w, "Annotations", meta.get("annotations"))
    w.write(0, f"Selector:\t{format_labels(spec.get('selector'))}\n")
    w.write(0, f"Type:\t{spec.get('type', '')}\n")
    if spec.get("ipFamilyPolicy") is not None:
        w.write(0, f"IP Family Policy:\t{spec['ipFamilyPolicy']}\n")
    w.write(0, f"IP Families:\t{','.join(spec.get('ipFamilies') or []) or '<none>'}\n")
    w.write(0, f"IP:\t{spec.get('clusterIP', '')}\n")
    w.write(0, f"IPs:\t{','.join(spec.get('clusterIPs') or []) or '<none>'}\n")
    if spec.get("externalIPs"):
        w.write(0, f"External IPs:\t{','.join(spec['externalIPs'])}\n")
    if spec.get("loadBalancerIP"):
        w.write(0, f"Desired LoadBalancer IP:\t{spec['loadBalancerIP']}\n")
    if spec.get("externalName"):
        w.write(0, f"External Name:\t{spec['externalName']}\n")
    ingress = (status.get("loadBalancer") or {}).get("ingress") or []
    if ingress:
        w.write(0, f"LoadBalancer Ingress:\t{_lb_ingress(ingress)}\n")
    for p in spec.get("ports") or []:
        name = p.get("name") or "<unset>"
        proto = p.get("protocol", "")
        w.write(0, f"Port:\t{name}\t{p.get('port', 0)}/{proto}\n")
        w.write(0, f"TargetPort:\t{p.get('targetPort', 0)}/{proto}\n")
        if p.get("appProtocol") is not None:
            w.write(0, f"AppProtocol:\t{p['appProtocol']}\n")
        if p.get("nodePort"):
            w.write(0, f"NodePort:\t{name}\t{p['nodePort']}/{proto}\n")
        w.write(0, f"Endpoints:\t{format_endpoint_slices(slices, {p.get('name') or ''})}\n")
    w.write(0, f"Session Affinity:\t{spec.get('sessionAffinity', '')}\n")
    if spec.get("externalTrafficPolicy"):
        w.write(0, f"External Traffic Policy:\t{spec['externalTrafficPolicy']}\n")
    if spec.get("internalTrafficPolicy") is not None:
        w.write(0, f"Internal Traffic Policy:\t{spec['internalTrafficPolicy']}\n")
    if spec.get("healthCheckNodePort"):
        w.write(0, f"HealthCheck NodePort:\t{spec['healthCheckNodePort']}\n")
    if spec.get("loadBalancerSourceRanges"):
        w.write(0, f"LoadBalancer Source Ranges:\t{','.join(spec['loadBalancerSourceRanges'])}\n")
    if spec.get("trafficDistribution") is not None:
        w.write(0, f"Traffic Distribution:\t{spec['trafficDistribution']}\n")
    if events:
        describe_events(session, obj, w, res.kind)


# --- Ingress ------------------------------------------------------------------------------------


def _backend_port(port: dict[str, Any]) -> str:
    return str(port.get("number")) if port.get("number") else str(port.get("name") or "")


def _backend(session: Session, ns: str, backend: Obj) -> str:
    svc = backend.get("service")
    if svc is not None:
        port = svc.get("port") or {}
        text = f"{svc.get('name', '')}:{_backend_port(port)}"
        try:
            slices = endpoint_slices(session, ns, str(svc.get("name", "")))
            found = session.client.get_json(
                f"/api/v1/namespaces/{ns}/services/{svc.get('name', '')}"
            )
        except StatusError as e:
            return f"{text} (<error: {e.text}>)"
        name = ""
        for sp in (found.get("spec") or {}).get("ports") or []:
            by_number = port.get("number") and port.get("number") == sp.get("port")
            if by_number or (port.get("name") and port.get("name") == sp.get("name")):
                name = sp.get("name") or ""
        return f"{text} ({format_endpoint_slices(slices, {name})})"
    ref = backend.get("resource")
    if ref is not None:
        group = ref.get("apiGroup") if ref.get("apiGroup") is not None else "<none>"
        return f"APIGroup: {group}, Kind: {ref.get('kind', '')}, Name: {ref.get('name', '')}"
    return ""


def ingress(session: Session, res: Resource, obj: Obj, w: Out, events: bool) -> None:
    meta, spec, status = (obj.get(k) or {} for k in ("metadata", "spec", "status"))
    ns = str(meta.get("namespace", ""))
    w.write(0, f"Name:\t{meta.get('name', '')}\n")
    print_labels(w, "Labels", meta.get("labels"))
    w.write(0, f"Namespace:\t{ns}\n")
    addresses = {
        i.get("ip") or i.get("hostname")
        for i in (status.get("loadBalancer") or {}).get("ingress") or []
        if i.get("ip") or i.get("hostname")
    }
    w.write(0, f"Address:\t{','.join(sorted(str(a) for a in addresses))}\n")
    w.write(0, f"Ingress Class:\t{spec.get('ingressClassName') or '<none>'}\n")
    default = "<default>"
    if spec.get("defaultBackend") is not None:
        default = _backend(session, ns, spec["defaultBackend"])
    w.write(0, f"Default backend:\t{default}\n")
    if spec.get("tls"):
        w.write(0, "TLS:\n")
        for t in spec["tls"]:
            hosts = ",".join(t.get("hosts") or [])
            if not t.get("secretName"):
                w.write(1, f"SNI routes {hosts}\n")
            else:
                w.write(1, f"{t['secretName']} terminates {hosts}\n")
    w.write(0, "Rules:\n  Host\tPath\tBackends\n")
    w.write(1, "----\t----\t--------\n")
    count = 0
    for rule in spec.get("rules") or []:
        if rule.get("http") is None:
            continue
        count += 1
        w.write(1, f"{rule.get('host') or '*'}\t\n")
        for path in rule["http"].get("paths") or []:
            backend = _backend(session, ns, path.get("backend") or {})
            w.write(2, f"\t{path.get('path', '')} \t{backend}\n")
    if count == 0:
        w.write(1, f"*\t*\t{default}\n")
    print_annotations(w, "Annotations", meta.get("annotations"))
    if events:
        describe_events(session, obj, w, res.kind)


def endpoints(session: Session, res: Resource, obj: Obj, w: Out, events: bool) -> None:
    meta = obj.get("metadata") or {}
    header(w, obj)
    print_labels(w, "Labels", meta.get("labels"))
    print_annotations(w, "Annotations", meta.get("annotations"))
    w.write(0, "Subsets:\n")
    for subset in obj.get("subsets") or []:
        for field, title in (
            ("addresses", "Addresses"),
            ("notReadyAddresses", "NotReadyAddresses"),
        ):
            ips = ",".join(str(a.get("ip", "")) for a in subset.get(field) or [])
            w.write(1, f"{title}:\t{ips or '<none>'}\n")
        if subset.get("ports"):
            w.write(1, "Ports:\n")
            w.write(2, "Name\tPort\tProtocol\n")
            w.write(2, "----\t----\t--------\n")
            for p in subset["ports"]:
                w.write(
                    2,
                    f"{p.get('name') or '<unset>'}\t{p.get('port', 0)}\t{p.get('protocol', '')}\n",
                )
        w.write(0, "\n")
    if events:
        describe_events(session, obj, w, res.kind)
