"""HTTP API of incidents: list, read with timeline, create, acknowledge, resolve, add a note."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status
from sqlalchemy import select

from bot.directory.models import Service
from bot.errors import InvalidInput, NotFound
from bot.http import ApiActor, RuntimeDep
from bot.incidents import service
from bot.incidents.schemas import ActionBody, IncidentCreate, IncidentOut
from bot.incidents.states import State, parse_severity

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])

STATES = {s.value for s in State}


@router.get("", response_model=list[IncidentOut])
def list_incidents(
    runtime: RuntimeDep,
    _actor: ApiActor,
    state: Annotated[list[str] | None, Query(description="triggered, acknowledged, resolved or open")] = None,
    service_name: Annotated[str | None, Query(alias="service")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[IncidentOut]:
    states: list[str] = []
    for value in state or []:
        for item in value.split(","):
            if item == "open":
                states += [State.TRIGGERED.value, State.ACKNOWLEDGED.value]
            elif item in STATES:
                states.append(item)
            else:
                raise InvalidInput(f"unknown state {item!r}; use triggered, acknowledged, resolved or open")
    with runtime.transaction() as session:
        incidents = service.list_incidents(session, states=states, service=service_name, limit=limit)
        return [IncidentOut.of(i) for i in incidents]


@router.get("/{number}", response_model=IncidentOut)
def get_incident(number: int, runtime: RuntimeDep, _actor: ApiActor) -> IncidentOut:
    with runtime.transaction() as session:
        return IncidentOut.of(service.get_with_timeline(session, number=number), with_timeline=True)


@router.post("", response_model=IncidentOut, status_code=status.HTTP_201_CREATED)
def create_incident(body: IncidentCreate, runtime: RuntimeDep, actor: ApiActor) -> IncidentOut:
    with runtime.transaction() as session:
        svc = None
        if body.service:
            svc = session.scalars(select(Service).where(Service.name == body.service)).one_or_none()
            if svc is None:
                raise NotFound(f"no service named {body.service!r}")
        incident = service.open_incident(
            session,
            clock=runtime.clock,
            events=runtime.events,
            title=body.title,
            severity=parse_severity(body.severity),
            service=svc,
            group_key=f"manual:{runtime.clock.now().timestamp()}",
            source="manual",
            actor=actor,
            summary=body.summary,
            labels=body.labels,
        )
        return IncidentOut.of(incident)


@router.post("/{number}/acknowledge", response_model=IncidentOut)
def acknowledge(number: int, runtime: RuntimeDep, actor: ApiActor) -> IncidentOut:
    with runtime.transaction() as session:
        incident = service.get(session, number=number, for_update=True)
        service.acknowledge(
            session, clock=runtime.clock, events=runtime.events, incident=incident, actor=actor, source="api"
        )
        return IncidentOut.of(incident)


@router.post("/{number}/resolve", response_model=IncidentOut)
def resolve(number: int, runtime: RuntimeDep, actor: ApiActor, body: ActionBody | None = None) -> IncidentOut:
    with runtime.transaction() as session:
        incident = service.get(session, number=number, for_update=True)
        service.resolve(
            session,
            clock=runtime.clock,
            events=runtime.events,
            incident=incident,
            actor=actor,
            source="api",
            note=body.note if body else None,
        )
        return IncidentOut.of(incident)


@router.post("/{number}/notes", response_model=IncidentOut)
def add_note(number: int, body: ActionBody, runtime: RuntimeDep, actor: ApiActor) -> IncidentOut:
    if not body.note or not body.note.strip():
        raise InvalidInput("note must not be empty")
    with runtime.transaction() as session:
        incident = service.get(session, number=number, for_update=True)
        service.add_note(
            session,
            clock=runtime.clock,
            events=runtime.events,
            incident=incident,
            actor=actor,
            source="api",
            text=body.note,
        )
        return IncidentOut.of(incident)
