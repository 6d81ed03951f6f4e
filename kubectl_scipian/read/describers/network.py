"""NetworkPolicy, IngressClass, EndpointSlice, ServiceCIDR and IPAddress."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kubectl_scipian.read.describers.events import describe_events
from kubectl_scipian.read.describers.fields import (
    Obj,
    format_selector,
    go_time,
    header,
    print_annotations,
    print_labels,
    rfc1123z,
)

if TYPE_CHECKING:
    from kubectl_scipian.read.describers.output import Out
    from kubectl_scipian.read.discovery import Resource
    from kubectl_scipian.read.session import Session


def _meta(w: Out, obj: Obj) -> None:
    meta = obj.get("metadata") or {}
    print_labels(w, "Labels", meta.get("labels"))
    print_annotations(w, "Annotations", meta.get("annotations"))


# --- NetworkPolicy ------------------------------------------------------------------------------


def _ports(w: Out, ports: list[Obj] | None, indent: str) -> None:
    if not ports:
        w.write(0, f"{indent}To Port: <any> (traffic allowed to all ports)\n")
        return
    for p in ports:
        proto = p.get("protocol") or "TCP"
        port = "<nil>" if p.get("port") is None else str(p["port"])
        if p.get("endPort") is None:
            w.write(0, f"{indent}To Port: {port}/{proto}\n")
        else:
            w.write(0, f"{indent}To Port Range: {port}-{p['endPort']}/{proto}\n")


def _peers(w: Out, peers: list[Obj] | None, title: str, anyone: str, indent: str) -> None:
    if not peers:
        w.write(0, f"{indent}{title}: <any> ({anyone})\n")
        return
    for peer in peers:
        w.write(0, f"{indent}{title}:\n")
        pods, namespaces, block = (
            peer.get(k) for k in ("podSelector", "namespaceSelector", "ipBlock")
        )
        if pods is not None and namespaces is not None:
            w.write(1, f"{indent}NamespaceSelector: {format_selector(namespaces)}\n")
            w.write(1, f"{indent}PodSelector: {format_selector(pods)}\n")
        elif pods is not None:
            w.write(1, f"{indent}PodSelector: {format_selector(pods)}\n")
        elif namespaces is not None:
            w.write(1, f"{indent}NamespaceSelector: {format_selector(namespaces)}\n")
        elif block is not None:
            w.write(1, f"{indent}IPBlock:\n")
            w.write(2, f"{indent}CIDR: {block.get('cidr', '')}\n")
            w.write(2, f"{indent}Except: {', '.join(block.get('except') or [])}\n")


def _rules(w: Out, rules: list[Obj] | None, direction: str, indent: str = "    ") -> None:
    """printNetworkPolicySpecIngressFrom / printNetworkPolicySpecEgressTo."""
    if not rules:
        w.write(0, f"{indent}<none> (Selected pods are isolated for {direction} connectivity)\n")
        return
    for i, rule in enumerate(rules):
        _ports(w, rule.get("ports"), indent)
        if direction == "ingress":
            _peers(w, rule.get("from"), "From", "traffic not restricted by source", indent)
        else:
            _peers(w, rule.get("to"), "To", "traffic not restricted by destination", indent)
        if i != len(rules) - 1:
            w.write(0, f"{indent}----------\n")


def network_policy(session: Session, res: Resource, obj: Obj, w: Out, events: bool) -> None:
    """describeNetworkPolicy (no events)."""
    meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
    header(w, obj)
    w.write(0, f"Created on:\t{go_time(meta.get('creationTimestamp'))}\n")
    _meta(w, obj)
    w.write(0, "Spec:\n")
    w.write(1, "PodSelector: ")
    selector = spec.get("podSelector") or {}
    if not selector.get("matchLabels") and not selector.get("matchExpressions"):
        w.write(2, "<none> (Allowing the specific traffic to all pods in this namespace)\n")
    else:
        w.write(2, f"{format_selector(selector)}\n")
    types = spec.get("policyTypes")
    for direction, field in (("ingress", "ingress"), ("egress", "egress")):
        if direction.capitalize() in (types or []):
            w.write(1, f"Allowing {direction} traffic:\n")
            _rules(w, spec.get(field), direction)
        else:
            w.write(1, f"Not affecting {direction} traffic\n")
    w.write(1, f"Policy Types: {', '.join(types) if types else '<none>'}\n")


# --- IngressClass -------------------------------------------------------------------------------


def ingress_class(session: Session, res: Resource, obj: Obj, w: Out, events: bool) -> None:
    meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
    w.write(0, f"Name:\t{meta.get('name', '')}\n")
    _meta(w, obj)
    w.write(0, f"Controller:\t{spec.get('controller', '')}\n")
    params = spec.get("parameters")
    if params is not None:
        w.write(0, "Parameters:\n")
        if params.get("apiGroup") is not None:
            w.write(1, f"APIGroup:\t{params['apiGroup']}\n")
        w.write(1, f"Kind:\t{params.get('kind', '')}\n")
        w.write(1, f"Name:\t{params.get('name', '')}\n")
    if events:
        describe_events(session, obj, w, res.kind)


# --- EndpointSlice ------------------------------------------------------------------------------


def _unset(value: object) -> str:
    return "<unset>" if value is None else str(value)


def endpoint_slice(session: Session, res: Resource, obj: Obj, w: Out, events: bool) -> None:
    header(w, obj)
    _meta(w, obj)
    w.write(0, f"AddressType:\t{obj.get('addressType', '')}\n")
    ports = obj.get("ports") or []
    if not ports:
        w.write(0, "Ports: <unset>\n")
    else:
        w.write(0, "Ports:\n")
        w.write(1, "Name\tPort\tProtocol\n")
        w.write(1, "----\t----\t--------\n")
        for p in ports:
            name = p.get("name") or "<unset>"
            w.write(1, f"{name}\t{_unset(p.get('port'))}\t{p.get('protocol', '')}\n")
    endpoints = obj.get("endpoints") or []
    if not endpoints:
        w.write(0, "Endpoints: <none>\n")
    else:
        w.write(0, "Endpoints:\n")
        for e in endpoints:
            w.write(1, f"- Addresses:\t{', '.join(e.get('addresses') or []) or '<none>'}\n")
            w.write(2, "Conditions:\n")
            ready = (e.get("conditions") or {}).get("ready")
            w.write(3, f"Ready:\t{'<unset>' if ready is None else str(ready).lower()}\n")
            w.write(2, f"Hostname:\t{_unset(e.get('hostname'))}\n")
            ref = e.get("targetRef")
            if ref is not None:
                w.write(2, f"TargetRef:\t{ref.get('kind', '')}/{ref.get('name', '')}\n")
            w.write(2, f"NodeName:\t{_unset(e.get('nodeName'))}\n")
            w.write(2, f"Zone:\t{_unset(e.get('zone'))}\n")
    if events:
        describe_events(session, obj, w, res.kind)


# --- ServiceCIDR, IPAddress ---------------------------------------------------------------------


def service_cidr(session: Session, res: Resource, obj: Obj, w: Out, events: bool) -> None:
    meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
    w.write(0, f"Name:\t{meta.get('name', '')}\n")
    _meta(w, obj)
    w.write(0, f"CIDRs:\t{', '.join(spec.get('cidrs') or [])}\n")
    conditions = (obj.get("status") or {}).get("conditions") or []
    if conditions:
        w.write(0, "Status:\n")
        w.write(0, "Conditions:\n")
        w.write(1, "Type\tStatus\tLastTransitionTime\tReason\tMessage\n")
        w.write(1, "----\t------\t------------------\t------\t-------\n")
        for c in conditions:
            w.write(
                1,
                f"{c.get('type', '')}\t{c.get('status', '')}\t"
                f"{rfc1123z(c.get('lastTransitionTime'))}\t{c.get('reason', '')}\t"
                f"{c.get('message', '')}\n",
            )
    if events:
        describe_events(session, obj, w, res.kind)


def ip_address(session: Session, res: Resource, obj: Obj, w: Out, events: bool) -> None:
    meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
    w.write(0, f"Name:\t{meta.get('name', '')}\n")
    _meta(w, obj)
    ref = spec.get("parentRef")
    if ref is not None:
        w.write(0, "Parent Reference:\n")
        for title, field in (
            ("Group", "group"),
            ("Resource", "resource"),
            ("Namespace", "namespace"),
            ("Name", "name"),
        ):
            w.write(1, f"{title}:\t{ref.get(field, '')}\n")
    if events:
        describe_events(session, obj, w, res.kind)
