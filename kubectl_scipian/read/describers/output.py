"""What describers write to: kubectl's PrefixWriter, and the shape of a describer."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kubectl_scipian.read.printers.tabwriter import format_text

if TYPE_CHECKING:
    from kubectl_scipian.read.discovery import Resource
    from kubectl_scipian.read.session import Session


class Out:
    """kubectl's PrefixWriter: two spaces per level, tabs aligned at the end."""

    def __init__(self, parts: list[str] | None = None, indent: int = 0) -> None:
        self.parts: list[str] = [] if parts is None else parts
        self.indent = indent

    def write(self, level: int, text: str) -> None:
        self.parts.append("  " * (level + self.indent) + text)

    def nested(self, indent: int) -> Out:
        """NewNestedPrefixWriter: the same output, every write `indent` levels deeper."""
        return Out(self.parts, self.indent + indent)

    def text(self) -> str:
        return format_text("".join(self.parts), 0, 2)


# (session, resource, object, output, whether to print the Events section)
Describer = Callable[["Session", "Resource", dict[str, Any], Out, bool], None]
