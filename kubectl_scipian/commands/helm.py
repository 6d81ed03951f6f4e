"""`kubectl scipian ENV helm list|history|status ...`: Helm 4's output from the backend's
redacted release records; `dev,prod helm list` adds an ENV column (kubectl_scipian.helm).
`helm rollback` runs the real helm with a deploy credential (kubectl_scipian.helm.rollback).

Helm reads one storage driver, HELM_DRIVER's (Secrets by default); the backend reads both
unless HELM_DRIVER names one. Helm's own errors are printed in Helm's words.
"""

from __future__ import annotations

import argparse
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

from kubectl_scipian import wiring
from kubectl_scipian.access.cache import Login, fresh
from kubectl_scipian.backend import light_get as transport
from kubectl_scipian.context import Context
from kubectl_scipian.errors import ArgumentError, AuthError, LoginRequired, ScipianError
from kubectl_scipian.helm import flags, listing, printers
from kubectl_scipian.helm.gofmt import go_json
from kubectl_scipian.support.untrusted import visible

NOT_FOUND = "Error: release: not found"
ID_TOKEN_MARGIN = 30.0  # access/login.py's: the backend allows some clock skew


def run(args: argparse.Namespace, ctx: Context) -> int:
    from kubectl_scipian import cli

    sub = flags.SUBCOMMANDS[args.helm_command]
    parser = flags.build(
        sub, lambda usage, desc: cli.sub_parser(f"ENV helm {usage}", desc, ctx.stdout)
    )
    opts = parser.parse_args(args.helm_args)
    env_ids = [e for e in args.env_id.split(",") if e]
    if len(env_ids) != 1 and sub != "list":
        raise ArgumentError(f"helm {sub} takes one environment, not {args.env_id!r}")
    namespace = opts.namespace or args.namespace or "default"
    wired = wiring.build(args, ctx)
    if wired.cache.load_login() is None and not ctx.interactive:
        raise LoginRequired("not logged in")
    driver = ctx.environ.get("HELM_DRIVER") or None
    reader = _Reader(wired, ctx)
    if sub == "rollback":
        from kubectl_scipian.helm import rollback

        return rollback.run(opts, env_ids[0], namespace, wired, reader, ctx)
    if sub == "list":
        query = {"allNamespaces": "true"} if opts.all_namespaces else {"namespace": namespace}
        if driver:
            query["driver"] = driver
        if len(env_ids) > 1:
            return _list_many(reader, env_ids, query, opts, ctx)
        body = reader.get(env_ids[0], "", query)
        _warn(body["items"], ctx)
        chosen = _choose(body["items"], opts)
        ctx.stdout.write(_list_output([printers.list_element(r) for r in chosen], opts))
        return 0
    env_id = env_ids[0]
    path = f"/{namespace}/{opts.release}"
    if sub == "history":
        query = {"max": str(opts.max)}
        if driver:
            query["driver"] = driver
        items = reader.get(env_id, path + "/history", query)["items"]
        _warn(items, ctx)
        if not items:
            print(NOT_FOUND, file=ctx.stderr)
            return 1
        ctx.stdout.write(_history_output(printers.history_items(items), opts.output))
        return 0
    query = {"revision": str(opts.revision)} if opts.revision else {}
    if driver:
        query["driver"] = driver
    release = reader.get(env_id, path, query).get("release")
    if not isinstance(release, dict):
        print(NOT_FOUND, file=ctx.stderr)
        return 1
    _warn([release], ctx)
    ctx.stdout.write(_status_output(release, opts.output))
    return 0


class _Reader:
    """The backend's release reads with the current login (refreshed once on a 401)."""

    def __init__(self, wired: wiring.Wiring, ctx: Context) -> None:
        self._wired = wired
        self._ctx = ctx

    def login(self) -> Login:
        # A fresh cached login needs neither the OIDC code nor its imports (access/login.py
        # decides everything else: refresh, a new login, none without a terminal).
        cached = self._wired.cache.load_login()
        if cached is not None and fresh(
            cached.expires_at, cached.issued_at, self._ctx.clock(), ID_TOKEN_MARGIN
        ):
            return cached
        return self._wired.auth.valid_login(interactive=self._ctx.interactive)

    def _call(self, env_id: str, path: str, query: dict[str, str], id_token: str) -> dict[str, Any]:
        if transport.usable(self._ctx.environ):
            config = self._wired.config
            full = f"/api/v1/environments/{quote(env_id, safe='')}/releases{path}"
            return transport.get(
                config.backend_url, config.verify, self._ctx.environ, full, query, id_token
            )
        return self._wired.backend.releases(env_id, id_token, path, query)

    def get(self, env_id: str, path: str, query: dict[str, str]) -> dict[str, Any]:
        login = self.login()
        try:
            body = self._call(env_id, path, query, login.id_token)
        except AuthError as err:
            if not err.detail.startswith("HTTP 401") or login.refresh_token is None:
                raise
            login = self._wired.auth.valid_login(
                interactive=self._ctx.interactive, rejected_token=login.id_token
            )
            body = self._call(env_id, path, query, login.id_token)
        items = body.get("items")
        if "release" not in body and not isinstance(items, list):
            from kubectl_scipian.errors import BackendError

            raise BackendError("the Scipian backend sent a malformed release answer")
        return body


def _warn(releases: list[dict[str, Any]], ctx: Context) -> None:
    """Undecodable records are reported, never dropped silently (Helm's own reader skips them)."""
    for rel in releases:
        if rel.get("error"):
            why = visible(rel["error"])
            print(f"WARNING: release record not decodable: {why}", file=ctx.stderr)


def _choose(items: list[dict[str, Any]], opts: argparse.Namespace) -> list[dict[str, Any]]:
    return listing.choose(
        items,
        filter=opts.filter,
        by_date=opts.date,
        reverse=opts.reverse,
        limit=opts.max,
        offset=opts.offset,
    )


def _list_output(
    elements: list[dict[str, str]], opts: argparse.Namespace, env: bool = False
) -> str:
    if opts.short:
        names = [e["name"] for e in elements]
        if opts.output == "json":
            return go_json(names)
        if opts.output == "yaml":
            return _yaml(names)
        return "".join(f"{n}\n" for n in names)
    if opts.output == "json":
        return go_json(elements)
    if opts.output == "yaml":
        return _yaml(elements)
    return printers.list_table(elements, no_headers=opts.no_headers, env=env)


def _history_output(items: list[dict[str, Any]], output: str) -> str:
    if output == "table":
        return printers.history_table(items)
    plain = printers.history_json_items(items)
    return go_json(plain) if output == "json" else _yaml(plain)


def _status_output(release: dict[str, Any], output: str) -> str:
    if output == "table":
        return printers.status_table(release)
    obj = printers.status_object(release)
    return go_json(obj) if output == "json" else _yaml(obj)


def _yaml(obj: Any) -> str:
    from kubectl_scipian.read.printers.jsonyaml import to_yaml

    return to_yaml(obj) if obj != [] else "[]\n"


def _list_many(
    reader: _Reader,
    env_ids: list[str],
    query: dict[str, str],
    opts: argparse.Namespace,
    ctx: Context,
) -> int:
    from kubectl_scipian import cli

    def one(env_id: str) -> tuple[str, list[dict[str, str]] | None, str]:
        try:
            body = reader.get(env_id, "", query)
        except ScipianError as err:
            return env_id, None, cli.error_text(err)
        _warn(body["items"], ctx)
        chosen = _choose(body["items"], opts)
        return env_id, [{"environment": env_id, **printers.list_element(r)} for r in chosen], ""

    # The login first, once: the threads then all find it valid in the cache.
    reader.login()
    with ThreadPoolExecutor(min(8, len(env_ids))) as pool:
        results = list(pool.map(one, env_ids))
    elements: list[dict[str, str]] = []
    failed = False
    for env_id, found, error in results:
        if found is None:
            failed = True
            print(f"{env_id}: {error}", file=ctx.stderr)
        else:
            elements += found
    ctx.stdout.write(_list_output(elements, opts, env=True))
    return 1 if failed else 0
