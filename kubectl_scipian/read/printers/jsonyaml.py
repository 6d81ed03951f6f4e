"""kubectl's `-o json` (Go encoding/json, 4-space indent) and `-o yaml` (go-yaml v2 via
sigs.k8s.io/yaml: natural key order, double quotes for strings that would read back
as another type, 80-column folding)."""

from __future__ import annotations

import functools
import json
import math
import re
from typing import Any

_GO_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
_GO_ESCAPE_RE = re.compile("[<>&\u2028\u2029]")


def to_json(obj: Any) -> str:
    text = json.dumps(obj, indent=4, sort_keys=True, ensure_ascii=False)
    return _GO_ESCAPE_RE.sub(lambda m: _GO_ESCAPES[m.group()], text) + "\n"


# --- go-yaml v2 ---------------------------------------------------------------

_BOOLS = {
    "y",
    "Y",
    "yes",
    "Yes",
    "YES",
    "true",
    "True",
    "TRUE",
    "on",
    "On",
    "ON",
    "n",
    "N",
    "no",
    "No",
    "NO",
    "false",
    "False",
    "FALSE",
    "off",
    "Off",
    "OFF",
}
_NULLS = {"", "~", "null", "Null", "NULL"}
_SPECIAL_FLOATS = {
    ".inf",
    ".Inf",
    ".INF",
    "+.inf",
    "+.Inf",
    "+.INF",
    "-.inf",
    "-.Inf",
    "-.INF",
    ".nan",
    ".NaN",
    ".NAN",
}
_INT = re.compile(r"^[-+]?(0b[01_]+|0x[0-9a-fA-F_]+|0o?[0-7_]+|[0-9][0-9_]*)$")
_BASE60 = re.compile(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$")
_TIMESTAMP = re.compile(
    r"^\d{4}-\d{1,2}-\d{1,2}"
    r"(?:(?:[Tt]|[ \t]+)\d{1,2}:\d{2}:\d{2}(?:\.\d*)?(?:[ \t]*(?:Z|[-+]\d{1,2}(?::\d{2})?))?)?$"
)
_GO_FLOAT = re.compile(
    r"^[-+]?(?:(?:\d[\d_]*)?\.?\d[\d_]*(?:[eE][-+]?\d+)?|\d[\d_]*\.(?:[eE][-+]?\d+)?)$"
)


def _go_resolves_non_string(s: str) -> bool:
    """go-yaml v2 resolve(): would this plain scalar read back as a non-string?"""
    if s in _BOOLS or s in _NULLS or s in _SPECIAL_FLOATS:
        return True
    if s in ("<<",):
        return True
    c = s[0]
    if not (c.isdigit() or c in "+-."):
        return False
    if _INT.match(s) or _BASE60.match(s) or _TIMESTAMP.match(s):
        return True
    if _GO_FLOAT.match(s):
        try:
            float(s.replace("_", ""))
            return True
        except ValueError:
            return False
    return False


def go_key_less(a: str, b: str) -> bool:
    """go-yaml v2 keyList.Less: letters after other characters, digit runs by value."""
    for i in range(min(len(a), len(b))):
        ca, cb = a[i], b[i]
        if ca == cb:
            continue
        al, bl = ca.isalpha(), cb.isalpha()
        if al and bl:
            return ca < cb
        if al or bl:
            return bl
        an = bn = 0
        if ca == "0" or cb == "0":
            j = i - 1
            while j >= 0 and a[j].isdigit():
                if a[j] != "0":
                    an = bn = 1
                    break
                j -= 1
        ai = i
        while ai < len(a) and a[ai].isdigit():
            an = an * 10 + int(a[ai])
            ai += 1
        bi = i
        while bi < len(b) and b[bi].isdigit():
            bn = bn * 10 + int(b[bi])
            bi += 1
        if an != bn:
            return an < bn
        if ai != bi:
            return ai < bi
        return ca < cb
    return len(a) < len(b)


def _key_cmp(a: str, b: str) -> int:
    if a == b:
        return 0
    return -1 if go_key_less(a, b) else 1


_go_key = functools.cmp_to_key(_key_cmp)


@functools.lru_cache(maxsize=1)
def _dumper() -> Any:
    import yaml

    base = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

    class GoDumper(base):  # type: ignore[misc, valid-type]
        pass

    def rep_str(dumper: Any, data: str) -> Any:
        tag = "tag:yaml.org,2002:str"
        if "\n" in data:
            return dumper.represent_scalar(tag, data, style="|")
        if _go_resolves_non_string(data):
            return dumper.represent_scalar(tag, data, style='"')
        return dumper.represent_scalar(tag, data)

    def rep_dict(dumper: Any, data: dict[str, Any]) -> Any:
        items = sorted(data.items(), key=lambda kv: _go_key(kv[0]))
        return dumper.represent_mapping("tag:yaml.org,2002:map", items)

    def rep_float(dumper: Any, data: float) -> Any:
        if math.isnan(data):
            text = ".NaN"
        elif math.isinf(data):
            text = ".Inf" if data > 0 else "-.Inf"
        else:
            text = _go_float(data)
        return dumper.represent_scalar("tag:yaml.org,2002:float", text)

    def rep_none(dumper: Any, data: None) -> Any:
        return dumper.represent_scalar("tag:yaml.org,2002:null", "null")

    def rep_bool(dumper: Any, data: bool) -> Any:
        return dumper.represent_scalar("tag:yaml.org,2002:bool", "true" if data else "false")

    GoDumper.add_representer(str, rep_str)
    GoDumper.add_representer(dict, rep_dict)
    GoDumper.add_representer(float, rep_float)
    GoDumper.add_representer(type(None), rep_none)
    GoDumper.add_representer(bool, rep_bool)
    return GoDumper


def _go_float(f: float) -> str:
    """strconv.FormatFloat(f, 'g', -1, 64)."""
    r = repr(f)
    if "e" in r or "E" in r:
        mant, exp = r.split("e")
        e = int(exp)
        return f"{mant}e{'+' if e >= 0 else '-'}{abs(e):02d}"
    if r.endswith(".0"):
        r = r[:-2]
    exp10 = math.floor(math.log10(abs(f))) if f else 0
    if exp10 >= 21 or exp10 < -4:
        mant_e = f"{f:e}"
        return mant_e
    return r


def to_yaml(obj: Any) -> str:
    import yaml

    text: str = yaml.dump(
        obj,
        Dumper=_dumper(),
        default_flow_style=False,
        allow_unicode=True,
        sort_keys=False,
        width=80,
        indent=2,
    )
    return text
