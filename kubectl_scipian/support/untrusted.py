"""Text the plugin did not write, made safe to print (pure).

Whatever came from the backend, a release record or the OIDC provider (descriptions,
chart names, release descriptions, promotion messages, error messages, user names) is
printed with its control characters visible: C0 (newline and tab too: every printer puts
such a text on one line or in one cell), DEL, C1, zero-width and bidi formatting, line and
paragraph separators, and lone surrogates become escapes (``\\x1b``, ``\\u202e``), as kubectl
escapes untrusted text. Otherwise ``ESC [ 2 A`` rewrites lines above, OSC 52 writes the
reader's clipboard, and a right-to-left override makes a name read backwards.

The plugin's own names (env ids, releases, namespaces) are validated instead
(kubectl_scipian/support/names.py).
"""

from __future__ import annotations

import re

UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ud800-\udfff]"
)


def visible(text: object) -> str:
    """`text` (str() of anything) with every unsafe character as a visible escape."""
    s = text if isinstance(text, str) else str(text)
    return UNSAFE.sub(_escape, s)


def _escape(found: re.Match[str]) -> str:
    code = ord(found.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def json_escaped(text: str) -> str:
    """JSON text with the unsafe characters JSON encoders leave raw (DEL, C1, bidi,
    zero-width, separators) as `\\uXXXX` escapes: the same document, safe to print.
    (Being no JSON whitespace, they can only occur inside strings, where the escape means
    the same character.)"""
    return _RAW_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


# UNSAFE without C0: JSON escapes C0 inside strings itself, and outside them it is the
# document's own whitespace.
_RAW_IN_JSON = re.compile("[\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ud800-\udfff]")
