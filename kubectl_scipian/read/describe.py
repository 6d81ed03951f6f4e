"""`kubectl describe`: built-in layouts for common kinds, the generic one for the rest."""

from __future__ import annotations

from typing import Any

from kubectl_scipian.read import flags
from kubectl_scipian.read.args import FlagParser, resource_requests
from kubectl_scipian.read.describers import describer_for
from kubectl_scipian.read.describers.output import Out
from kubectl_scipian.read.discovery import Resource
from kubectl_scipian.read.errors import StatusError, UsageError
from kubectl_scipian.read.session import Session

NO_TYPE = (
    'error: You must specify the type of resource to describe. Use "kubectl api-resources" '
    "for a complete list of supported resources."
)


def parser() -> FlagParser:
    return flags.describe()


def describe(session: Session, argv: list[str]) -> int:
    opts = parser().parse(argv)
    if not opts.args:
        raise UsageError(NO_TYPE)
    requests = resource_requests(opts.args, "describe")
    ns = str(opts.namespace or session.target.namespace)
    # kubectl turns events off when several objects or an error came back, unless asked
    explicit = opts.show_events is not None
    show_events = not explicit or opts.show_events.lower() != "false"
    errors: list[str] = []
    found: list[tuple[Resource, dict[str, Any]]] = []
    texts: list[str] = []
    types = {r.type: session.resolver.resolve(r.type) for r in requests}
    listed_types: list[Resource] = []
    only_errors = False
    for req in requests:
        for res in types[req.type]:
            listed = req.name is None
            if listed:
                if res in listed_types:
                    continue  # a type listed twice is described once, as kubectl does
                listed_types.append(res)
            try:
                if listed:
                    objs = _list(session, res, ns, opts)
                else:
                    objs = [session.client.get_json(res.path(ns, req.name))]
            except StatusError as e:
                if e.code == 404 and not listed and len(opts.args) == 2:
                    # kubectl's DescribeMatchingResources: what the first argument names
                    # whose names start with the second, that argument resolved again
                    # (warnings included); `a/x b/y` never matches, and then only the
                    # error is printed.
                    session.resolver.resolve(requests[0].type, warn_again=True)
                    matching = "/" not in opts.args[0]
                    matched = _prefix(session, res, ns, str(req.name)) if matching else []
                    if matched:
                        # no events, a newline after each
                        texts += [
                            _describe(session, res, o, explicit and show_events) + "\n"
                            for o in matched
                        ]
                        continue
                    only_errors = True
                errors.append(e.message)
                continue
            found += [(res, o) for o in objs]
    if only_errors:
        found = []
    events = show_events and (explicit or (len(found) == 1 and not errors))
    described = [_describe(session, res, o, events) for res, o in found]
    for i, t in enumerate(described):
        session.write(t if i == 0 else "\n\n" + t)
    for t in texts:
        session.write(t)
    for m in errors:
        session.error(m)
    if not texts and not found and not errors and any(r.name is None for r in requests):
        session.error(f"No resources found in {ns} namespace.")
    return 1 if errors else 0


def _list(session: Session, res: Resource, ns: str, opts: Any) -> list[dict[str, Any]]:
    path = res.path(None if opts.all_namespaces else ns)
    doc = session.client.get_json(path, {"labelSelector": opts.selector})
    # kubectl describes what a GET of each item returns: that has apiVersion and kind
    head = {"apiVersion": res.group_version, "kind": res.kind}
    return [{**head, **item} for item in doc.get("items") or []]


def _prefix(session: Session, res: Resource, ns: str, prefix: str) -> list[dict[str, Any]]:
    try:
        items = session.client.get_json(res.path(ns)).get("items") or []
    except StatusError:
        return []
    head = {"apiVersion": res.group_version, "kind": res.kind}
    return [{**head, **i} for i in items if str(i["metadata"]["name"]).startswith(prefix)]


def _describe(session: Session, res: Resource, obj: dict[str, Any], events: bool) -> str:
    out = Out()
    describer_for(res)(session, res, obj, out, events)
    return out.text()
