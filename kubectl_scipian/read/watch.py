"""`kubectl get -w|--watch-only [--output-watch-events]`: the list (or object), then its changes.

What kubectl 1.36 does (cmd/get/get.go `watch()`), and so do we:
- one resource type only (several named objects of it are printed, then refused with
  kubectl's error, exit 1); a collection is listed and watched from the list's
  resourceVersion; one named object is fetched and watched from resourceVersion "0" with
  `fieldSelector=metadata.name=NAME`, whose first (synthetic ADDED) event is not printed;
- tables ask the server for Table rows (the same Accept as `get`); only the first event
  carries column definitions, and the header is printed once, with the first row;
- every event is flushed on its own through a tabwriter that remembers column widths, so
  a column only ever grows;
- `--output-watch-events`: an EVENT column first in tables; `{"type","object"}` for
  json (one compact line, managedFields kept) and yaml; custom-columns and jsonpath are
  applied to that event;
- no retry and no re-list: an ERROR event (a 410 Expired when the list's resourceVersion
  has left the server's watch window) is printed as kubectl prints a Status (a
  STATUS/REASON/MESSAGE table, or the object), then the server ends the stream and so
  does the command, exit 0; so does the server's own request timeout. An error answer
  to the watch request itself is printed as any other (`Error from server ...`), exit 1;
- Ctrl-C: exit 1, nothing printed.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from kubectl_scipian.read.errors import ReadError, Unauthorized
from kubectl_scipian.read.get import Job, ObjectPrinter, plan
from kubectl_scipian.read.printers.jsonyaml import _GO_ESCAPE_RE, _GO_ESCAPES
from kubectl_scipian.read.session import Session
from kubectl_scipian.read.transport import JSON, TABLE

MULTIPLE = (
    "error: watch is only supported on individual resources and resource collections - "
    "more than 1 resource was found"
)
SEVERAL = "error: you may only watch a single resource or type of resource at a time"
FLUSH_ROWS = 100
# cli-runtime formatEventType: padded to one width
EVENT_CELLS = {
    "ADDED": "ADDED   ",
    "MODIFIED": "MODIFIED",
    "DELETED": "DELETED ",
    "ERROR": "ERROR   ",
}
# A header (or None when this flush has none) and the rows of one flush.
RowSink = Callable[[list[str] | None, list[list[str]]], None]


def watch(session: Session, opts: argparse.Namespace, kind: str, arg: str) -> int:
    if opts.sort_by and opts.watch_only:
        session.error("warning: --watch-only requested, --sort-by will be ignored")
    elif opts.sort_by:
        # the list is sorted, the events are not
        session.error(
            "warning: --watch requested, --sort-by will be ignored for watch events received"
        )
    jobs = plan(session, opts)
    if len({j.resource.name for j in jobs}) > 1 and not any(j.name for j in jobs):
        raise ReadError("error: you may only specify a single resource type")
    if len({j.resource for j in jobs}) > 1:
        raise ReadError(MULTIPLE)
    printer = _printer(session, opts, kind, arg)
    sort = opts.sort_by if not opts.watch_only else ""
    if len(jobs) > 1:
        # Several named objects of one type: kubectl gets each (the first error is the
        # answer), prints them as the watch's start would, then refuses to watch them.
        pages = [_initial(session, j, opts, _namespace(session, opts), printer.accept, False)[0]
                 for j in jobs]  # fmt: skip
        if not opts.watch_only:
            printer.initial([page for found in pages for page in found])
        raise ReadError(SEVERAL)
    job = jobs[0]
    ns = None if (opts.all_namespaces and job.name is None) else _namespace(session, opts)
    initial, rv = _initial(session, job, opts, ns, printer.accept, bool(sort) and printer.human)
    if not opts.watch_only:
        printer.initial(_sorted(initial, sort, printer.human) if sort else initial)
    query: dict[str, Any] = {
        "labelSelector": opts.selector,
        "fieldSelector": opts.field_selector,
        "resourceVersion": rv,
        "watch": "true",
    }
    if job.name is not None:
        query["fieldSelector"] = f"metadata.name={job.name}"
    path = job.resource.path(ns, None)
    skip_first = job.name is not None  # the synthetic ADDED of a one-object watch
    interruptible()
    try:
        try:
            response = session.client.get(path, query, printer.accept)
        except Unauthorized:
            # The list was printed with the cached credential, which died since: one new
            # credential, once, and the watch starts from the same resourceVersion.
            if not session.renew():
                raise
            response = session.client.get(path, query, printer.accept)
        for event in events(response.chunks()):
            if skip_first:
                skip_first = False
                continue
            printer.event(str(event.get("type", "")), event.get("object") or {})
    except KeyboardInterrupt:
        return 1  # kubectl's interrupt handler: exit 1, no message
    return 0


def interruptible() -> None:
    """Ctrl-C ends the watch even when we were started with SIGINT ignored (a background
    job of a script), as Go's signal.Notify in kubectl does."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _namespace(session: Session, opts: argparse.Namespace) -> str:
    return str(opts.namespace or session.target.namespace)


def _sorted(pages: list[Any], expr: str, tables: bool) -> list[Any]:
    """--sort-by on the list: one page of rows (tables) or of items, in kubectl's order."""
    from kubectl_scipian.read.printers.columns import sort_key

    key = sort_key(expr)
    if tables:
        rows = [row for page in pages for row in page.get("rows") or []]
        rows.sort(key=lambda row: key(row.get("object") or {}))
        return [{**pages[0], "rows": rows}]
    items = [item for page in pages for item in list_items(page)]
    return [{"kind": "List", "items": sorted(items, key=key)}]


def _initial(
    session: Session,
    job: Job,
    opts: argparse.Namespace,
    ns: str | None,
    accept: str,
    whole_objects: bool,
) -> tuple[list[Any], str]:
    """The pages of the list (or the one object) and the resourceVersion to watch from."""
    extra = {"includeObject": "Object"} if whole_objects else {}
    if job.name is not None:
        return [session.client.get_json(job.resource.path(ns, job.name), extra, accept)], "0"
    query: dict[str, Any] = {
        "labelSelector": opts.selector,
        "fieldSelector": opts.field_selector,
        **extra,
    }
    if opts.chunk_size > 0 and not whole_objects:
        query["limit"] = opts.chunk_size
    pages = []
    while True:
        page = session.client.get_json(job.resource.path(ns, None), query, accept)
        pages.append(page)
        cont = (page.get("metadata") or {}).get("continue")
        if not cont:
            break
        query["continue"] = cont
    rv = str((pages[-1].get("metadata") or {}).get("resourceVersion") or "")
    return pages, rv


def events(chunks: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    """The watch events of a JSON stream (one object per line; lines may span chunks)."""
    buf = b""
    for chunk in chunks:
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for line in lines:
            if line.strip():
                yield json.loads(line)
    if buf.strip():
        yield json.loads(buf)


def go_json(obj: Any, *, indent: int | None = None, sort: bool = True) -> str:
    """Go's json.Marshal(Indent) of decoded JSON: map keys sorted (`sort`; a typed object
    keeps its field order), <>& escaped; indented ones end in a newline."""
    if indent is None:
        text = json.dumps(obj, separators=(",", ":"), sort_keys=sort, ensure_ascii=False)
    else:
        text = json.dumps(obj, indent=indent, sort_keys=sort, ensure_ascii=False) + "\n"
    return _GO_ESCAPE_RE.sub(lambda m: _GO_ESCAPES[m.group()], text)


def watch_event_json(event_type: str, obj: Any, *, sort: bool = True) -> str:
    """metav1.WatchEvent as kubectl's JSON printer writes it: struct order, one line."""
    return f'{{"type":{go_json(event_type)},"object":{go_json(obj, sort=sort)}}}\n'


class TabStream:
    """A tabwriter flushed once per event that remembers column widths (kubectl's
    `printers.GetNewTabWriter`), writing to the session."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.widths: list[int] = []

    def __call__(self, header: list[str] | None, rows: list[list[str]]) -> None:
        from kubectl_scipian.read.printers.tabwriter import format_lines

        lines = ([header] if header is not None else []) + rows
        if lines:
            self.session.write(format_lines(lines, 6, 3, self.widths))
            self.session.stdout.flush()


class _Printer:
    accept = JSON
    human = False

    def initial(self, pages: list[Any]) -> None:
        raise NotImplementedError

    def event(self, event_type: str, obj: Any) -> None:
        raise NotImplementedError


class TableWatchPrinter(_Printer):
    """cli-runtime's HumanReadablePrinter for Tables, kept across events."""

    accept = TABLE
    human = True

    def __init__(self, opts: argparse.Namespace, wide: bool, sink: RowSink) -> None:
        from kubectl_scipian.read.printers.table import TableOptions

        self.opts = opts
        self.events = opts.output_watch_events
        self.sink = sink
        self.last_columns: list[Any] | None = None
        self.printed_headers = False
        self.printed_status_header = False
        labels = tuple(k for spec in opts.label_columns for k in spec.split(",") if k)
        self.options = TableOptions(
            wide=wide,
            with_namespace=opts.all_namespaces,
            show_labels=opts.show_labels,
            label_columns=labels,
            no_headers=opts.no_headers,
        )

    def initial(self, pages: list[Any]) -> None:
        for page in pages:
            header, rows = self._table(page, "ADDED")
            # cli-runtime's printTable flushes every 100 rows: later rows keep those widths
            for start in range(0, len(rows), FLUSH_ROWS):
                self.sink(header if start == 0 else None, rows[start : start + FLUSH_ROWS])

    def event(self, event_type: str, obj: Any) -> None:
        if obj.get("kind") == "Status":
            self._status(event_type, obj)
        elif obj.get("kind") == "Table":
            self.sink(*self._table(obj, event_type))

    def _status(self, event_type: str, status: dict[str, Any]) -> None:
        """An ERROR event's Status (a 410 Expired when the watch window has moved on):
        cli-runtime's status handler, a header of its own the first time."""
        from kubectl_scipian.read.printers.table import cell_text, label_header

        opts = self.options
        row = [cell_text(status.get(k, "")) for k in ("status", "reason", "message")]
        header = ["STATUS", "REASON", "MESSAGE"]
        # the label headers, but (as cli-runtime's printRows) no label cells
        header += [label_header(k) for k in opts.label_columns]
        if opts.show_labels:
            header.append("LABELS")
        if opts.with_namespace:
            header.insert(0, "NAMESPACE")
            row.insert(0, "")
        if self.events:
            header.insert(0, "EVENT")
            row.insert(0, EVENT_CELLS.get(event_type, event_type))
        show = not opts.no_headers and not self.printed_status_header
        self.printed_status_header = True
        self.sink(header if show else None, [row])

    def _table(
        self, table: dict[str, Any], event_type: str
    ) -> tuple[list[str] | None, list[list[str]]]:
        from kubectl_scipian.read.printers.table import TableBuffer

        if table.get("kind") != "Table":
            raise ReadError("error: server did not return a Table")
        defs = table.get("columnDefinitions") or []
        no_headers = self.options.no_headers
        if self.printed_headers and (not defs or defs == self.last_columns):
            no_headers = True
        if not defs:
            defs = self.last_columns or []
        elif defs != self.last_columns:
            self.last_columns = defs
            self.printed_headers = False
        if table.get("rows"):
            self.printed_headers = True
        buf = TableBuffer(self.options._replace(no_headers=True))
        buf.add({**table, "columnDefinitions": defs})
        rows = buf.rows
        header = None if no_headers or not rows else list(buf.header or [])
        if self.events:
            rows = [[EVENT_CELLS.get(event_type, event_type), *row] for row in rows]
            header = ["EVENT", *header] if header is not None else None
        return header, rows


class ObjectWatchPrinter(_Printer):
    """json, yaml, name, jsonpath and custom-columns, one object (or event) at a time."""

    def __init__(self, session: Session, opts: argparse.Namespace, kind: str, arg: str) -> None:
        self.session = session
        self.opts = opts
        self.kind = kind
        self.events = opts.output_watch_events
        self.count = 0
        self.tabs: RowSink | None = None
        self.helper = ObjectPrinter(kind, arg, opts)  # parses the template or the columns
        self.printed_header = ""  # the kind of object the last header was printed for

    def initial(self, pages: list[Any]) -> None:
        for page in pages:
            for item in list_items(page):
                self._print("ADDED", item)

    def event(self, event_type: str, obj: Any) -> None:
        self._print(event_type, obj)

    def _print(self, event_type: str, obj: Any) -> None:
        session = self.session
        self.count += 1
        # A Status (an ERROR event) is a typed object in kubectl: its JSON keeps the
        # struct's field order, which is the order the server sent.
        typed = obj.get("kind") == "Status"
        if self.kind == "name":
            from kubectl_scipian.read.get import _name

            name = _name(obj)  # kubectl's NamePrinter: <unknown> for an object without one
            session.write(f"{name}<unknown>\n" if name.endswith("/") else f"{name}\n")
        elif self.kind == "json":
            if self.events:
                session.write(watch_event_json(event_type, obj, sort=not typed))
            elif typed:
                session.write(go_json(obj, indent=4, sort=False))
            else:
                from kubectl_scipian.read.printers.jsonyaml import to_json

                session.write(to_json(self._trimmed(obj)))
        elif self.kind == "yaml":
            from kubectl_scipian.read.printers.jsonyaml import to_yaml

            doc = {"type": event_type, "object": obj} if self.events else self._trimmed(obj)
            session.write(("---\n" if self.count > 1 else "") + to_yaml(doc))
        elif self.kind == "jsonpath":
            target = {"type": event_type, "object": obj} if self.events else obj
            session.write(self.helper.template.execute(target))
        else:
            self._columns(event_type, obj)
        session.stdout.flush()

    def _columns(self, event_type: str, obj: Any) -> None:
        from kubectl_scipian.read.printers import columns as cc

        target = {"type": event_type, "object": obj} if self.events else obj
        if self.tabs is None:
            self.tabs = self.session.watch_sink or TabStream(self.session)
        header = None
        # kubectl's custom-columns printer heads each run of one Go type: a Status (an
        # ERROR event) after the objects gets the header again
        kind = "status" if obj.get("kind") == "Status" and not self.events else "object"
        if not self.opts.no_headers and self.printed_header != kind:
            header = [c.header for c in self.helper.columns]
            self.printed_header = kind
        self.tabs(header, [cc.row(self.helper.columns, target)])

    def _trimmed(self, obj: Any) -> Any:
        if not self.opts.show_managed_fields and isinstance(obj, dict):
            (obj.get("metadata") or {}).pop("managedFields", None)
        return obj


def list_items(page: Any) -> list[Any]:
    """A list's items with the apiVersion and kind the list leaves out (kubectl shows
    them); one fetched object as itself."""
    if not str(page.get("kind", "")).endswith("List") or "items" not in page:
        return [page]
    api_version = page.get("apiVersion", "")
    kind = str(page.get("kind", "")).removesuffix("List")
    return [{"apiVersion": api_version, "kind": kind, **item} for item in page["items"] or []]


def _printer(session: Session, opts: argparse.Namespace, kind: str, arg: str) -> _Printer:
    if kind in ("", "wide"):
        sink = session.watch_sink or TabStream(session)
        return TableWatchPrinter(opts, kind == "wide", sink)
    return ObjectWatchPrinter(session, opts, kind, arg)
