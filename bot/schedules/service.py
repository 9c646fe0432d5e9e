"""Schedule use cases: the HTTP API, Slack `/oncall`, the web console, the escalation engine and the CLI call these.

Reads build a pure `ScheduleSpec` from the rows (layers JSON + override rows, calendar layers expanded over the
window asked about) and let `rotation` answer, so every edge sees the same answer for the same instant.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from bot.clock import Clock
from bot.directory.models import Team, User
from bot.errors import InvalidInput, NotFound
from bot.schedules import rotation
from bot.schedules.ical import calendar_layer
from bot.schedules.models import Schedule, ScheduleOverride
from bot.schedules.overrides import Override
from bot.schedules.rotation import Layer, RotationLayer, ScheduleSpec, Shift, ShiftLength
from bot.schedules.schemas import LayerIn, OverrideIn, ScheduleIn

__all__ = [
    "OnCallNow",
    "ShiftView",
    "add_override",
    "delete_override",
    "delete_schedule",
    "get_schedule",
    "list_schedules",
    "next_shift",
    "on_call_users",
    "render_shifts",
    "shift_starts",
    "team_on_call",
    "upsert_schedule",
    "user_shifts",
    "who_is_on_call",
]

HORIZON = rotation.SEARCH_HORIZON


@dataclass(frozen=True)
class ShiftView:
    """A shift with its person resolved to a Herald user where one matches."""

    schedule: str
    user: str  # the e-mail (or calendar name) the schedule names
    name: str
    slack_id: str | None
    start: datetime
    end: datetime
    layer: str


@dataclass(frozen=True)
class OnCallNow:
    schedule: str
    time_zone: str
    current: ShiftView | None
    next: ShiftView | None


def get_schedule(session: Session, name: str) -> Schedule:
    schedule = session.scalars(
        select(Schedule).where(Schedule.name == name).options(selectinload(Schedule.overrides))
    ).one_or_none()
    if schedule is None:
        raise NotFound(f"no schedule named {name!r}")
    return schedule


def list_schedules(session: Session, *, team: str | None = None) -> list[Schedule]:
    query = select(Schedule).options(selectinload(Schedule.team)).order_by(Schedule.name)
    if team:
        query = query.join(Team, Team.id == Schedule.team_id).where(Team.name == team)
    return list(session.scalars(query))


def upsert_schedule(session: Session, *, clock: Clock, body: ScheduleIn, actor: str) -> tuple[Schedule, bool]:
    """Create or replace a schedule by name; returns it and whether anything changed.

    Overrides listed in `body` replace the schedule's overrides (the config file is the truth for them); an API
    `PUT` without overrides keeps the ones people added.
    """
    now = clock.now()
    team = _team(session, body.team) if body.team else None
    layers = [layer.stored() for layer in body.layers]
    for index, layer in enumerate(body.layers):
        _check_participants(session, layer, index)
    schedule = session.scalars(select(Schedule).where(Schedule.name == body.name)).one_or_none()
    values: dict[str, Any] = {
        "description": body.description,
        "time_zone": body.time_zone,
        "team_id": team.id if team else None,
        "layers": layers,
        "reminder_minutes": body.reminder_minutes,
    }
    changed = False
    if schedule is None:
        schedule = Schedule(name=body.name, created_at=now, updated_at=now, **values)
        session.add(schedule)
        session.flush()
        changed = True
    elif any(getattr(schedule, key) != value for key, value in values.items()):
        for key, value in values.items():
            setattr(schedule, key, value)
        schedule.updated_at = now
        changed = True
    if body.overrides:
        changed |= _replace_overrides(session, schedule, body.overrides, actor=actor, now=now)
    return schedule, changed


def delete_schedule(session: Session, *, name: str) -> None:
    session.delete(get_schedule(session, name))


def add_override(
    session: Session, *, clock: Clock, schedule: Schedule, body: OverrideIn, actor: str
) -> ScheduleOverride:
    row = ScheduleOverride(
        schedule_id=schedule.id,
        user_id=_user(session, body.user).id,
        replaces_user_id=_user(session, body.replaces).id if body.replaces else None,
        starts_at=body.start,
        ends_at=body.end,
        reason=body.reason,
        created_by=actor,
        created_at=clock.now(),
    )
    session.add(row)
    session.flush()
    return row


def delete_override(session: Session, *, schedule: Schedule, override_id: int) -> None:
    row = session.get(ScheduleOverride, override_id)
    if row is None or row.schedule_id != schedule.id:
        raise NotFound(f"schedule {schedule.name!r} has no override {override_id}")
    session.delete(row)


def spec_for(session: Session, schedule: Schedule, start: datetime, end: datetime) -> ScheduleSpec:
    """The pure schedule, with calendar layers expanded and overrides loaded for [start, end)."""
    layers: list[Layer] = [_layer(entry, schedule.time_zone, start, end) for entry in schedule.layers]
    rows = session.scalars(
        select(ScheduleOverride)
        .where(
            ScheduleOverride.schedule_id == schedule.id,
            ScheduleOverride.ends_at > start,
            ScheduleOverride.starts_at < end,
        )
        .options(selectinload(ScheduleOverride.user), selectinload(ScheduleOverride.replaces))
        .order_by(ScheduleOverride.id)
    )
    overrides = tuple(
        Override(row.starts_at, row.ends_at, row.user.email, row.replaces.email if row.replaces else None)
        for row in rows
    )
    return ScheduleSpec(schedule.name, schedule.time_zone, tuple(layers), overrides)


def who_is_on_call(session: Session, *, schedule: Schedule | str, at: datetime) -> OnCallNow:
    """The current shift (true start and end) and the next one, with people resolved to users."""
    row = get_schedule(session, schedule) if isinstance(schedule, str) else schedule
    spec = spec_for(session, row, at - HORIZON, at + 2 * HORIZON)
    current = rotation.shift_at(spec, at, HORIZON)
    upcoming = rotation.upcoming_shifts(spec, current.end if current else at, 1, HORIZON)
    people = _people(session, [s.user for s in ([current] if current else []) + upcoming])
    return OnCallNow(
        schedule=row.name,
        time_zone=row.time_zone,
        current=_view(row.name, current, people) if current else None,
        next=_view(row.name, upcoming[0], people) if upcoming else None,
    )


def next_shift(session: Session, *, schedule: Schedule | str, at: datetime) -> ShiftView | None:
    return who_is_on_call(session, schedule=schedule, at=at).next


def on_call_users(session: Session, *, schedule_id: int, at: datetime) -> list[User]:
    """The Herald users on call for a schedule at `at` (empty for an empty shift or an unknown person)."""
    schedule = session.get(Schedule, schedule_id)
    if schedule is None:
        return []
    on_call = rotation.who_is_on_call(spec_for(session, schedule, at - HORIZON, at + HORIZON), at)
    if on_call is None:
        return []
    person = _people(session, [on_call.user]).get(on_call.user.lower())
    return [person] if person else []


def team_on_call(session: Session, *, team: str, at: datetime) -> list[OnCallNow]:
    """`/oncall TEAM`: who is on call now and next on each of the team's schedules."""
    _team(session, team)
    return [who_is_on_call(session, schedule=s, at=at) for s in list_schedules(session, team=team)]


def render_shifts(session: Session, *, schedule: Schedule, start: datetime, end: datetime) -> list[ShiftView]:
    if end <= start:
        raise InvalidInput("the range must end after it starts")
    if end - start > timedelta(days=366):
        raise InvalidInput("ask for at most 366 days of shifts at a time")
    shifts = rotation.render(spec_for(session, schedule, start, end), start, end)
    people = _people(session, [s.user for s in shifts])
    return [_view(schedule.name, s, people) for s in shifts]


def user_shifts(session: Session, *, user: User, start: datetime, end: datetime) -> list[ShiftView]:
    """Every shift of one person across all schedules (their personal calendar feed)."""
    found: list[ShiftView] = []
    for schedule in list_schedules(session):
        found += [s for s in render_shifts(session, schedule=schedule, start=start, end=end) if s.user == user.email]
    return sorted(found, key=lambda s: s.start)


def shift_starts(session: Session, *, now: datetime) -> list[tuple[Schedule, ShiftView]]:
    """Shifts that begin within each schedule's reminder lead time after `now` (for reminders before a shift)."""
    found = []
    for schedule in list_schedules(session):
        if schedule.reminder_minutes <= 0:
            continue
        end = now + timedelta(minutes=schedule.reminder_minutes)
        found += [(schedule, s) for s in render_shifts(session, schedule=schedule, start=now, end=end) if s.start > now]
    return found


def _layer(entry: dict[str, Any], time_zone: str, start: datetime, end: datetime) -> Layer:
    layer = LayerIn.model_validate(entry)
    if layer.ical is not None:
        return calendar_layer(layer.name, layer.ical, start, end)
    assert layer.rotation is not None and layer.start is not None
    return RotationLayer(
        name=layer.name,
        time_zone=time_zone,
        start=layer.start,
        length=ShiftLength.parse(layer.rotation),
        participants=tuple(p.lower() for p in layer.participants),
        restrictions=tuple(r.to_restriction() for r in layer.restrictions),
    )


def _people(session: Session, keys: Sequence[str]) -> dict[str, User]:
    """Users by lower-cased e-mail, and by lower-cased name for calendar entries that give a name."""
    wanted = {k.lower() for k in keys}
    if not wanted:
        return {}
    users = session.scalars(
        select(User).where((func.lower(User.email).in_(wanted)) | (func.lower(User.name).in_(wanted)))
    )
    found: dict[str, User] = {}
    for user in users:
        found[user.email.lower()] = user
        found.setdefault(user.name.lower(), user)
    return found


def _view(schedule: str, shift: Shift, people: dict[str, User]) -> ShiftView:
    user = people.get(shift.user.lower())
    return ShiftView(
        schedule=schedule,
        user=user.email if user else shift.user,
        name=user.name if user else shift.user,
        slack_id=user.slack_id if user else None,
        start=shift.start,
        end=shift.end,
        layer=shift.layer,
    )


def _check_participants(session: Session, layer: LayerIn, index: int) -> None:
    if not layer.participants:
        return
    known = _people(session, layer.participants)
    missing = [p for p in layer.participants if p.lower() not in known]
    if missing:
        raise InvalidInput(f"layers[{index}] ({layer.name}): unknown participant(s) {', '.join(missing)}")


def _replace_overrides(
    session: Session, schedule: Schedule, wanted: list[OverrideIn], *, actor: str, now: datetime
) -> bool:
    def key(start: datetime, end: datetime, user: str, replaces: str | None) -> tuple[Any, ...]:
        return (start, end, user.lower(), (replaces or "").lower())

    existing = {
        key(o.starts_at, o.ends_at, o.user.email, o.replaces.email if o.replaces else None): o
        for o in schedule.overrides
    }
    desired = {key(o.start, o.end, o.user, o.replaces): o for o in wanted}
    for stale in existing.keys() - desired.keys():
        session.delete(existing[stale])
    for fresh in desired.keys() - existing.keys():
        session.add(
            ScheduleOverride(
                schedule_id=schedule.id,
                user_id=_user(session, desired[fresh].user).id,
                replaces_user_id=_user(session, desired[fresh].replaces).id if desired[fresh].replaces else None,
                starts_at=desired[fresh].start,
                ends_at=desired[fresh].end,
                reason=desired[fresh].reason,
                created_by=actor,
                created_at=now,
            )
        )
    session.flush()
    return existing.keys() != desired.keys()


def _user(session: Session, email: str | None) -> User:
    user = session.scalars(select(User).where(func.lower(User.email) == (email or "").lower())).one_or_none()
    if user is None:
        raise InvalidInput(f"unknown user {email!r}")
    return user


def _team(session: Session, name: str) -> Team:
    team = session.scalars(select(Team).where(Team.name == name)).one_or_none()
    if team is None:
        raise NotFound(f"no team named {name!r}")
    return team
