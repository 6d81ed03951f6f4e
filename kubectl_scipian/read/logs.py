"""`kubectl logs`: raw bytes from the kubelet (here KWOK) in constant memory, `-f` included."""

from __future__ import annotations

import argparse
import re
import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any, NamedTuple

from kubectl_scipian.read import flags
from kubectl_scipian.read.args import FlagParser
from kubectl_scipian.read.errors import StatusError, UsageError
from kubectl_scipian.read.session import Session

USAGE = (
    "error: expected 'logs [-f] [-p] (POD | TYPE/NAME) [-c CONTAINER]'.\n"
    "POD or TYPE/NAME is a required argument for the logs command\n"
    "See 'kubectl logs -h' for help and examples"
)
DEFAULT_CONTAINER = "kubectl.kubernetes.io/default-container"
_DURATION = re.compile(r"([0-9]*\.?[0-9]+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def parser() -> FlagParser:
    return flags.logs()


def go_duration_seconds(text: str) -> float:
    """time.ParseDuration, for --since."""
    sign, rest = (-1, text[1:]) if text.startswith("-") else (1, text.lstrip("+"))
    if rest == "0":
        return 0.0
    pos, total = 0, 0.0
    while pos < len(rest):
        m = _DURATION.match(rest, pos)
        if not m:
            unit = re.match(r"[0-9.]*([^0-9.]*)", rest[pos:])
            bad = unit.group(1) if unit else ""
            if bad and not _DURATION.match(rest, pos) and re.match(r"[0-9.]+", rest[pos:]):
                raise ValueError(f'time: unknown unit "{bad}" in duration "{text}"')
            if re.fullmatch(r"[0-9.]+", rest[pos:]):
                raise ValueError(f'time: missing unit in duration "{text}"')
            raise ValueError(f'time: invalid duration "{text}"')
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if not rest:
        raise ValueError(f'time: invalid duration "{text}"')
    return sign * total


class Stream(NamedTuple):
    pod: str
    container: str


def logs(session: Session, argv: list[str]) -> int:
    opts = parser().parse(argv)
    args = opts.args
    if opts.selector and args:
        raise UsageError(
            "error: only a selector (-l) or a POD name is allowed\n"
            "See 'kubectl logs -h' for help and examples"
        )
    if (not args and not opts.selector) or len(args) > 2:
        raise UsageError(USAGE)
    if len(args) == 2:
        if opts.container:
            raise UsageError(
                "error: only one of -c or an inline [CONTAINER] arg is allowed\n"
                "See 'kubectl logs -h' for help and examples"
            )
        opts.container = args[1]
    if opts.all_containers and opts.container:
        raise UsageError(
            f"error: --all-containers=true should not be specified with container name "
            f"{opts.container}"
        )
    query = _query(opts)
    ns = str(opts.namespace or session.target.namespace)
    if opts.selector:
        pods = _list_pods(session, ns, opts.selector)
        if not pods:
            session.error(f"No resources found in {ns} namespace.")
            return 0
        if opts.tail is None:
            query["tailLines"] = 10
    else:
        pods = [_target_pod(session, ns, args[0])]
    streams: list[Stream] = []
    for pod in pods:
        streams += _containers(session, pod, opts)
    if opts.follow and len(streams) > opts.max_log_requests:
        raise UsageError(
            f"error: you are attempting to follow {len(streams)} log streams, but maximum "
            f"allowed concurrency is {opts.max_log_requests}, use --max-log-requests to "
            "increase the limit"
        )
    prefix = opts.prefix
    if opts.follow and len(streams) > 1:
        return _follow_parallel(session, ns, streams, query, prefix)
    for s in streams:
        _copy(session, _open(session, ns, s, query), s, prefix, opts.follow)
    return 0


def _query(opts: argparse.Namespace) -> dict[str, Any]:
    q: dict[str, Any] = {}
    if opts.follow:
        q["follow"] = "true"
    if opts.previous:
        q["previous"] = "true"
    if opts.timestamps:
        q["timestamps"] = "true"
    if opts.tail is not None and opts.tail >= 0:
        q["tailLines"] = opts.tail
    if opts.limit_bytes:
        q["limitBytes"] = opts.limit_bytes
    if opts.since and opts.since_time:
        raise UsageError("error: at most one of `sinceTime` or `sinceSeconds` may be specified")
    if opts.since:
        try:
            seconds = go_duration_seconds(opts.since)
        except ValueError as e:
            raise UsageError(
                f'error: invalid argument "{opts.since}" for "--since" flag: {e}\n'
                "See 'kubectl logs --help' for usage."
            ) from None
        # kubectl rounds up to whole seconds
        q["sinceSeconds"] = max(1, int(-(-seconds // 1)))
    if opts.since_time:
        try:
            datetime.fromisoformat(opts.since_time.replace("Z", "+00:00"))
        except ValueError:
            raise UsageError(
                f'error: parsing time "{opts.since_time}" as "2006-01-02T15:04:05Z07:00": '
                f'cannot parse "{opts.since_time}" as "2006"'
            ) from None
        q["sinceTime"] = opts.since_time
    return q


def _get(session: Session, path: str, ns: str) -> Any:
    try:
        return session.client.get_json(path)
    except StatusError as e:
        if e.code == 404:
            # kubectl's polymorphic helpers wrap the server's words
            raise UsageError(
                f'error: error from server (NotFound): {e.text} in namespace "{ns}"'
            ) from None
        raise


def _target_pod(session: Session, ns: str, arg: str) -> dict[str, Any]:
    if "/" not in arg:
        return dict(_get(session, f"/api/v1/namespaces/{ns}/pods/{arg}", ns))
    type_, _, name = arg.partition("/")
    res = session.resolver.resolve(type_)[0]
    obj = _get(session, res.path(ns, name), ns)
    if res.group == "" and res.kind == "Pod":
        return dict(obj)
    selector = _selector_of(res.kind, res.group, obj)
    pods = _list_pods(session, ns, selector)
    if not pods:
        raise UsageError("error: timed out waiting for the condition")
    pods.sort(key=_ByLogging)
    if len(pods) > 1:
        session.error(f"Found {len(pods)} pods, using pod/{pods[0]['metadata']['name']}")
    return pods[0]


def _selector_of(kind: str, group: str, obj: dict[str, Any]) -> str:
    spec = obj.get("spec") or {}
    if (group, kind) in (("", "Service"), ("", "ReplicationController")):
        sel = spec.get("selector") or {}
        return ",".join(f"{k}={v}" for k, v in sorted(sel.items()))
    if (group, kind) in (
        ("apps", "Deployment"),
        ("apps", "ReplicaSet"),
        ("apps", "StatefulSet"),
        ("apps", "DaemonSet"),
        ("batch", "Job"),
    ):
        return label_selector(spec.get("selector") or {})
    go_type = f"*v1.{kind}" if group in ("", "apps", "batch") else "*unstructured.Unstructured"
    raise UsageError(
        f"error: cannot get the logs from {go_type}: selector for {go_type} not implemented"
    )


def label_selector(sel: dict[str, Any]) -> str:
    """metav1.LabelSelectorAsSelector(...).String()."""
    parts = [f"{k}={v}" for k, v in (sel.get("matchLabels") or {}).items()]
    for e in sel.get("matchExpressions") or []:
        op, key, values = e.get("operator"), e.get("key"), sorted(e.get("values") or [])
        if op == "In":
            parts.append(f"{key} in ({','.join(values)})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({','.join(values)})")
        elif op == "Exists":
            parts.append(str(key))
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(sorted(parts, key=lambda p: p.lstrip("!").split(" ")[0].split("=")[0]))


def _list_pods(session: Session, ns: str, selector: str) -> list[dict[str, Any]]:
    doc = session.client.get_json(f"/api/v1/namespaces/{ns}/pods", {"labelSelector": selector})
    return list(doc.get("items") or [])


class _ByLogging:
    """podutils.ByLogging: the pod whose logs a person most likely wants."""

    def __init__(self, pod: dict[str, Any]) -> None:
        self.pod = pod

    def __lt__(self, other: _ByLogging) -> bool:
        return _by_logging_less(self.pod, other.pod)


def _ready_time(pod: dict[str, Any]) -> str:
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready" and c.get("status") == "True":
            return str(c.get("lastTransitionTime") or "")
    return ""


def _after_or_zero(t1: str, t2: str) -> bool:
    if not t1 or not t2:
        return not t1
    return t1 > t2


def _by_logging_less(a: dict[str, Any], b: dict[str, Any]) -> bool:
    na = (a.get("spec") or {}).get("nodeName") or ""
    nb = (b.get("spec") or {}).get("nodeName") or ""
    if na != nb and (not na or not nb):
        return bool(na)
    rank = {"Running": 0, "Unknown": 1, "Pending": 2}
    pa = rank.get((a.get("status") or {}).get("phase", ""), 0)
    pb = rank.get((b.get("status") or {}).get("phase", ""), 0)
    if pa != pb:
        return pa < pb
    ra, rb = bool(_ready_time(a)), bool(_ready_time(b))
    if ra != rb:
        return ra
    if ra and rb and _ready_time(a) != _ready_time(b):
        return _after_or_zero(_ready_time(b), _ready_time(a))
    ca, cb = _restarts(a), _restarts(b)
    if ca != cb:
        return ca > cb
    ta = (a.get("metadata") or {}).get("creationTimestamp") or ""
    tb = (b.get("metadata") or {}).get("creationTimestamp") or ""
    if ta != tb:
        return _after_or_zero(tb, ta)
    return False


def _restarts(pod: dict[str, Any]) -> int:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return max((int(s.get("restartCount") or 0) for s in statuses), default=0)


def _containers(session: Session, pod: dict[str, Any], opts: argparse.Namespace) -> list[Stream]:
    name = pod["metadata"]["name"]
    spec = pod.get("spec") or {}
    init = [c["name"] for c in spec.get("initContainers") or []]
    main = [c["name"] for c in spec.get("containers") or []]
    ephemeral = [c["name"] for c in spec.get("ephemeralContainers") or []]
    if opts.all_containers:
        return [Stream(name, c) for c in init + main + ephemeral]
    everything = init + main + ephemeral
    if opts.container:
        if opts.container not in everything:
            raise UsageError(
                f"error: container {opts.container} is not valid for pod {name} out of: "
                + _all_names(init, main, ephemeral)
            )
        return [Stream(name, opts.container)]
    annotated = ((pod.get("metadata") or {}).get("annotations") or {}).get(DEFAULT_CONTAINER)
    if annotated and annotated in main:
        return [Stream(name, annotated)]
    if len(everything) > 1 and main:
        session.error(
            f'Defaulted container "{main[0]}" out of: {_all_names(init, main, ephemeral)}'
        )
    return [Stream(name, main[0])] if main else []


def _all_names(init: list[str], main: list[str], ephemeral: list[str]) -> str:
    return ", ".join(main + [f"{c} (init)" for c in init] + [f"{c} (ephem)" for c in ephemeral])


def _open(session: Session, ns: str, s: Stream, query: dict[str, Any]) -> Iterator[bytes]:
    path = f"/api/v1/namespaces/{ns}/pods/{s.pod}/log"
    return session.client.get(path, {"container": s.container, **query}, accept="*/*").chunks()


def _lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Whole lines (the last one even without a newline), memory bounded by a line."""
    rest = b""
    for chunk in chunks:
        data = rest + chunk
        start = 0
        while True:
            nl = data.find(b"\n", start)
            if nl < 0:
                break
            yield data[start : nl + 1]
            start = nl + 1
        rest = data[start:]
    if rest:
        yield rest


def _copy(session: Session, chunks: Iterator[bytes], s: Stream, prefix: bool, follow: bool) -> None:
    out = session.stdout
    if not prefix:
        for chunk in chunks:
            session.write(chunk)
            if follow:
                out.flush()
        return
    tag = f"[pod/{s.pod}/{s.container}] ".encode()
    for line in _lines(chunks):
        session.write(tag + line)
        if follow:
            out.flush()


def _follow_parallel(
    session: Session, ns: str, streams: list[Stream], query: dict[str, Any], prefix: bool
) -> int:
    """Every stream at once, whole lines at a time (kubectl's goroutines)."""
    lock = threading.Lock()
    failures: list[str] = []
    tagged = [(s, f"[pod/{s.pod}/{s.container}] ".encode() if prefix else b"") for s in streams]

    def pump(s: Stream, tag: bytes) -> None:
        try:
            for line in _lines(_open(session, ns, s, query)):
                with lock:
                    session.write(tag + line)
                    session.stdout.flush()
        except StatusError as e:
            with lock:
                failures.append(e.message)
        except Exception as e:  # a broken stream ends only its own thread
            with lock:
                failures.append(f"error: {e}")

    threads = [threading.Thread(target=pump, args=t, daemon=True) for t in tagged]
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():
            t.join(0.5)
    for message in failures:
        session.error(message)
    return 1 if failures else 0
