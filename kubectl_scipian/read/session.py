"""What every verb needs for one run: the client, discovery, the streams."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO

from kubectl_scipian.read.discovery import DiscoveryCache, Resolver
from kubectl_scipian.read.target import Target, target_from_kubeconfig
from kubectl_scipian.read.transport import Client

if TYPE_CHECKING:
    from kubectl_scipian.read.warnings import WarningWriter

# Receives `get`'s tables as cells (header first) instead of printed text: the several
# environments command joins them into one table with an ENV column.
TableSink = Callable[[list[list[str]]], None]
# Receives `get --watch`'s table rows, one flush at a time: (header or None, rows).
WatchSink = Callable[[list[str] | None, list[list[str]]], None]


class Session:
    def __init__(
        self,
        kubeconfig: Mapping[str, Any],
        cache_dir: Path,
        stdout: BinaryIO,
        stderr: TextIO,
        table_sink: TableSink | None = None,
        watch_sink: WatchSink | None = None,
        renew: Callable[[], Mapping[str, Any] | None] | None = None,
    ) -> None:
        self.table_sink = table_sink
        self.watch_sink = watch_sink
        self._renew = renew
        self.target: Target = target_from_kubeconfig(kubeconfig)
        self.cache_dir = cache_dir
        self.stdout = stdout
        self.stderr = stderr
        self.written = False  # anything on stdout yet (a 401 after that is not retried)
        self._client: Client | None = None
        self._resolver: Resolver | None = None
        self._warnings: WarningWriter | None = None

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = Client(self.target, self.cache_dir, self.warnings().handle)
        return self._client

    def warnings(self) -> WarningWriter:
        """The run's one server-warning printer (kubectl deduplicates per process)."""
        if self._warnings is None:
            from kubectl_scipian.read.warnings import WarningWriter

            self._warnings = WarningWriter(self.stderr)
        return self._warnings

    @property
    def resolver(self) -> Resolver:
        if self._resolver is None:
            client = self.client
            self._resolver = Resolver(
                DiscoveryCache(self.cache_dir, self.target.host_port),
                lambda path, accept: client.get_json(path, accept=accept),
                warn=lambda message: self.error(f"Warning: {message}"),
            )
        return self._resolver

    def renew(self) -> bool:
        """A new credential for the same environment, once (a long watch outlived its
        token): the next requests use it. False when there is none to be had."""
        kubeconfig = self._renew() if self._renew is not None else None
        self._renew = None
        if not kubeconfig:
            return False
        self.target = target_from_kubeconfig(kubeconfig)
        if self._client is not None:
            self._client.close()
        self._client = None
        self._resolver = None
        return True

    def write(self, text: str | bytes) -> None:
        data = text.encode() if isinstance(text, str) else text
        if data:
            self.stdout.write(data)
            self.written = True

    def emit_table(self, lines: list[list[str]]) -> None:
        """A table's cells (header first), handed to the sink instead of being printed."""
        assert self.table_sink is not None
        if lines:
            self.table_sink(lines)
            self.written = True

    def error(self, message: str) -> None:
        self.stderr.write(message + "\n")

    def close(self) -> None:
        try:
            self.stdout.flush()
        finally:
            if self._client is not None:
                self._client.close()
