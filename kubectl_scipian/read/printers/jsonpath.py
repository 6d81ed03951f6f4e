"""client-go's JSONPath templates (`-o jsonpath=`, custom-columns).

Supported: text, `{.a.b}`, `[n]`, `[a:b:s]`, `[*]`, `['k']`, unions `[0,1]`, `..k`,
filters `[?(@.a=="x")]` (==, !=, <, <=, >, >=, existence), `{range ...}{end}`,
string literals `{"\\n"}`, `@`, `$`. Missing keys print nothing (kubectl's
--allow-missing-template-keys=true).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from kubectl_scipian.read.errors import UsageError

Node = tuple[Any, ...]


class JSONPathError(ValueError):
    pass


class Template:
    def __init__(self, nodes: list[Node]) -> None:
        self.nodes = nodes

    def execute(self, data: Any) -> str:
        out: list[str] = []
        _run(self.nodes, [data], out)
        return "".join(out)

    def values(self, data: Any) -> list[list[Any]]:
        """The results of each field list (custom-columns uses one)."""
        results: list[list[Any]] = []
        for n in self.nodes:
            if n[0] == "list":
                results.append(_eval_list(n[1], [data]))
        return results


def parse(text: str) -> Template:
    nodes: list[Node] = []
    stack: list[list[Node]] = [nodes]
    i = 0
    while i < len(text):
        start = text.find("{", i)
        if start < 0:
            stack[-1].append(("text", text[i:]))
            break
        if start > i:
            stack[-1].append(("text", text[i:start]))
        end = _find_close(text, start)
        inner = text[start + 1 : end].strip()
        i = end + 1
        if inner.startswith("range "):
            body: list[Node] = []
            stack[-1].append(("range", _parse_list(inner[6:].strip()), body))
            stack.append(body)
        elif inner == "end":
            if len(stack) == 1:
                raise JSONPathError("not in range, nothing to end")
            stack.pop()
        else:
            stack[-1].append(("list", _parse_list(inner)))
    if len(stack) != 1:
        raise JSONPathError("unclosed action")
    return Template(nodes)


def _find_close(text: str, start: int) -> int:
    i = start + 1
    quote = ""
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\":
                i += 2
                continue
            if c == quote:
                quote = ""
        elif c in "\"'":
            quote = c
        elif c == "}":
            return i
        i += 1
    raise JSONPathError("unclosed action")


_RECURSIVE_NAME = re.compile(r"[^.\[\] ]+")


def _parse_list(src: str) -> list[Node]:
    """One action's expression → steps."""
    steps: list[Node] = []
    i = 0
    n = len(src)
    while i < n:
        c = src[i]
        if c in " \t":
            i += 1
        elif c in "\"'":
            j = i + 1
            while j < n and src[j] != c:
                j += 2 if src[j] == "\\" else 1
            raw = src[i + 1 : j].replace('"', '\\"')
            steps.append(("literal", json.loads(f'"{raw}"', strict=False)))
            i = j + 1
        elif src.startswith("..", i):
            m = _RECURSIVE_NAME.match(src, i + 2)
            steps.append(("recursive", m.group() if m else ""))
            i = m.end() if m else i + 2
        elif c == ".":
            j = i + 1
            chars: list[str] = []
            while j < n and src[j] not in ".[ ":
                if src[j] == "\\" and j + 1 < n:
                    j += 1  # `\.` is a dot inside a key
                chars.append(src[j])
                j += 1
            if chars:
                steps.append(("field", "".join(chars)))
            i = j
        elif c == "[":
            j = _bracket_end(src, i)
            steps.append(_parse_bracket(src[i + 1 : j]))
            i = j + 1
        elif c in "@$":
            i += 1
        else:
            j = i
            while j < n and src[j] not in ".[ ":
                j += 1
            steps.append(("field", src[i:j]))
            i = j
    return steps


def _bracket_end(src: str, i: int) -> int:
    depth = 0
    quote = ""
    for j in range(i, len(src)):
        c = src[j]
        if quote:
            if c == quote:
                quote = ""
        elif c in "\"'":
            quote = c
        elif c == "[":
            depth += 1
        elif c == "]":
            depth -= 1
            if depth == 0:
                return j
    raise JSONPathError("unterminated array")


def _parse_bracket(inner: str) -> Node:
    inner = inner.strip()
    if inner == "*":
        return ("wildcard",)
    if inner.startswith("?(") and inner.endswith(")"):
        return ("filter", _parse_filter(inner[2:-1]))
    if inner[:1] in "\"'":
        return ("fields", [p.strip()[1:-1] for p in inner.split(",")])
    if ":" in inner:
        parts = inner.split(":")
        nums = [int(p) if p.strip() else None for p in parts] + [None] * (3 - len(parts))
        return ("slice", nums[0], nums[1], nums[2])
    try:
        return ("index", [int(p) for p in inner.split(",")])
    except ValueError as e:
        raise JSONPathError(f"invalid array index {inner}") from e


_FILTER = re.compile(r"^(.*?)\s*(==|!=|<=|>=|<|>)\s*(.*)$")


def _parse_filter(expr: str) -> Node:
    m = _FILTER.match(expr)
    if not m:
        return ("exists", _parse_list(expr.strip()))
    left, op, right = m.groups()
    return ("cmp", _parse_list(left.strip()), op, _parse_operand(right.strip()))


def _parse_operand(text: str) -> Node:
    if text[:1] in "\"'":
        return ("value", text[1:-1])
    if text.startswith("@") or text.startswith("."):
        return ("path", _parse_list(text))
    try:
        return ("value", int(text))
    except ValueError:
        try:
            return ("value", float(text))
        except ValueError:
            return ("value", text)


def _children(v: Any) -> Iterator[Any]:
    if isinstance(v, dict):
        yield from (v[k] for k in sorted(v))
    elif isinstance(v, list):
        yield from v


def _recurse(v: Any, name: str) -> Iterator[Any]:
    if isinstance(v, dict):
        if name and name in v:
            yield v[name]
        elif not name:
            yield v
        for k in sorted(v):
            yield from _recurse(v[k], name)
    elif isinstance(v, list):
        for item in v:
            yield from _recurse(item, name)


def _eval_list(steps: list[Node], cur: list[Any]) -> list[Any]:
    for step in steps:
        kind = step[0]
        nxt: list[Any] = []
        if kind == "literal":
            nxt = [step[1]]
        elif kind == "field":
            for v in cur:
                if isinstance(v, dict) and step[1] in v:
                    nxt.append(v[step[1]])
                elif step[1] == "*":
                    nxt.extend(_children(v))
        elif kind == "fields":
            for v in cur:
                if isinstance(v, dict):
                    nxt.extend(v[k] for k in step[1] if k in v)
        elif kind == "recursive":
            for v in cur:
                nxt.extend(_recurse(v, step[1]))
        elif kind == "wildcard":
            for v in cur:
                nxt.extend(_children(v))
        elif kind == "index":
            for v in cur:
                if isinstance(v, list):
                    for ix in step[1]:
                        if -len(v) <= ix < len(v):
                            nxt.append(v[ix])
                        else:
                            raise JSONPathError(
                                f"array index out of bounds: index {ix}, length {len(v)}"
                            )
        elif kind == "slice":
            for v in cur:
                if isinstance(v, list):
                    nxt.extend(v[slice(step[1], step[2], step[3])])
        elif kind == "filter":
            for v in cur:
                items = v if isinstance(v, list) else list(_children(v))
                nxt.extend(x for x in items if _match(step[1], x))
        cur = nxt
    return cur


def _match(f: Node, item: Any) -> bool:
    if f[0] == "exists":
        return bool(_eval_list(f[1], [item]))
    left = _eval_list(f[1], [item])
    right = [f[3][1]] if f[3][0] == "value" else _eval_list(f[3][1], [item])
    if not left or not right:
        return False
    a, b, op = left[0], right[0], f[2]
    try:
        if op == "==":
            return bool(a == b)
        if op == "!=":
            return bool(a != b)
        if op == "<":
            return bool(a < b)
        if op == ">":
            return bool(a > b)
        if op == "<=":
            return bool(a <= b)
        return bool(a >= b)
    except TypeError:
        return False


def go_json(value: Any) -> str:
    """encoding/json.Marshal: compact, sorted keys, <>& escaped."""
    text = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def text_of(value: Any) -> str:
    from kubectl_scipian.read.printers.table import go_sprint

    if isinstance(value, (dict, list)):
        return go_json(value)
    if isinstance(value, str):
        return value
    return go_sprint(value)


def _run(nodes: list[Node], cur: list[Any], out: list[str]) -> None:
    for node in nodes:
        if node[0] == "text":
            out.append(node[1])
        elif node[0] == "list":
            for data in cur:
                out.append(" ".join(text_of(v) for v in _eval_list(node[1], [data])))
        elif node[0] == "range":
            for data in cur:
                for item in _eval_list(node[1], [data]):
                    _run(node[2], [item], out)


def compile_template(text: str) -> Template:
    try:
        return parse(text)
    except JSONPathError as e:
        raise UsageError(f"error: error parsing jsonpath {text}, {e}") from None
