"""HTTP API of escalation: policies (the format people already write is accepted as is), a service's policy,
escalate-now, an incident's escalation and notifications, automation hooks and drills."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import select

from bot.directory.models import Service
from bot.errors import InvalidInput, NotFound
from bot.escalation import service
from bot.escalation.models import AutomationHook, EscalationPolicy, Notification
from bot.escalation.policy import PolicyIn
from bot.escalation.service import HookIn
from bot.http import ApiActor, RuntimeDep, json_body
from bot.incidents import service as incidents

router = APIRouter(prefix="/api/v1", tags=["escalation"])


class ServicePolicyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    policy: str | None


class DrillBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    service: str


def _policy(row: EscalationPolicy) -> dict[str, Any]:
    return {"name": row.name, "definition": row.definition, "updated_at": row.updated_at}


def _notification(row: Notification) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "channel": row.channel,
        "target": row.target,
        "status": row.status,
        "error": row.error,
        "level": row.level,
        "round": row.round,
        "tries": row.tries,
        "created_at": row.created_at,
        "sent_at": row.sent_at,
        "fallback_of": row.fallback_of,
    }


def _hook(row: AutomationHook) -> dict[str, Any]:
    return {"name": row.name, "url": row.url, "events": row.events, "match": row.match, "enabled": row.enabled}


@router.get("/escalation-policies")
def list_policies(runtime: RuntimeDep, _actor: ApiActor) -> list[dict[str, Any]]:
    with runtime.transaction() as session:
        return [_policy(p) for p in service.list_policies(session)]


@router.get("/escalation-policies/{name}")
def get_policy(name: str, runtime: RuntimeDep, _actor: ApiActor) -> dict[str, Any]:
    with runtime.transaction() as session:
        return _policy(service.get_policy(session, name))


@router.put("/escalation-policies/{name}")
async def put_policy(name: str, request: Request, runtime: RuntimeDep, _actor: ApiActor) -> dict[str, Any]:
    raw = await json_body(request)
    if not isinstance(raw, dict):
        raise InvalidInput("the body must be a JSON object: {name, rules: [...]} or {escalation_policy: {...}}")
    try:
        body = PolicyIn.from_document(raw)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None
    if body.name != name:
        raise InvalidInput(f"the body names policy {body.name!r} but the URL names {name!r}")
    with runtime.transaction() as session:
        row, changed = service.upsert_policy(session, clock=runtime.clock, body=body)
        return _policy(row) | {"changed": changed}


@router.delete("/escalation-policies/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete_policy(name: str, runtime: RuntimeDep, _actor: ApiActor) -> Response:
    with runtime.transaction() as session:
        service.delete_policy(session, name=name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/services/{name}/escalation-policy")
def put_service_policy(name: str, body: ServicePolicyBody, runtime: RuntimeDep, _actor: ApiActor) -> dict[str, Any]:
    with runtime.transaction() as session:
        svc = session.scalars(select(Service).where(Service.name == name)).one_or_none()
        if svc is None:
            raise NotFound(f"no service named {name!r}")
        changed = service.assign_policy(session, service=svc, policy=body.policy)
        return {"service": name, "policy": body.policy, "changed": changed}


@router.post("/incidents/{number}/escalate")
def escalate(number: int, runtime: RuntimeDep, actor: ApiActor) -> dict[str, Any]:
    with runtime.transaction() as session:
        level, round_ = service.escalate_now(
            session, lifecycle=runtime.extras["lifecycle"], number=number, actor=actor, source="api"
        )
    return {"number": number, "level": level + 1, "round": round_}


@router.get("/incidents/{number}/escalation")
def escalation(number: int, runtime: RuntimeDep, _actor: ApiActor) -> dict[str, Any]:
    with runtime.transaction() as session:
        incident = incidents.get(session, number=number)
        view = service.escalation_of(session, incident=incident)
        return {
            "number": number,
            "escalation": view.__dict__ if view else None,
            "notifications": [_notification(n) for n in service.notifications_of(session, incident=incident)],
        }


@router.get("/hooks")
def list_hooks(runtime: RuntimeDep, _actor: ApiActor) -> list[dict[str, Any]]:
    with runtime.transaction() as session:
        return [_hook(h) for h in service.list_hooks(session)]


@router.put("/hooks/{name}")
def put_hook(name: str, body: HookIn, runtime: RuntimeDep, _actor: ApiActor) -> dict[str, Any]:
    if body.name != name:
        raise InvalidInput(f"the body names hook {body.name!r} but the URL names {name!r}")
    with runtime.transaction() as session:
        row, changed = service.upsert_hook(session, clock=runtime.clock, body=body)
        return _hook(row) | {"changed": changed}


@router.post("/drills", status_code=status.HTTP_201_CREATED)
def drill(body: DrillBody, runtime: RuntimeDep, actor: ApiActor) -> dict[str, Any]:
    with runtime.transaction() as session:
        incident = service.start_drill(
            session, clock=runtime.clock, events=runtime.events, service=body.service, actor=actor, source="api"
        )
        return {"number": incident.number, "title": incident.title, "is_drill": True}
