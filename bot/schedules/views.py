"""HTTP API of schedules: CRUD, who is on call, rendered shifts, overrides, and iCalendar feeds.

Feeds (`…/calendar.ics`) accept the bearer token or a `token` query parameter (calendar apps cannot send headers);
the per-feed token is an HMAC of the feed's name under `HERALD_API_TOKEN`, shown as `calendar_url`.
"""

from __future__ import annotations

import hmac
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from sqlalchemy import func, select

from bot.directory.models import User
from bot.errors import InvalidInput, NotFound, Unauthorized
from bot.http import ApiActor, RuntimeDep, api_actor, json_body
from bot.runtime import Runtime
from bot.schedules import service
from bot.schedules.ical import export_calendar, feed_token
from bot.schedules.models import Schedule
from bot.schedules.schemas import OverrideIn, ScheduleIn
from bot.schedules.service import OnCallNow, ShiftView

router = APIRouter(prefix="/api/v1", tags=["schedules"])

FEED_PAST = timedelta(days=7)
FEED_FUTURE = timedelta(days=90)


def _shift(view: ShiftView | None) -> dict[str, Any] | None:
    if view is None:
        return None
    return {
        "user": view.user,
        "name": view.name,
        "slack_id": view.slack_id,
        "start": view.start,
        "end": view.end,
        "layer": view.layer,
    }


def _on_call(now: OnCallNow) -> dict[str, Any]:
    return {
        "schedule": now.schedule,
        "time_zone": now.time_zone,
        "current": _shift(now.current),
        "next": _shift(now.next),
    }


def _schedule(runtime: Runtime, row: Schedule) -> dict[str, Any]:
    token = feed_token(runtime.settings.api_token.get_secret_value(), "schedule", row.name)
    base = runtime.settings.effective_public_url
    return {
        "name": row.name,
        "description": row.description,
        "time_zone": row.time_zone,
        "team": row.team.name if row.team else None,
        "reminder_minutes": row.reminder_minutes,
        "layers": row.layers,
        "overrides": [
            {
                "id": o.id,
                "start": o.starts_at,
                "end": o.ends_at,
                "user": o.user.email,
                "replaces": o.replaces.email if o.replaces else None,
                "reason": o.reason,
                "created_by": o.created_by,
            }
            for o in row.overrides
        ],
        "calendar_url": f"{base}/api/v1/schedules/{row.name}/calendar.ics?token={token}",
    }


def _instant(value: str | None, default: datetime) -> datetime:
    if value is None:
        return default
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{value!r} is not an ISO-8601 time (e.g. 2025-11-18T14:00:00Z)") from None
    if parsed.tzinfo is None:
        raise InvalidInput(f"{value!r} needs a UTC offset or Z")
    return parsed


@router.get("/schedules")
def list_schedules(
    runtime: RuntimeDep, _actor: ApiActor, team: Annotated[str | None, Query()] = None
) -> list[dict[str, Any]]:
    now = runtime.clock.now()
    with runtime.transaction() as session:
        return [
            {"name": s.name, "team": s.team.name if s.team else None, "time_zone": s.time_zone}
            | {"on_call": _on_call(service.who_is_on_call(session, schedule=s, at=now))}
            for s in service.list_schedules(session, team=team)
        ]


@router.put("/schedules/{name}")
async def put_schedule(name: str, request: Request, runtime: RuntimeDep, actor: ApiActor) -> dict[str, Any]:
    raw = await json_body(request)
    if not isinstance(raw, dict):
        raise InvalidInput("the body must be a JSON object describing the schedule")
    try:
        body = ScheduleIn.model_validate(raw | {"name": name})
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None
    with runtime.transaction() as session:
        row, changed = service.upsert_schedule(session, clock=runtime.clock, body=body, actor=actor)
        session.refresh(row)
        return _schedule(runtime, row) | {"changed": changed}


@router.get("/schedules/{name}")
def get_schedule(name: str, runtime: RuntimeDep, _actor: ApiActor) -> dict[str, Any]:
    with runtime.transaction() as session:
        return _schedule(runtime, service.get_schedule(session, name))


@router.delete("/schedules/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete_schedule(name: str, runtime: RuntimeDep, _actor: ApiActor) -> Response:
    with runtime.transaction() as session:
        service.delete_schedule(session, name=name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/schedules/{name}/oncall")
def on_call(
    name: str, runtime: RuntimeDep, _actor: ApiActor, at: Annotated[str | None, Query()] = None
) -> dict[str, Any]:
    with runtime.transaction() as session:
        return _on_call(service.who_is_on_call(session, schedule=name, at=_instant(at, runtime.clock.now())))


@router.get("/schedules/{name}/shifts")
def shifts(
    name: str,
    runtime: RuntimeDep,
    _actor: ApiActor,
    start: Annotated[str | None, Query()] = None,
    end: Annotated[str | None, Query()] = None,
) -> list[dict[str, Any]]:
    begin = _instant(start, runtime.clock.now())
    finish = _instant(end, begin + timedelta(days=14))
    with runtime.transaction() as session:
        row = service.get_schedule(session, name)
        return [_shift(s) or {} for s in service.render_shifts(session, schedule=row, start=begin, end=finish)]


@router.post("/schedules/{name}/overrides", status_code=status.HTTP_201_CREATED)
def add_override(name: str, body: OverrideIn, runtime: RuntimeDep, actor: ApiActor) -> dict[str, Any]:
    with runtime.transaction() as session:
        row = service.get_schedule(session, name)
        override = service.add_override(session, clock=runtime.clock, schedule=row, body=body, actor=actor)
        return {"id": override.id, "start": override.starts_at, "end": override.ends_at, "user": body.user}


@router.delete("/schedules/{name}/overrides/{override_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_override(name: str, override_id: int, runtime: RuntimeDep, _actor: ApiActor) -> Response:
    with runtime.transaction() as session:
        service.delete_override(session, schedule=service.get_schedule(session, name), override_id=override_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/teams/{team}/oncall")
def team_on_call(team: str, runtime: RuntimeDep, _actor: ApiActor) -> list[dict[str, Any]]:
    with runtime.transaction() as session:
        return [_on_call(n) for n in service.team_on_call(session, team=team, at=runtime.clock.now())]


def _feed_auth(request: Request, runtime: Runtime, kind: str, name: str, token: str | None) -> None:
    if token is None:
        api_actor(request, runtime)
        return
    expected = feed_token(runtime.settings.api_token.get_secret_value(), kind, name)
    if not hmac.compare_digest(token.encode(), expected.encode()):
        raise Unauthorized("wrong calendar feed token")


@router.get("/schedules/{name}/calendar.ics")
def schedule_feed(
    name: str, request: Request, runtime: RuntimeDep, token: Annotated[str | None, Query()] = None
) -> Response:
    _feed_auth(request, runtime, "schedule", name, token)
    now = runtime.clock.now()
    with runtime.transaction() as session:
        row = service.get_schedule(session, name)
        shifts = service.render_shifts(session, schedule=row, start=now - FEED_PAST, end=now + FEED_FUTURE)
    body = export_calendar(f"On call: {name}", shifts)
    return Response(body, media_type="text/calendar")


@router.get("/users/{email}/calendar.ics")
def user_feed(
    email: str, request: Request, runtime: RuntimeDep, token: Annotated[str | None, Query()] = None
) -> Response:
    _feed_auth(request, runtime, "user", email.lower(), token)
    now = runtime.clock.now()
    with runtime.transaction() as session:
        user = session.scalars(select(User).where(func.lower(User.email) == email.lower())).one_or_none()
        if user is None:
            raise NotFound(f"no user {email!r}")
        shifts = service.user_shifts(session, user=user, start=now - FEED_PAST, end=now + FEED_FUTURE)
    body = export_calendar(f"On call: {user.name}", shifts)
    return Response(body, media_type="text/calendar")
