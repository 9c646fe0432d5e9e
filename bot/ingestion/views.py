"""Integration endpoints (VictorOps REST, Alertmanager) and the maintenance-window API.

The integration routes read the raw body themselves (not through FastAPI's body models): vendor payloads carry
custom fields that must be kept, every rejection must be counted in `/metrics`, and a bad payload must get a 4xx
that names the field. The OpenAPI document still shows each payload's schema. Every accepted alert is committed
before the answer (group commit, see writer.py); `herald_ingest_latency_seconds` measures exactly that wait.

These routes are the hot path of an alert storm, so they do nothing per request that durability does not need:
no synchronous dependency (FastAPI runs each in a worker thread, a hop that costs more than the parsing), the
runtime is read from the app state, and the answer is serialised once, without re-validating the response model.
They read their path and query parameters from the request too: FastAPI's validation of two plain strings cost
about 25 µs a request, a tenth of what the whole HTTP stack costs one. The OpenAPI document still lists them.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request, Response, status
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.directory import service as directory_service
from bot.directory.models import Service
from bot.errors import HeraldError, InvalidInput
from bot.http import ApiActor, RuntimeDep, check_integration_key, json_body
from bot.incidents.schemas import StrictBody
from bot.ingestion import grouping, maintenance
from bot.ingestion.event import AlertEvent
from bot.ingestion.models import MaintenanceWindow
from bot.ingestion.service import IngestContext, Ingestor, IngestResult
from bot.ingestion.sources import alertmanager, victorops
from bot.runtime import Runtime

INGESTOR = "ingestor"


def install(runtime: Runtime) -> None:
    """The ingestor of this runtime, with the grouping rules of `HERALD_GROUPING_RULES_FILE` (a bad file stops
    Herald at start with a message naming the rule, rather than mis-grouping alerts later)."""
    rules = grouping.load_rules(runtime.settings.grouping_rules_file)
    runtime.extras[INGESTOR] = Ingestor(runtime.sessions, IngestContext(runtime.clock, runtime.events, rules))


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    ingestor = app.state.runtime.extras.get(INGESTOR)
    if ingestor is not None:
        ingestor.stop()


router = APIRouter(prefix="/api/v1/integrations", tags=["integrations"], lifespan=_lifespan)
maintenance_router = APIRouter(prefix="/api/v1/maintenance", tags=["maintenance"])


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    """A model's JSON schema with its `$defs` inlined, for an `openapi_extra` request body."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return inline(defs[ref.removeprefix("#/$defs/")])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    return inline(schema)


def _doc(model: type[BaseModel], *parameters: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI request body and parameters of a route that reads them from the request itself."""
    return {
        "parameters": list(parameters),
        "requestBody": {"required": True, "content": {"application/json": {"schema": _schema(model)}}},
    }


def _parameter(name: str, where: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "schema": {"type": "string"},
        "description": description,
    }


_INTEGRATION_KEY = _parameter("integration_key", "path", "HERALD_INTEGRATION_KEY")


class VictorOpsAccepted(BaseModel):
    result: str = Field(description="'success', as VictorOps answers")
    entity_id: str
    outcome: str = Field(description="opened, grouped, escalated, duplicate, resolved, acknowledged, recorded, ...")
    incident: int | None = Field(description="Herald incident number the alert belongs to, if any")


class AlertmanagerAccepted(BaseModel):
    status: str
    alerts: int
    incidents: list[int]
    outcomes: dict[str, int]


async def _ingest(request: Request, source: str, parse: Any) -> tuple[list[AlertEvent], list[Any]]:
    """Authenticate, parse, commit; counts every outcome (rejections included) and the time to commit."""
    started = time.perf_counter()
    runtime: Runtime = request.app.state.runtime
    metrics = runtime.metrics
    try:
        check_integration_key(runtime, request.path_params["integration_key"])
        events = parse(await json_body(request))
    except HeraldError:
        metrics.alerts_received.labels(source=source, outcome="rejected").inc()
        raise
    ingestor: Ingestor = runtime.extras[INGESTOR]
    results: list[IngestResult] = await ingestor.submit(events)
    metrics.ingest_latency.labels(source=source).observe(time.perf_counter() - started)
    for result in results:
        metrics.alerts_received.labels(source=source, outcome=result.outcome.value).inc()
    return events, results


def _answer(accepted: BaseModel) -> Response:
    """The response model's JSON, serialised once (FastAPI would validate the model again and encode it twice)."""
    return Response(accepted.model_dump_json(), media_type="application/json")


@router.post(
    "/victorops/{integration_key}/{routing_key}",
    response_model=VictorOpsAccepted,
    summary="VictorOps REST endpoint alert (the body VictorOps accepts, unchanged)",
    openapi_extra=_doc(
        victorops.VictorOpsAlert,
        _INTEGRATION_KEY,
        _parameter("routing_key", "path", "service routing key (an unknown one creates a service of that name)"),
    ),
)
async def victorops_alert(request: Request) -> Response:
    """Any tool that posts to VictorOps' REST endpoint can post here: only the base URL changes.

    CRITICAL → P1, WARNING → P2, INFO is recorded on an open incident (never opens one), ACKNOWLEDGEMENT acknowledges
    and RECOVERY resolves (the incident resolves once all its alerts have). `entity_id` is the dedup key within the
    routing key; an unknown routing key creates a service named after it.
    """

    routing_key = request.path_params["routing_key"]

    def parse(body: Any) -> list[AlertEvent]:
        return [victorops.parse(body, routing_key=directory_service.check_routing_key(routing_key))]

    events, results = await _ingest(request, victorops.SOURCE, parse)
    return _answer(
        VictorOpsAccepted(
            result="success",
            entity_id=events[0].labels["entity_id"],
            outcome=results[0].outcome.value,
            incident=results[0].incident_number,
        )
    )


@router.post(
    "/alertmanager/{integration_key}",
    response_model=AlertmanagerAccepted,
    summary="Prometheus Alertmanager webhook (version 4)",
    openapi_extra=_doc(
        alertmanager.AlertmanagerMessage,
        _INTEGRATION_KEY,
        _parameter("routing_key", "query", "service routing key; else the alert's label"),
    ),
)
async def alertmanager_webhook(request: Request) -> Response:
    """Firing/resolved per alert fingerprint; one Alertmanager group is one incident unless a grouping rule says
    otherwise. The service comes from `?routing_key=`, else the alert's `routing_key` or `service` label."""

    routing_key = request.query_params.get("routing_key")

    def parse(body: Any) -> list[AlertEvent]:
        key = directory_service.check_routing_key(routing_key) if routing_key is not None else None
        return alertmanager.parse(body, routing_key=key)

    _events, results = await _ingest(request, alertmanager.SOURCE, parse)
    return _answer(
        AlertmanagerAccepted(
            status="success",
            alerts=len(results),
            incidents=sorted({r.incident_number for r in results if r.incident_number is not None}),
            outcomes=dict(Counter(r.outcome.value for r in results)),
        )
    )


# -- maintenance windows -----------------------------------------------------------------------------------------


class MaintenanceCreate(StrictBody):
    service: str | None = Field(
        default=None, max_length=200, description="service name or routing key; omit for every service"
    )
    reason: str = Field(min_length=1, max_length=500)
    duration_minutes: int | None = Field(default=None, ge=1, le=44640, description="default 60")
    starts_at: datetime | None = Field(default=None, description="default: now")
    ends_at: datetime | None = None


class MaintenanceOut(BaseModel):
    id: int
    service: str | None
    reason: str
    created_by: str
    starts_at: datetime
    ends_at: datetime
    closed_at: datetime | None
    active: bool

    @classmethod
    def of(cls, window: MaintenanceWindow, service: str | None, now: datetime) -> MaintenanceOut:
        return cls(
            id=window.id,
            service=service,
            reason=window.reason,
            created_by=window.created_by,
            starts_at=window.starts_at,
            ends_at=window.ends_at,
            closed_at=window.closed_at,
            active=maintenance.is_open(window, now),
        )


def _out(runtime: Runtime, session: Session, windows: list[MaintenanceWindow]) -> list[MaintenanceOut]:
    now = runtime.clock.now()
    ids = {w.service_id for w in windows if w.service_id is not None}
    names = dict(session.execute(select(Service.id, Service.name).where(Service.id.in_(ids))).all())
    return [MaintenanceOut.of(w, names.get(w.service_id), now) for w in windows]


@maintenance_router.post("", response_model=MaintenanceOut, status_code=status.HTTP_201_CREATED)
def open_window(body: MaintenanceCreate, runtime: RuntimeDep, actor: ApiActor) -> MaintenanceOut:
    """Open a maintenance window (e.g. from a CI/CD canary release): its alerts are recorded, nothing pages."""
    if body.ends_at is not None and body.duration_minutes is not None:
        raise InvalidInput("give either duration_minutes or ends_at, not both")
    for name, value in (("starts_at", body.starts_at), ("ends_at", body.ends_at)):
        if value is not None and value.tzinfo is None:
            raise InvalidInput(f"{name} needs a time zone (e.g. 2025-11-18T14:00:00Z)")
    begin = body.starts_at or runtime.clock.now()
    duration = body.ends_at - begin if body.ends_at else timedelta(minutes=body.duration_minutes or 60)
    with runtime.transaction() as session:
        service = directory_service.find_service(session, name_or_key=body.service) if body.service else None
        window = maintenance.start(
            session,
            clock=runtime.clock,
            service=service,
            reason=body.reason,
            actor=actor,
            duration=duration,
            starts_at=body.starts_at,
        )
        return _out(runtime, session, [window])[0]


@maintenance_router.get("", response_model=list[MaintenanceOut])
def list_windows(runtime: RuntimeDep, _actor: ApiActor) -> list[MaintenanceOut]:
    """Windows open now or scheduled for later."""
    with runtime.transaction() as session:
        return _out(runtime, session, maintenance.current(session, clock=runtime.clock))


@maintenance_router.delete("/{window_id}", response_model=MaintenanceOut)
def close_window(window_id: int, runtime: RuntimeDep, _actor: ApiActor) -> MaintenanceOut:
    with runtime.transaction() as session:
        window = maintenance.close(session, clock=runtime.clock, window_id=window_id)
        return _out(runtime, session, [window])[0]


@maintenance_router.delete("", response_model=list[MaintenanceOut])
def close_windows(
    runtime: RuntimeDep,
    _actor: ApiActor,
    service: Annotated[str | None, Query(description="service name or routing key")] = None,
    all_services: Annotated[bool, Query(description="close the windows that cover every service")] = False,
) -> list[MaintenanceOut]:
    """Close the open windows of a service (what a pipeline does when its canary finishes)."""
    if (service is None) == (not all_services):
        raise InvalidInput("give ?service=NAME (or routing key), or ?all_services=true")
    with runtime.transaction() as session:
        owner = directory_service.find_service(session, name_or_key=service) if service else None
        return _out(runtime, session, maintenance.close_for_service(session, clock=runtime.clock, service=owner))
