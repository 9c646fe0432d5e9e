"""HTTP API of services and their routing keys (`/api/v1/services`)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, Field

from bot.directory import service
from bot.directory.models import Service
from bot.http import ApiActor, RuntimeDep
from bot.incidents.schemas import StrictBody

router = APIRouter(prefix="/api/v1/services", tags=["services"])


class ServiceCreate(StrictBody):
    name: str = Field(min_length=1, max_length=200, pattern=r"^[^/\s][^/]*$")
    description: str = Field(default="", max_length=1000)
    routing_keys: list[str] = Field(default_factory=list, max_length=100)
    slack_channel: str | None = Field(default=None, max_length=80)
    team: str | None = Field(default=None, max_length=200)


class RoutingKeyBody(StrictBody):
    key: str = Field(min_length=1, max_length=200)


class ServiceOut(BaseModel):
    name: str
    description: str
    routing_keys: list[str]
    slack_channel: str | None
    team: str | None
    created_at: datetime

    @classmethod
    def of(cls, svc: Service) -> ServiceOut:
        return cls(
            name=svc.name,
            description=svc.description,
            routing_keys=sorted(k.key for k in svc.routing_keys),
            slack_channel=svc.slack_channel,
            team=svc.team.name if svc.team else None,
            created_at=svc.created_at,
        )


class RoutingKeyAdded(BaseModel):
    service: ServiceOut
    moved_from: str | None = Field(description="the service that owned the key before, if any")


@router.get("", response_model=list[ServiceOut])
def list_services(runtime: RuntimeDep, _actor: ApiActor) -> list[ServiceOut]:
    with runtime.transaction() as session:
        return [ServiceOut.of(s) for s in service.list_services(session)]


@router.post("", response_model=ServiceOut, status_code=status.HTTP_201_CREATED)
def create_service(body: ServiceCreate, runtime: RuntimeDep, _actor: ApiActor) -> ServiceOut:
    """Create a service with the routing keys whose alerts belong to it (a key already in use is a 409)."""
    with runtime.transaction() as session:
        created = service.create_service(
            session,
            clock=runtime.clock,
            name=body.name.strip(),
            routing_keys=body.routing_keys,
            description=body.description,
            slack_channel=body.slack_channel,
            team=body.team,
        )
        return ServiceOut.of(created)


@router.get("/{name}", response_model=ServiceOut)
def get_service(name: str, runtime: RuntimeDep, _actor: ApiActor) -> ServiceOut:
    with runtime.transaction() as session:
        return ServiceOut.of(service.get_service(session, name=name))


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete_service(name: str, runtime: RuntimeDep, _actor: ApiActor) -> Response:
    """Delete a service and its routing keys; its incidents stay, without a service."""
    with runtime.transaction() as session:
        service.delete_service(session, name=name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{name}/routing-keys", response_model=RoutingKeyAdded)
def add_routing_key(name: str, body: RoutingKeyBody, runtime: RuntimeDep, _actor: ApiActor) -> RoutingKeyAdded:
    """Give a routing key to this service, moving it from its current owner (e.g. a service auto-created for it)."""
    with runtime.transaction() as session:
        target = service.get_service(session, name=name)
        previous = service.add_routing_key(session, service=target, key=body.key)
        session.refresh(target)
        return RoutingKeyAdded(service=ServiceOut.of(target), moved_from=previous)


@router.delete("/{name}/routing-keys/{key}", response_model=ServiceOut)
def remove_routing_key(name: str, key: str, runtime: RuntimeDep, _actor: ApiActor) -> ServiceOut:
    with runtime.transaction() as session:
        target = service.get_service(session, name=name)
        service.remove_routing_key(session, service=target, key=key)
        session.refresh(target)
        return ServiceOut.of(target)
