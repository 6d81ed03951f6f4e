"""`kubectl get`: server-side tables for people, plain objects for machines."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import Any, NamedTuple

from kubectl_scipian.read import flags
from kubectl_scipian.read.args import FlagParser, Request, resource_requests
from kubectl_scipian.read.discovery import Resource
from kubectl_scipian.read.errors import ReadError, StatusError, Unauthorized, UsageError
from kubectl_scipian.read.session import Session
from kubectl_scipian.read.transport import JSON, TABLE

FORMATS = (
    "custom-columns,custom-columns-file,go-template,go-template-file,json,jsonpath,"
    "jsonpath-as-json,jsonpath-file,kyaml,name,template,templatefile,wide,yaml"
)
NO_TYPE = (
    'You must specify the type of resource to get. Use "kubectl api-resources" for a complete '
    "list of supported resources.\n\n"
    "error: Required resource not specified.\n"
    'Use "kubectl explain <resource>" for a detailed description of that resource '
    "(e.g. kubectl explain pods).\n"
    "See 'kubectl get -h' for help and examples"
)


def parser() -> FlagParser:
    return flags.get()


class Job(NamedTuple):
    """One thing to fetch: a resource type and a name (or a list)."""

    resource: Resource
    name: str | None


def plan(session: Session, opts: argparse.Namespace, verb: str = "get") -> list[Job]:
    """Resolves every type before anything is fetched: an unknown type fails the whole run."""
    try:
        requests = resource_requests(opts.args, verb)
    except UsageError as e:
        if not e.message:
            raise UsageError(NO_TYPE) from None
        raise
    if opts.selector and any(r.name for r in requests):
        raise UsageError("error: name cannot be provided when a selector is specified")
    resolver = session.resolver
    jobs: list[Job] = []
    cache: dict[str, list[Resource]] = {}
    for r in requests:
        if r.type not in cache:
            cache[r.type] = resolver.resolve(r.type)
        # a type listed twice (`cm,configmaps`, `wdg,widgets`) is listed once, as kubectl does
        jobs.extend(
            j for j in (Job(res, r.name) for res in cache[r.type]) if j.name or j not in jobs
        )
    return jobs


def _namespace(session: Session, opts: argparse.Namespace) -> str:
    return str(opts.namespace or session.target.namespace)


def _pages(
    session: Session, job: Job, opts: argparse.Namespace, accept: str, extra: dict[str, Any]
) -> Iterator[Any]:
    ns = None if (opts.all_namespaces and job.name is None) else _namespace(session, opts)
    path = job.resource.path(ns, job.name)
    if job.name is not None:
        yield session.client.get_json(path, extra, accept)
        return
    query: dict[str, Any] = {
        "labelSelector": opts.selector,
        "fieldSelector": opts.field_selector,
        **extra,
    }
    if opts.chunk_size > 0:
        query["limit"] = opts.chunk_size
    while True:
        page = session.client.get_json(path, query, accept)
        yield page
        cont = (page.get("metadata") or {}).get("continue")
        if not cont:
            return
        query["continue"] = cont


def get(session: Session, argv: list[str]) -> int:
    opts = parser().parse(argv)
    output = opts.output
    kind, _, arg = output.partition("=")
    if kind not in ("", "wide", "json", "yaml", "name", "jsonpath", "custom-columns"):
        if kind in FORMATS.split(","):
            raise UsageError(f"error: output format {kind!r} is not supported by kubectl-scipian")
        raise UsageError(
            f'error: unable to match a printer suitable for the output format "{output}", '
            f"allowed formats are: {FORMATS}"
        )
    if opts.output_watch_events and not (opts.watch or opts.watch_only):
        raise UsageError(
            "error: --output-watch-events option can only be used with --watch or --watch-only"
        )
    if opts.watch or opts.watch_only:
        from kubectl_scipian.read.watch import watch  # only when watching: start-up cost

        return watch(session, opts, kind, arg)
    printer = _printer(kind, arg, opts)
    jobs = plan(session, opts)
    errors: list[str] = []
    single = len(jobs) == 1 and jobs[0].name is not None
    # kubectl's multipleGVKsRequested: kinds named in two versions count twice
    ok_kinds: set[tuple[str, str, str]] = set()
    for job in jobs:
        try:
            for page in _pages(session, job, opts, printer.accept, printer.query):
                printer.add(job, page)
            ok_kinds.add((job.resource.group, job.resource.version, job.resource.kind))
        except Unauthorized:
            raise  # the caller refreshes credentials (or prints kubectl's words)
        except StatusError as e:
            if e.code == 404 and job.name is not None and opts.ignore_not_found:
                continue
            errors.append(e.message)
    printer.finish(session, multi_kind=len(ok_kinds) > 1 or opts.show_kind, single=single)
    for message in errors:
        session.error(message)
    if not session.written and not errors and printer.human and not opts.ignore_not_found:
        if all(j.resource.namespaced for j in jobs) and not opts.all_namespaces:
            session.error(f"No resources found in {_namespace(session, opts)} namespace.")
        else:
            session.error("No resources found")
    return 1 if errors else 0


class Printer:
    accept = JSON
    human = False

    def __init__(self) -> None:
        self.query: dict[str, Any] = {}

    def add(self, job: Job, page: Any) -> None:
        raise NotImplementedError

    def finish(self, session: Session, *, multi_kind: bool, single: bool) -> None:
        raise NotImplementedError


class TablePrinter(Printer):
    accept = TABLE
    human = True

    def __init__(self, opts: argparse.Namespace, wide: bool) -> None:
        super().__init__()
        self.opts = opts
        self.wide = wide
        self.groups: list[tuple[Job, list[Any]]] = []
        if opts.sort_by:
            self.query = {"includeObject": "Object"}

    def add(self, job: Job, page: Any) -> None:
        if self.groups and self.groups[-1][0].resource == job.resource:
            self.groups[-1][1].append(page)
        else:
            self.groups.append((job, [page]))

    def finish(self, session: Session, *, multi_kind: bool, single: bool) -> None:
        from kubectl_scipian.read.printers.table import TableBuffer, TableOptions, render

        labels = tuple(k for spec in self.opts.label_columns for k in spec.split(",") if k)
        first = True
        for job, pages in self.groups:
            res = job.resource
            buf = TableBuffer(
                TableOptions(
                    wide=self.wide,
                    with_namespace=self.opts.all_namespaces and res.namespaced,
                    kind_prefix=res.kind_prefix if multi_kind else "",
                    show_labels=self.opts.show_labels,
                    label_columns=labels,
                    no_headers=self.opts.no_headers,
                )
            )
            for page in pages:
                if page.get("kind") != "Table":
                    raise ReadError(f"error: server did not return a Table for {res.name}")
                buf.add(page)
            if self.opts.sort_by and buf.rows:
                _sort_table(buf, pages, self.opts.sort_by)
            lines = buf.lines()
            if not lines:
                continue
            if session.table_sink is not None:
                session.emit_table(lines)  # several environments: one table, made by the caller
                continue
            if not first:
                session.write("\n")
            first = False
            session.write(render(lines))


def _sort_table(buf: Any, pages: list[Any], expr: str) -> None:
    from kubectl_scipian.read.printers.columns import sort_key

    objects = [row.get("object") or {} for page in pages for row in page.get("rows") or []]
    key = sort_key(expr)
    order = sorted(range(len(objects)), key=lambda i: key(objects[i]))
    buf.rows = [buf.rows[i] for i in order]


class ObjectPrinter(Printer):
    """json, yaml, name, jsonpath, custom-columns: plain objects."""

    def __init__(self, kind: str, arg: str, opts: argparse.Namespace) -> None:
        super().__init__()
        self.kind = kind
        self.opts = opts
        self.items: list[Any] = []
        self.jobs: list[Job] = []
        self.template: Any = None
        self.columns: Any = None
        if kind == "jsonpath":
            from kubectl_scipian.read.printers.jsonpath import compile_template

            if not arg:
                raise UsageError("error: jsonpath template format specified but no template given")
            self.template = compile_template(arg)
        elif kind == "custom-columns":
            from kubectl_scipian.read.printers.columns import parse_spec

            self.columns = parse_spec(arg)

    def add(self, job: Job, page: Any) -> None:
        if job.name is not None:
            self.items.append(page)
            return
        api_version = page.get("apiVersion", "")
        kind = str(page.get("kind", "")).removesuffix("List")
        for item in page.get("items") or []:
            # list items come without apiVersion/kind; kubectl shows them
            self.items.append({"apiVersion": api_version, "kind": kind, **item})

    def finish(self, session: Session, *, multi_kind: bool, single: bool) -> None:
        items = self.items
        if self.opts.sort_by:
            from kubectl_scipian.read.printers.columns import sort_key

            items = sorted(items, key=sort_key(self.opts.sort_by))
        if self.kind in ("json", "yaml") and not self.opts.show_managed_fields:
            for item in items:
                (item.get("metadata") or {}).pop("managedFields", None)
        doc: Any = (
            items[0]
            if single and len(items) == 1
            else {
                "apiVersion": "v1",
                "items": items,
                "kind": "List",
                "metadata": {"resourceVersion": ""},
            }
        )
        if self.kind == "json":
            from kubectl_scipian.read.printers.jsonyaml import to_json

            session.write(to_json(doc))
        elif self.kind == "yaml":
            from kubectl_scipian.read.printers.jsonyaml import to_yaml

            session.write(to_yaml(doc))
        elif self.kind == "name":
            session.write("".join(f"{_name(i)}\n" for i in items))
        elif self.kind == "jsonpath":
            session.write(self.template.execute(doc))
        else:
            from kubectl_scipian.read.printers import columns as cc
            from kubectl_scipian.read.printers.table import render

            lines = [] if self.opts.no_headers else [[c.header for c in self.columns]]
            lines += [cc.row(self.columns, i) for i in items]
            if session.table_sink is not None and items:
                session.emit_table(lines)
            else:
                session.write(render(lines))


def _name(obj: dict[str, Any]) -> str:
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    kind = str(obj.get("kind", "")).lower()
    name = (obj.get("metadata") or {}).get("name", "")
    return f"{kind}.{group}/{name}" if group else f"{kind}/{name}"


def _printer(kind: str, arg: str, opts: argparse.Namespace) -> Printer:
    if kind in ("", "wide"):
        return TablePrinter(opts, wide=kind == "wide")
    return ObjectPrinter(kind, arg, opts)


__all__ = ["Job", "Request", "get", "plan"]
