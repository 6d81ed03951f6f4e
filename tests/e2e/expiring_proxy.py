"""An HTTPS proxy in front of a real apiserver that expires every watch: lists and
everything else are forwarded; a watch request is answered as the apiserver answers a
watch whose resourceVersion has left its watch window: HTTP 200, one ERROR event with a
410 Expired Status, then the end of the stream (EXPIRED: those bytes, as the stack's
kube-apiserver 1.36 sent them for `?watch=1&resourceVersion=1` once its pod watch cache
had moved past 1).

Injected rather than provoked: a real 410 needs the list's resourceVersion to leave the
watch window in the instant between the list and the watch (or a cluster old enough that
resourceVersion 1 has left it), which no test can arrange deterministically.
"""

from __future__ import annotations

import re
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from tests.e2e.apiserver_proxy import ApiserverProxy

EXPIRED = (
    b'{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},'
    b'"status":"Failure","message":"too old resource version: 1 (1950)",'
    b'"reason":"Expired","code":410}}\n'
)


class ExpiringProxy(ApiserverProxy):
    def __init__(self, upstream: str, ca_data: bytes, cert: tuple[Path, Path]) -> None:
        self.watches = 0
        super().__init__(upstream, ca_data, cert)

    def intercept(self, request: BaseHTTPRequestHandler) -> bool:
        if not re.search(r"[?&]watch=(true|1)", request.path):
            return False
        self.watches += 1
        self.answer(request, 200, EXPIRED)
        return True
