"""A level's targets → the people and channels to notify at this moment.

Targets are resolved when the level fires, not when the incident triggers: the policy is frozen, but "the on-call
of schedule X" means whoever is on call when that level is reached (a hand-off during an incident is honoured).
A team means the people on call on the team's schedules, or every member when the team has no schedule.
Everything that resolves to nobody is reported in `problems`, so the engine can say so instead of waiting silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from bot.directory.models import Team, User
from bot.escalation.policy import Target
from bot.schedules import service as schedules
from bot.schedules.models import Schedule


@dataclass
class Resolved:
    people: list[User] = field(default_factory=list)
    channels: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def add_person(self, user: User) -> None:
        if all(p.id != user.id for p in self.people):
            self.people.append(user)


def resolve(session: Session, targets: tuple[Target, ...], at: datetime) -> Resolved:
    found = Resolved()
    for target in targets:
        if target.kind == "slack_channel":
            found.channels.append(target.ref)
        elif target.kind == "user":
            user = _user(session, target.ref)
            if user is None:
                found.problems.append(f"no user {target.ref!r}")
            else:
                found.add_person(user)
        elif target.kind == "schedule":
            _schedule(session, target.ref, at, found)
        elif target.kind == "team":
            _team(session, target.ref, at, found)
    return found


def _user(session: Session, ref: str) -> User | None:
    return session.scalars(
        select(User).where(or_(func.lower(User.email) == ref.lower(), User.slack_id == ref, User.name == ref))
    ).first()


def _schedule(session: Session, name: str, at: datetime, found: Resolved) -> None:
    schedule = session.scalars(select(Schedule).where(Schedule.name == name)).one_or_none()
    if schedule is None:
        found.problems.append(f"no schedule {name!r}")
        return
    people = schedules.on_call_users(session, schedule_id=schedule.id, at=at)
    if not people:
        found.problems.append(f"schedule {name!r} has nobody on call")
    for user in people:
        found.add_person(user)


def _team(session: Session, ref: str, at: datetime, found: Resolved) -> None:
    team = session.scalars(
        select(Team)
        .where(or_(Team.name == ref, func.lower(Team.email) == ref.lower()))
        .options(selectinload(Team.members))
    ).first()
    if team is None:
        found.problems.append(f"no team {ref!r}")
        return
    team_schedules = session.scalars(select(Schedule.id).where(Schedule.team_id == team.id)).all()
    people: list[User] = []
    for schedule_id in team_schedules:
        people += schedules.on_call_users(session, schedule_id=schedule_id, at=at)
    if not team_schedules:
        people = list(team.members)
    if not people:
        found.problems.append(f"team {team.name!r} has nobody on call")
    for user in people:
        found.add_person(user)
