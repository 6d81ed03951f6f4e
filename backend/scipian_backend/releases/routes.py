"""The release read routes (docs/api.md): list, history, status of Helm releases."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from scipian_backend.config import JUSTIFICATION_PATTERN, MAX_JUSTIFICATION
from scipian_backend.http.calls import authorization, check_env_id, request_id
from scipian_backend.http.schema import ERRORS, EnvId
from scipian_backend.releases.queries import (
    DEFAULT_MAX,
    NAMESPACE,
    RELEASE_NAME,
    ReleaseQueries,
    check_namespace,
    check_release,
)
from scipian_backend.releases.rollbacks import Rollbacks, rollback_report
from scipian_backend.usecases import Backend


class ChartRef(BaseModel):
    metadata: dict[str, Any]


class ReleaseInfo(BaseModel):
    first_deployed: str | None = None
    last_deployed: str | None = None
    deleted: str | None = None
    description: str | None = None
    status: str | None = None
    rollback_revision: int | None = None


class TestRun(BaseModel):
    name: str
    started_at: str
    completed_at: str
    phase: str


class RedactedRelease(BaseModel):
    """A release record without config, manifest, hooks, notes, resources, or the chart's
    values, templates and files; `error` says why a record could not be decoded."""

    name: str
    namespace: str
    version: int
    info: ReleaseInfo
    driver: str
    chart: ChartRef | None = None
    apply_method: str | None = None
    tests: list[TestRun] | None = None
    error: str | None = None


class ReleaseList(BaseModel):
    environment: str
    items: list[RedactedRelease]


class RollbackResult(BaseModel):
    revision: int | None
    status: str | None
    description: str | None
    rolledBack: bool


class RollbackAnswer(BaseModel):
    """What was recorded; `result` (phase finished) is what the release record says."""

    environment: str
    namespace: str
    name: str
    user: str
    phase: str
    fromRevision: int
    toRevision: int
    result: RollbackResult | None = None


_ROLLBACK_FIELDS: dict[str, Any] = {
    "justification": {
        "type": "string",
        "maxLength": MAX_JUSTIFICATION,
        "pattern": JUSTIFICATION_PATTERN,
    },
    "fromRevision": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
    "toRevision": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
}
_ROLLBACK_REQUIRED = ["justification", "fromRevision", "toRevision", "phase"]
# Two shapes, as rollbacks.rollback_report checks them: helmExitCode comes with (and only
# with) phase finished. Published so that clients and fuzzers know exactly what is accepted.
ROLLBACK_REQUEST: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {
                            "type": "object",
                            "additionalProperties": False,
                            "required": _ROLLBACK_REQUIRED,
                            "properties": {
                                **_ROLLBACK_FIELDS,
                                "phase": {"type": "string", "enum": ["started"]},
                            },
                        },
                        {
                            "type": "object",
                            "additionalProperties": False,
                            "required": [*_ROLLBACK_REQUIRED, "helmExitCode"],
                            "properties": {
                                **_ROLLBACK_FIELDS,
                                "phase": {"type": "string", "enum": ["finished"]},
                                "helmExitCode": {"type": "integer", "minimum": 0, "maximum": 255},
                            },
                        },
                    ]
                }
            }
        },
    }
}


class ReleaseStatus(BaseModel):
    environment: str
    release: RedactedRelease | None


Driver = Annotated[
    str | None,
    Query(pattern="^(secret|secrets|configmap|configmaps)$", description="default: both"),
]
# Also in /openapi.json, so that clients and fuzzers know what is accepted (else a 400).
Namespace = Annotated[str, Path(pattern=NAMESPACE.pattern, max_length=63)]
NamespaceQuery = Annotated[
    str, Query(pattern=NAMESPACE.pattern, max_length=63, description="Helm's -n")
]
ReleaseName = Annotated[str, Path(pattern=RELEASE_NAME.pattern, max_length=53)]


def install_release_routes(app: FastAPI, backend: Backend) -> None:
    queries = ReleaseQueries(backend)
    rollbacks = Rollbacks(backend)
    base = "/api/v1/environments/{env_id}/releases"

    @app.get(base, response_model=ReleaseList, responses=ERRORS)
    async def release_list(
        env_id: EnvId,
        request: Request,
        namespace: NamespaceQuery = "default",
        allNamespaces: bool = False,
        driver: Driver = None,
    ) -> JSONResponse:
        # As helm: -n defaults to "default", and -A wins over -n.
        ns = None if allNamespaces else check_namespace(namespace)
        body = await run_in_threadpool(
            queries.list, env_id, authorization(request), request_id(request), ns, driver
        )
        return JSONResponse(body)

    @app.get(base + "/{namespace}/{name}/history", response_model=ReleaseList, responses=ERRORS)
    async def release_history(
        env_id: EnvId,
        namespace: Namespace,
        name: ReleaseName,
        request: Request,
        max: Annotated[int, Query(ge=0, le=100000)] = DEFAULT_MAX,
        driver: Driver = None,
    ) -> JSONResponse:
        ns, rel = check_namespace(namespace), check_release(name)
        body = await run_in_threadpool(
            queries.history,
            env_id,
            authorization(request),
            request_id(request),
            ns,
            rel,
            max,
            driver,
        )
        return JSONResponse(body)

    @app.get(base + "/{namespace}/{name}", response_model=ReleaseStatus, responses=ERRORS)
    async def release_status(
        env_id: EnvId,
        namespace: Namespace,
        name: ReleaseName,
        request: Request,
        revision: Annotated[int, Query(ge=0)] = 0,
        driver: Driver = None,
    ) -> JSONResponse:
        ns, rel = check_namespace(namespace), check_release(name)
        body = await run_in_threadpool(
            queries.status,
            env_id,
            authorization(request),
            request_id(request),
            ns,
            rel,
            revision,
            driver,
        )
        return JSONResponse(body)

    @app.post(
        base + "/{namespace}/{name}/rollbacks",
        response_model=RollbackAnswer,
        responses=ERRORS,
        openapi_extra=ROLLBACK_REQUEST,
    )
    async def release_rollback(
        env_id: EnvId, namespace: Namespace, name: ReleaseName, request: Request
    ) -> JSONResponse:
        from scipian_backend.http.routes import check_body

        check_env_id(env_id)  # the ids before the body, as everywhere
        ns, rel = check_namespace(namespace), check_release(name)
        report = rollback_report(await check_body(request))
        body = await run_in_threadpool(
            rollbacks.report, env_id, authorization(request), request_id(request), ns, rel, report
        )
        return JSONResponse(body)
