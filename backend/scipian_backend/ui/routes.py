"""The dashboard's routes under /ui/: login, callback, logout, the pages, logs, static files.

Every page asks for a session (else a redirect to the login), then calls ui/pages.py or
ui/logs.py with the session's Identity; their errors become an HTML page in the plugin's
words (`Invalid authentication for provided environment.` for 401/403,
`Invalid environment referenced.` for a missing environment). Actions are POSTs with CSRF
protection (ui/csrf.py). No GET mints a credential: the pods and logs pages' data (which
mint one) come by POSTs of their scripts carrying the CSRF token in a header. Responses
forbid caching, framing and any other origin's scripts.
"""

from __future__ import annotations

import hmac
import re
import time
from importlib import resources
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, quote, urlsplit

from fastapi import FastAPI, Path, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.staticfiles import StaticFiles

from scipian_backend.config import valid_env_id
from scipian_backend.errors import (
    ApiError,
    BadRequest,
    Forbidden,
    InsufficientUserAuthentication,
    NotFound,
    Unauthorized,
)
from scipian_backend.http.bodies import check_justification
from scipian_backend.http.schema import EnvId
from scipian_backend.ratelimit import TooManyRequests
from scipian_backend.releases.queries import NAMESPACE, RELEASE_NAME
from scipian_backend.ui import csrf, logs
from scipian_backend.ui.follow_watch import FollowSessionWatch
from scipian_backend.ui.follows import Follows
from scipian_backend.ui.login import CALLBACK_PATH, DashboardLogin
from scipian_backend.ui.pages import Pages
from scipian_backend.ui.promotions import PromotionPages
from scipian_backend.ui.render import Renderer
from scipian_backend.ui.requests import DONE, RequestPages
from scipian_backend.ui.session import (
    Session,
    new_pending,
    open_pending,
    seal_pending,
    session_key,
)
from scipian_backend.ui.session_lookup import SessionLookup, looked_up
from scipian_backend.ui.streaming import FollowResponse
from scipian_backend.usecases import Backend

SESSION_COOKIE = "scipian_session"
LOGIN_COOKIE = "scipian_login"
AUTH_MESSAGE = "Invalid authentication for provided environment."
# Whatever is wrong with a pending login's cookie (missing, tampered, sealed with a key no
# longer kept, expired, another browser's state): one message.
LOGIN_REFUSED = "this sign-in expired or was not started in this browser; sign in again"
ENV_MESSAGE = "Invalid environment referenced."
MAX_FORM = 8192
Namespace = Annotated[str, Path(pattern=NAMESPACE.pattern, max_length=63)]
ReleaseName = Annotated[str, Path(pattern=RELEASE_NAME.pattern, max_length=53)]
PodName = Annotated[str, Path(pattern=RELEASE_NAME.pattern, max_length=253)]
Container = Annotated[str | None, Query(pattern=NAMESPACE.pattern, max_length=63)]
Tail = Annotated[int, Query(ge=1, le=logs.MAX_TAIL)]
PromotionName = Annotated[str, Path(pattern=RELEASE_NAME.pattern, max_length=63)]


class Dashboard:
    """The dashboard's collaborators: one per app (create_app)."""

    def __init__(self, backend: Backend) -> None:
        settings = backend.settings
        self.backend = backend
        self.login = DashboardLogin(settings, backend.keys)
        # Sessions and sealing keys on mgmt: any replica serves any request (ui/state.py).
        self.sessions = backend.dashboard.sessions
        self.keys = backend.dashboard.keys
        self.logins = backend.dashboard.logins
        self.login_seconds = settings.ui_login_seconds
        self.pages = Pages(backend)
        self.promotions = PromotionPages(backend)
        self.requests = RequestPages(backend)
        self.render = Renderer()
        self.secure = (settings.public_url or "").startswith("https://")
        self.public_url = settings.public_url or ""
        self.max_seconds = settings.ui_session_max_seconds
        self.follows = Follows(settings.ui_follows_per_user, settings.ui_follows_per_replica)
        # A logout on another replica ends this one's follows of that session too.
        self.follow_watch = FollowSessionWatch(
            self.follows, self.sessions, settings.ui_follow_check_seconds
        )
        self.line_bytes = settings.ui_log_line_bytes
        # A form may lead to the provider: a step-up login is a redirect there after a POST,
        # and browsers apply form-action to redirects too.
        parts = urlsplit(settings.issuer)
        self.issuer_origin = f"{parts.scheme}://{parts.netloc}"


def install_ui_routes(app: FastAPI, backend: Backend) -> None:
    ui = Dashboard(backend)
    app.add_middleware(SessionLookup, sessions=ui.sessions, cookie=SESSION_COOKIE)
    static = resources.files("scipian_backend.ui") / "static"
    app.mount("/ui/static", StaticFiles(directory=str(static)), name="ui-static")

    @app.get("/ui", include_in_schema=False)
    def ui_root() -> Response:
        return RedirectResponse("/ui/", status_code=303)

    @app.get("/ui/login", include_in_schema=False)
    async def login(request: Request, next: str = "/ui/") -> Response:
        return await _start_login(ui, request, _local_path(next))

    @app.get(CALLBACK_PATH, include_in_schema=False)
    async def callback(request: Request) -> Response:
        params = request.query_params
        state, code = params.get("state", ""), params.get("code", "")
        throttled = _throttled(ui, request)
        if throttled is not None:
            return throttled
        sealed = request.cookies.get(LOGIN_COOKIE, "")
        try:
            ring = await run_in_threadpool(ui.keys.ring_for, sealed) if sealed else None
        except ApiError as e:
            return _error(ui, request, e, None)
        # The cookie is the pending login (sealed: any replica opens it, none stored it);
        # its state must be the one the provider sent back to this browser.
        pending = open_pending(ring, sealed, time.time()) if ring is not None else None
        if pending is None or not hmac.compare_digest(pending.state.encode(), state.encode()):
            refused = _error(ui, request, Unauthorized(LOGIN_REFUSED), None)
            refused.delete_cookie(LOGIN_COOKIE, path=CALLBACK_PATH)
            return refused
        if not code:
            # The provider's error code only (e.g. access_denied), never its description.
            why = params.get("error", "no authorization code")[:64]
            return _error(ui, request, Unauthorized(f"sign-in failed ({why})"), None)
        try:
            who, exp = await run_in_threadpool(ui.login.redeem, code, pending)
        except ApiError as e:
            return _error(ui, request, e, None)
        if pending.user is not None and who.username != pending.user:
            # A step-up is the same person signing in again, never someone else.
            return _error(ui, request, Unauthorized(f"sign in again as {pending.user}"), None)
        expires = min(float(exp), time.time() + ui.max_seconds)
        try:
            # The old session, if any, goes (on every replica: it is deleted on mgmt).
            await run_in_threadpool(ui.sessions.delete, request.cookies.get(SESSION_COOKIE))
            session_id, session = await run_in_threadpool(ui.sessions.create, who, expires)
        except ApiError as e:
            return _error(ui, request, e, None)
        ui.follows.end_session(_session_key(request))  # and the old one's log follows here
        target = pending.return_to
        if pending.action is not None:
            failed = await _run_action(ui, request, session, pending.action)
            if isinstance(failed, _StepUp):
                stale = Unauthorized("the new sign-in is still older than the environment allows")
                failed = _error(ui, request, stale, session)
            if failed is not None:
                _set_session_cookie(ui, failed, session_id, expires)
                return failed
            target = _after_action(pending.action)
        resp = RedirectResponse(target, status_code=303)
        _set_session_cookie(ui, resp, session_id, expires)
        return _hardened(resp, ui)

    @app.post("/ui/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        session = _session(ui, request)
        refused = _forged(ui, request, session, (await _form_fields(request)).get("csrf"))
        if refused is not None:
            return refused
        try:
            # Deleted on mgmt: every replica refuses the cookie from the next request on.
            await run_in_threadpool(ui.sessions.delete, request.cookies.get(SESSION_COOKIE))
        except ApiError as e:
            return _error(ui, request, e, session)
        ui.follows.end_session(_session_key(request))  # its open log streams end now
        resp = ui.render.page("signed_out.html", {}, None)
        resp.delete_cookie(SESSION_COOKIE, path="/ui/")
        return _hardened(resp, ui)

    @app.get("/ui/", include_in_schema=False)
    async def environments(request: Request) -> Response:
        return await _page(
            ui,
            request,
            "environments.html",
            lambda s, rid: {"environments": ui.pages.environments(s.identity, rid)},
        )

    @app.get("/ui/activity", include_in_schema=False)
    async def activity(request: Request) -> Response:
        return await _page(
            ui,
            request,
            "activity.html",
            lambda s, rid: {
                **ui.pages.activity(s.identity, rid),
                **_break_glass(backend, s, rid, request),
                **ui.requests.recent(s.identity, rid),
            },
        )

    @app.get("/ui/environments/{env_id}", include_in_schema=False)
    async def environment(env_id: EnvId, request: Request) -> Response:
        return await _page(
            ui,
            request,
            "environment.html",
            lambda s, rid: {
                **ui.pages.environment(env_id, s.identity, rid),
                **ui.requests.ask_here(env_id, s.identity),
            },
        )

    @app.get("/ui/environments/{env_id}/releases/{namespace}/{name}", include_in_schema=False)
    async def release(
        env_id: EnvId, namespace: Namespace, name: ReleaseName, request: Request
    ) -> Response:
        return await _page(
            ui,
            request,
            "release.html",
            lambda s, rid: ui.pages.release(env_id, namespace, name, s.identity, rid),
        )

    # The pods and logs pages: a GET shows the frame only (RBAC asked, nothing minted); the
    # data comes by a same-origin POST carrying the CSRF token in a header, which mints the
    # read credential. A cross-site link or <img> cannot make the backend mint for you.
    @app.get("/ui/environments/{env_id}/releases/{namespace}/{name}/pods", include_in_schema=False)
    async def release_pods(
        env_id: EnvId, namespace: Namespace, name: ReleaseName, request: Request
    ) -> Response:
        def build(s: Session, rid: str) -> dict[str, Any]:
            logs.may_view(backend, env_id, s.identity)
            base = f"/ui/environments/{env_id}/releases/{namespace}/{name}/pods"
            return {"environment": env_id, "namespace": namespace, "name": name, "load": base}

        return await _page(ui, request, "pods.html", build)

    @app.post("/ui/environments/{env_id}/releases/{namespace}/{name}/pods", include_in_schema=False)
    async def release_pods_data(
        env_id: EnvId, namespace: Namespace, name: ReleaseName, request: Request
    ) -> Response:
        session = _session(ui, request)
        refused = _fetch_refused(ui, request, session)
        if refused is not None or session is None:
            return refused or _json_error(ui, Unauthorized("sign in first"), env_id)

        def build(rid: str) -> list[dict[str, Any]]:
            viewer = logs.viewer(backend, env_id, session.identity, rid)
            try:
                return logs.release_pods(viewer, namespace, name)
            finally:
                viewer.close()

        try:
            pods = await run_in_threadpool(build, str(request.state.request_id))
        except ApiError as e:
            return _json_error(ui, e, env_id)
        return _hardened(JSONResponse({"pods": pods}), ui)

    @app.get("/ui/environments/{env_id}/logs/{namespace}/{pod}", include_in_schema=False)
    async def pod_logs(
        env_id: EnvId,
        namespace: Namespace,
        pod: PodName,
        request: Request,
        container: Container = None,
        tail: Tail = logs.DEFAULT_TAIL,
    ) -> Response:
        def build(s: Session, rid: str) -> dict[str, Any]:
            logs.may_view(backend, env_id, s.identity)
            query = f"?tail={tail}" + (f"&container={container}" if container else "")
            return {
                "environment": env_id,
                "namespace": namespace,
                "pod": pod,
                "container": container or "",
                "tail": tail,
                "stream": f"/ui/environments/{env_id}/logs/{namespace}/{pod}/stream{query}",
            }

        return await _page(ui, request, "logs.html", build)

    @app.post("/ui/environments/{env_id}/logs/{namespace}/{pod}/stream", include_in_schema=False)
    async def pod_logs_stream(
        env_id: EnvId,
        namespace: Namespace,
        pod: PodName,
        request: Request,
        container: Container = None,
        tail: Tail = logs.DEFAULT_TAIL,
    ) -> Response:
        session = _session(ui, request)
        refused = _fetch_refused(ui, request, session)
        if refused is not None or session is None:
            return refused or _json_error(ui, Unauthorized("sign in first"), env_id)
        try:
            # A slot first: a refused follow mints nothing.
            slot = ui.follows.open(session.identity.username, _session_key(request))
        except ApiError as e:
            return _json_error(ui, e, None)
        ui.follow_watch.ensure()
        rid = str(request.state.request_id)
        try:
            viewer = await run_in_threadpool(logs.viewer, backend, env_id, session.identity, rid)
        except BaseException as e:
            slot.release()
            if isinstance(e, ApiError):
                return _json_error(ui, e, env_id)
            raise
        stream = logs.follow(
            viewer,
            namespace,
            pod,
            container,
            tail,
            line_bytes=ui.line_bytes,
            until=session.expires,
            handle=slot,
        )
        return _hardened(FollowResponse(stream, slot, viewer), ui)

    @app.get("/ui/promotions", include_in_schema=False)
    async def promotions(request: Request) -> Response:
        return await _page(
            ui,
            request,
            "promotions.html",
            lambda s, rid: {
                **ui.promotions.list(s.identity, rid),
                **_break_glass(backend, s, rid, request),
            },
        )

    @app.get("/ui/promotions/state", include_in_schema=False)
    async def promotions_state(request: Request) -> Response:
        return await _state(ui, request, None)

    @app.get("/ui/promotions/{name}", include_in_schema=False)
    async def promotion(name: PromotionName, request: Request) -> Response:
        def build(s: Session, rid: str) -> dict[str, Any]:
            return {
                **ui.promotions.one(name, s.identity, rid),
                "approved": request.query_params.get("approved", "")[:63],
                "cancelled": request.query_params.get("cancelled", "") == "1",
            }

        return await _page(ui, request, "promotion.html", build)

    @app.get("/ui/promotions/{name}/state", include_in_schema=False)
    async def promotion_state(name: PromotionName, request: Request) -> Response:
        return await _state(ui, request, name)

    @app.get("/ui/promotions/{name}/steps/{env_id}/diff", include_in_schema=False)
    async def promotion_diff(name: PromotionName, env_id: EnvId, request: Request) -> Response:
        return await _page(
            ui,
            request,
            "promotion_diff.html",
            lambda s, rid: ui.promotions.diff(name, env_id, s.identity, rid),
        )

    @app.post("/ui/promotions/{name}/steps/{env_id}/approve", include_in_schema=False)
    async def approve(name: PromotionName, env_id: EnvId, request: Request) -> Response:
        form = await _action_form(ui, request)
        if isinstance(form, Response):
            return form
        session, fields, reason = form
        try:
            digest = _diff_digest(fields.get("diffDigest", ""))
        except ApiError as e:
            return _error(ui, request, e, session)
        # The digest of the diff the approver was shown rides along through a step-up login.
        action = ("approve", name, env_id, reason, digest)
        return await _act(ui, request, session, action, f"/ui/promotions/{name}")

    @app.post("/ui/promotions/{name}/cancel", include_in_schema=False)
    async def cancel(name: PromotionName, request: Request) -> Response:
        form = await _action_form(ui, request)
        if isinstance(form, Response):
            return form
        session, _, reason = form
        action = (CANCEL, name, "", reason)
        return await _act(ui, request, session, action, f"/ui/promotions/{name}")

    @app.post(
        "/ui/environments/{env_id}/breakglass/{entry_id}/acknowledge", include_in_schema=False
    )
    async def acknowledge_break_glass(
        env_id: EnvId, entry_id: EntryId, request: Request
    ) -> Response:
        form = await _action_form(ui, request)
        if isinstance(form, Response):
            return form
        session, fields, reason = form
        back = fields.get("back") if fields.get("back") in BREAK_GLASS_PAGES else "/ui/activity"
        action = (ACK_BREAK_GLASS, entry_id, env_id, reason, str(back))
        return await _act(ui, request, session, action, str(back))

    # Access requests (ui/requests.py): the list, one request, its state for the page's
    # script, asking for access, and approve, deny, revoke or cancel through the service
    # (a step-up login when it asks for one, as promotion approvals).
    @app.get("/ui/requests", include_in_schema=False)
    async def access_requests(request: Request) -> Response:
        return await _page(
            ui, request, "requests.html", lambda s, rid: ui.requests.list(s.identity, rid)
        )

    @app.post("/ui/requests", include_in_schema=False)
    async def ask_for_access(request: Request) -> Response:
        form = await _action_form(ui, request)
        if isinstance(form, Response):
            return form
        session, fields, reason = form
        env_id = fields.get("environment", "")
        if not valid_env_id(env_id):
            return _error(ui, request, BadRequest("choose an environment"), session)
        ask = (
            env_id,
            fields.get("level", ""),
            fields.get("duration", ""),
            reason,
            fields.get("namespaces", "")[:4096],
            session.identity,
            str(request.state.request_id),
        )
        try:
            name = await run_in_threadpool(ui.requests.create, *ask)
        except ApiError as e:
            return _error(ui, request, e, session, env_id)
        return _hardened(RedirectResponse(f"/ui/requests/{name}?done=requested", 303), ui)

    @app.get("/ui/requests/{name}", include_in_schema=False)
    async def access_request(name: RequestName, request: Request) -> Response:
        done = request.query_params.get("done", "")

        def build(s: Session, rid: str) -> dict[str, Any]:
            shown = done if done in (*DONE.values(), "requested") else ""
            return {**ui.requests.one(name, s.identity, rid), "done": shown}

        return await _page(ui, request, "request.html", build)

    @app.get("/ui/requests/{name}/state", include_in_schema=False)
    async def access_request_state(name: RequestName, request: Request) -> Response:
        session = _session(ui, request)
        if session is None:
            return _json_error(ui, Unauthorized("sign in first"), None)
        rid = str(request.state.request_id)
        try:
            body = await run_in_threadpool(ui.requests.state, name, session.identity, rid)
        except ApiError as e:
            return _json_error(ui, e, None)
        return _hardened(JSONResponse(body), ui)

    @app.post("/ui/requests/{name}/{verb}", include_in_schema=False)
    async def decide_access_request(
        name: RequestName, verb: RequestVerb, request: Request
    ) -> Response:
        form = await _action_form(ui, request)
        if isinstance(form, Response):
            return form
        session, _, reason = form
        action = (REQUEST_ACTION + verb, name, "", reason)
        return await _act(ui, request, session, action, f"/ui/requests/{name}")


# The dashboard's break-glass list (breakglass/service.py): its pages, and its action.
ACK_BREAK_GLASS = "ack-break-glass"
CANCEL = "cancel"  # a promotion's cancel request
DIFF_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
BREAK_GLASS_PAGES = ("/ui/activity", "/ui/promotions")
EntryId = Annotated[str, Path(pattern=r"^[0-9a-f]{16}$", max_length=16)]
# An access request's actions: "request-" + the service's verb (ui/requests.py ACTIONS).
REQUEST_ACTION = "request-"
RequestVerb = Literal["approve", "deny", "revoke", "cancel"]
RequestName = Annotated[str, Path(pattern=RELEASE_NAME.pattern, max_length=63)]


def _break_glass(backend: Backend, s: Session, rid: str, request: Request) -> dict[str, Any]:
    """The unacknowledged break-glass entries the viewer may see (activity, promotions)."""
    rows = backend.break_glass.pending(s.identity, rid) if backend.break_glass else []
    return {
        "break_glass": rows,
        "acknowledged": request.query_params.get("acknowledged", "")[:16],
        "page": request.url.path,
    }


class _StepUp(Response):
    """The answer to an action that needs a fresher login (carries the provider's max_age)."""

    def __init__(self, max_age: int) -> None:
        super().__init__(status_code=401)
        self.max_age = max_age


async def _run_action(
    ui: Dashboard, request: Request, session: Session, action: tuple[str, ...]
) -> Response | None:
    """Runs a dashboard action as the session's user: None when done, else what to answer
    (an error page, or _StepUp when the backend asks for a fresher login)."""
    rid = str(request.state.request_id)
    kind, name, env_id, reason = action[:4]
    verb = kind.removeprefix(REQUEST_ACTION) if kind.startswith(REQUEST_ACTION) else ""
    if kind not in ("approve", CANCEL, ACK_BREAK_GLASS) and verb not in DONE:
        return _error(ui, request, Unauthorized("unknown action"), session)
    who = session.identity
    try:
        if verb:
            await run_in_threadpool(ui.requests.act, verb, name, reason, who, rid)
        elif kind == ACK_BREAK_GLASS:
            glass = ui.backend.break_glass
            await run_in_threadpool(glass.acknowledge, env_id, name, reason, who, rid)
        elif kind == CANCEL:
            await run_in_threadpool(ui.promotions.cancel, name, reason, who, rid)
        else:
            digest = action[4]
            await run_in_threadpool(ui.promotions.approve, name, env_id, reason, digest, who, rid)
    except InsufficientUserAuthentication as e:
        return _StepUp(e.max_age)
    except ApiError as e:
        return _error(ui, request, e, session, None)
    return None


def _after_action(action: tuple[str, ...]) -> str:
    if action[0].startswith(REQUEST_ACTION):
        verb = action[0].removeprefix(REQUEST_ACTION)
        return f"/ui/requests/{action[1]}?done={DONE.get(verb, '')}"
    if action[0] == ACK_BREAK_GLASS:
        return f"{action[4]}?acknowledged={action[1]}"
    if action[0] == CANCEL:
        return f"/ui/promotions/{action[1]}?cancelled=1"
    return f"/ui/promotions/{action[1]}?approved={action[2]}"


async def _act(
    ui: Dashboard, request: Request, session: Session, action: tuple[str, ...], back: str
) -> Response:
    """Runs a form's action; when the backend asks for a fresher login (RFC 9470), signs in
    again no longer ago than the environment allows, and runs it on return (ui/session.py
    keeps it, digest included, for the callback only)."""
    failed = await _run_action(ui, request, session, action)
    if isinstance(failed, _StepUp):
        return await _start_login(
            ui,
            request,
            back,
            user=session.identity.username,
            action=action,
            max_age=failed.max_age,
        )
    return failed or _hardened(RedirectResponse(_after_action(action), status_code=303), ui)


def _diff_digest(value: str) -> str:
    if not DIFF_DIGEST.fullmatch(value):
        raise BadRequest("diffDigest must be sha256: and 64 hex digits (the diff you read)")
    return value


async def _start_login(
    ui: Dashboard,
    request: Request,
    return_to: str,
    *,
    user: str | None = None,
    action: tuple[str, ...] | None = None,
    max_age: int | None = None,
) -> Response:
    throttled = _throttled(ui, request)
    if throttled is not None:
        return throttled
    pending = new_pending(
        return_to, time.time() + ui.login_seconds, user=user, action=action, max_age=max_age
    )
    try:
        sealed = seal_pending(await run_in_threadpool(ui.keys.ring), pending)
        url = await run_in_threadpool(ui.login.authorization_url, pending.state, pending)
    except ApiError as e:
        return _error(ui, request, e, None)
    except ValueError:  # more than a cookie holds (a step-up's long justification)
        return _error(ui, request, BadRequest("this form is too long to sign in again for"), None)
    resp = RedirectResponse(url, status_code=303)
    # The pending login itself, sealed, kept by this browser only: the callback (on any
    # replica) opens it, and a code delivered to another browser finds no cookie there.
    resp.set_cookie(
        LOGIN_COOKIE,
        sealed,
        max_age=ui.login_seconds,
        path=CALLBACK_PATH,
        httponly=True,
        samesite="lax",
        secure=ui.secure,
    )
    return _hardened(resp, ui)


def _set_session_cookie(ui: Dashboard, resp: Response, session_id: str, expires: float) -> None:
    resp.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=max(int(expires - time.time()), 1),
        path="/ui/",
        httponly=True,
        samesite="lax",
        secure=ui.secure,
    )
    resp.delete_cookie(LOGIN_COOKIE, path=CALLBACK_PATH)


async def _state(ui: Dashboard, request: Request, name: str | None) -> Response:
    """The promotion strips' state as JSON, for the page's polling (same RBAC as the page)."""
    session = _session(ui, request)
    if session is None:
        return _hardened(JSONResponse({"reason": "Unauthorized"}, status_code=401), ui)
    rid = str(request.state.request_id)
    try:
        body = await run_in_threadpool(ui.promotions.state, name, session.identity, rid)
    except ApiError as e:
        return _hardened(JSONResponse({"reason": e.reason, "message": e.message}, e.status), ui)
    return _hardened(JSONResponse(body), ui)


async def _page(ui: Dashboard, request: Request, template: str, build: Any) -> Response:
    session = _session(ui, request)
    if session is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return _hardened(RedirectResponse(f"/ui/login?next={quote(target)}", status_code=303), ui)
    rid = str(request.state.request_id)
    env_id = request.path_params.get("env_id")
    try:
        context = await run_in_threadpool(build, session, rid)
    except ApiError as e:
        return _error(ui, request, e, session, env_id)
    return _hardened(ui.render.page(template, context, session), ui)


def _session(ui: Dashboard, request: Request) -> Session | None:
    """The request's live session, read from mgmt once per request (ui/session_lookup.py)."""
    return looked_up(request)


def _throttled(ui: Dashboard, request: Request) -> Response | None:
    """An error page when this client address started or finished too many sign-ins
    (the forwarded address when the peer is a trusted proxy: uvicorn's proxy headers)."""
    if ui.logins is None:
        return None
    address = request.client.host if request.client is not None else "unknown"
    try:
        ui.logins.admit(address)
    except TooManyRequests as e:
        resp = _error(ui, request, e, None)
        resp.headers.update(e.headers)
        return resp
    return None


def _session_key(request: Request) -> str:
    return session_key(request.cookies.get(SESSION_COOKIE, ""))


def _fetch_refused(ui: Dashboard, request: Request, session: Session | None) -> Response | None:
    """A refusal (JSON) unless this is the dashboard's own script of this session: the
    session's CSRF token in the X-CSRF-Token header (a cross-site form cannot set a header,
    and a cross-site fetch that tries is stopped by CORS) and, when sent, our own Origin."""
    if session is None:
        return _json_error(ui, Unauthorized("sign in first"), None)
    origin_ok = csrf.same_origin(request.headers.get("origin"), ui.public_url)
    if not origin_ok or not csrf.token_ok(request.headers.get("x-csrf-token"), session.csrf):
        forged = Forbidden("this request did not come from this dashboard (CSRF check)")
        return _json_error(ui, forged, None)
    return None


def _json_error(ui: Dashboard, e: ApiError, env_id: str | None) -> Response:
    body = {"reason": e.reason, "message": _words(e, env_id)}
    return _hardened(JSONResponse(body, status_code=e.status), ui)


async def _action_form(
    ui: Dashboard, request: Request
) -> tuple[Session, dict[str, str], str] | Response:
    """Every action form's preamble: the session, its form with the session's CSRF token
    (ui/csrf.py) and a justification; else the page that refuses it."""
    session = _session(ui, request)
    fields = await _form_fields(request)
    refused = _forged(ui, request, session, fields.get("csrf"))
    if refused is not None or session is None:
        return refused or _error(ui, request, Unauthorized("not signed in"), None)
    try:
        reason = check_justification(fields.get("justification", ""))
    except ApiError as e:
        return _error(ui, request, e, session)
    return session, fields, reason


def _forged(
    ui: Dashboard, request: Request, session: Session | None, token: str | None
) -> Response | None:
    """A refusal when a POST is not the dashboard's own form of this session, else None."""
    if session is None:
        return _error(ui, request, Unauthorized("not signed in"), None)
    origin_ok = csrf.same_origin(request.headers.get("origin"), ui.public_url)
    if not origin_ok or not csrf.token_ok(token, session.csrf):
        resp = ui.render.page(
            "error.html",
            {"status": 403, "message": "This form did not come from this dashboard (CSRF check)."},
            session,
            status=403,
        )
        return _hardened(resp, ui)
    return None


async def _form_fields(request: Request) -> dict[str, str]:
    """A urlencoded form body of at most MAX_FORM bytes, first value of each field (no
    multipart parser); anything else is an empty form."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return {}
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            return {}
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}


def _words(e: ApiError, env_id: str | None) -> str:
    """What the plugin would print for this error."""
    if e.status in (401, 403) and env_id:
        return AUTH_MESSAGE
    if isinstance(e, NotFound) and env_id and e.message == f"no environment {env_id}":
        return ENV_MESSAGE
    return e.message


def _error(
    ui: Dashboard,
    request: Request,
    e: ApiError,
    session: Session | None,
    env_id: str | None = None,
) -> Response:
    context = {"status": e.status, "message": _words(e, env_id)}
    return _hardened(ui.render.page("error.html", context, session, status=e.status), ui)


def _local_path(target: str) -> str:
    """Where to go after the login: a dashboard path only (no open redirect)."""
    if target.startswith("/ui/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/ui/"


def _hardened(resp: Response, ui: Dashboard) -> Response:
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Content-Security-Policy"] = (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        f"connect-src 'self'; form-action 'self' {ui.issuer_origin}; frame-ancestors 'none'; "
        "base-uri 'none'"
    )
    # same-origin, not no-referrer: with no-referrer browsers send `Origin: null` on the
    # dashboard's own POSTs, which the CSRF check (rightly) refuses.
    resp.headers["Referrer-Policy"] = "same-origin"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["X-Frame-Options"] = "DENY"
    return resp
