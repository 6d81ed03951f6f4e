"""Pieces every describer prints: labels, annotations, taints, tolerations, selectors, times,
and a volume source's rows (pods and PersistentVolumes print them alike)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from kubectl_scipian.read.humanize import parse_time

if TYPE_CHECKING:
    from kubectl_scipian.read.describers.output import Out

MAX_ANNOTATION_LEN = 140
SKIP_ANNOTATIONS = {"kubectl.kubernetes.io/last-applied-configuration"}

Obj = dict[str, Any]


def get(obj: Any, *path: str) -> Any:
    """obj[path[0]][path[1]]...; None when any step is missing."""
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def print_labels(
    w: Out, title: str, values: dict[str, str] | None, indent: str = "", inner: str = "\t"
) -> None:
    """printLabelsMultilineWithIndent."""
    w.write(0, f"{indent}{title}:{inner}")
    if not values:
        w.write(0, "<none>\n")
        return
    for i, key in enumerate(sorted(values)):
        if i:
            w.write(0, indent + inner)
        w.write(0, f"{key}={values[key]}\n")


def _shorten(s: str, n: int) -> str:
    return s[:n] + "..." if len(s) > n else s


def print_annotations(w: Out, title: str, values: dict[str, str] | None) -> None:
    """printAnnotationsMultiline: long or multi-line values get their own lines."""
    w.write(0, f"{title}:\t")
    keys = sorted(k for k in values or {} if k not in SKIP_ANNOTATIONS)
    if not keys or values is None:
        w.write(0, "<none>\n")
        return
    for i, key in enumerate(keys):
        if i:
            w.write(0, "\t")
        value = values[key].removesuffix("\n")
        if len(value) + len(key) + 2 > MAX_ANNOTATION_LEN or "\n" in value:
            w.write(0, f"{key}:\n")
            for s in value.split("\n"):
                w.write(0, f"\t  {_shorten(s, MAX_ANNOTATION_LEN - 2)}\n")
        else:
            w.write(0, f"{key}: {value}\n")


def print_list(w: Out, title: str, items: list[str], indent: str = "", inner: str = "\t") -> None:
    """The shape of printPodsMultiline and friends: one item a line, `<none>` when empty."""
    w.write(0, f"{indent}{title}:{inner}")
    if not items:
        w.write(0, "<none>\n")
        return
    for i, item in enumerate(items):
        if i:
            w.write(0, indent + inner)
        w.write(0, f"{item}\n")


def taint_string(t: Obj) -> str:
    """Taint.ToString: key[=value]:effect."""
    s = str(t.get("key", ""))
    if t.get("value"):
        s += f"={t['value']}"
    return s + f":{t.get('effect', '')}"


def print_taints(w: Out, title: str, taints: list[Obj] | None) -> None:
    items = sorted(taints or [], key=lambda t: f"{t.get('effect', '')},{t.get('key', '')}")
    print_list(w, title, [taint_string(t) for t in items])


def toleration_string(t: Obj) -> str:
    key, value, effect = t.get("key") or "", t.get("value") or "", t.get("effect") or ""
    s = key
    if value:
        s += f"={value}"
    if effect:
        s += f":{effect}"
    if t.get("operator") == "Exists" and not value:
        s += " op=Exists" if key or effect else "op=Exists"
    if t.get("tolerationSeconds") is not None:
        s += f" for {t['tolerationSeconds']}s"
    return s


def print_tolerations(w: Out, title: str, tolerations: list[Obj] | None, indent: str = "") -> None:
    items = sorted(tolerations or [], key=lambda t: str(t.get("key") or ""))
    print_list(w, title, [toleration_string(t) for t in items], indent)


def format_labels(values: dict[str, str] | None) -> str:
    """labels.FormatLabels: sorted k=v joined by commas, `<none>` when empty."""
    if not values:
        return "<none>"
    return ",".join(f"{k}={values[k]}" for k in sorted(values))


def selector_string(selector: Obj | None) -> str:
    """metav1.LabelSelectorAsSelector(s).String(): requirements sorted by key."""
    if selector is None:
        return ""
    reqs: list[tuple[str, str]] = []
    for k, v in (selector.get("matchLabels") or {}).items():
        reqs.append((k, f"{k}={v}"))
    for e in selector.get("matchExpressions") or []:
        key, op = str(e.get("key", "")), e.get("operator")
        values = ",".join(sorted(e.get("values") or []))
        if op == "In":
            reqs.append((key, f"{key} in ({values})"))
        elif op == "NotIn":
            reqs.append((key, f"{key} notin ({values})"))
        elif op == "Exists":
            reqs.append((key, key))
        elif op == "DoesNotExist":
            reqs.append((key, f"!{key}"))
    reqs.sort(key=lambda r: r[0])
    return ",".join(r[1] for r in reqs)


def format_selector(selector: Obj | None) -> str:
    """metav1.FormatLabelSelector: `<none>` for an empty one."""
    return selector_string(selector) or "<none>"


def rfc1123z(text: str | None) -> str:
    """time.Format(time.RFC1123Z) in the local zone; Go's zero time when unset."""
    t = parse_time(text)
    if t is None:
        return "Mon, 01 Jan 0001 00:00:00 +0000"
    return _fmt(t.astimezone())


def _fmt(t: datetime) -> str:
    days = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    months = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    off = t.utcoffset()
    minutes = int(off.total_seconds() // 60) if off else 0
    sign = "-" if minutes < 0 else "+"
    minutes = abs(minutes)
    return (
        f"{days[t.weekday()]}, {t.day:02d} {months[t.month - 1]} {t.year:04d} "
        f"{t.hour:02d}:{t.minute:02d}:{t.second:02d} {sign}{minutes // 60:02d}{minutes % 60:02d}"
    )


def go_bool(value: Any) -> str:
    return "true" if value else "false"


def print_bool(value: Any) -> str:
    """printBool: True / False."""
    return "True" if value else "False"


def go_list(values: Iterable[Any]) -> str:
    """fmt %v of a []string: [a b c]."""
    return "[" + " ".join(str(v) for v in values) + "]"


def int_or_string(value: Any) -> str:
    """intstr.IntOrString.String."""
    if value is None:
        return ""
    return str(value)


def controller_of(obj: Obj) -> Obj | None:
    for ref in get(obj, "metadata", "ownerReferences") or []:
        if ref.get("controller"):
            return dict(ref)
    return None


def print_controller(obj: Obj) -> str:
    ref = controller_of(obj)
    return f"{ref.get('kind', '')}/{ref.get('name', '')}" if ref else ""


def header(w: Out, obj: Obj, namespace: bool = True) -> None:
    """Name, Namespace, the two lines most describers start with."""
    meta = obj.get("metadata") or {}
    w.write(0, f"Name:\t{meta.get('name', '')}\n")
    if namespace:
        w.write(0, f"Namespace:\t{meta.get('namespace', '')}\n")


def go_time(text: str | None) -> str:
    """time.Time.String() in the local zone (`%s` of a metav1.Time)."""
    t = parse_time(text)
    if t is None:
        return "0001-01-01 00:00:00 +0000 UTC"
    t = t.astimezone()
    frac = f".{t.microsecond:06d}".rstrip("0") if t.microsecond else ""
    off = t.utcoffset()
    minutes = int(off.total_seconds() // 60) if off else 0
    sign = "-" if minutes < 0 else "+"
    minutes = abs(minutes)
    return f"{t:%Y-%m-%d %H:%M:%S}{frac} {sign}{minutes // 60:02d}{minutes % 60:02d} {t.tzname()}"


def volume_fields(w: Out, kind: str, rows: list[tuple[str, Any]]) -> None:
    """A volume source's `Type:` line and its fields, as the print*VolumeSource helpers."""
    w.write(2, f"Type:\t{kind}\n")
    for name, value in rows:
        w.write(0, f"    {name}:\t{value}\n")


def csi_attributes(w: Out, attrs: dict[str, str] | None) -> None:
    """printCSIPersistentVolumeAttributesMultiline (each write at level 2, even the empty one)."""
    w.write(2, "VolumeAttributes:\t")
    if not attrs:
        w.write(0, "<none>\n")
        return
    for i, k in enumerate(sorted(attrs)):
        if i:
            w.write(2, "")
            w.write(2, "\t")
        line = f"{k}={attrs[k]}"
        w.write(2, f"{line[:140]}...\n" if len(line) > 140 else f"{line}\n")
