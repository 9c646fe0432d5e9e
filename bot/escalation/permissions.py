"""Who may act on an incident (acknowledge, resolve, escalate, reassign): its responders, the on-call of its team,
or an admin. Slack and the web console both ask this module, so the two surfaces never disagree about who may act.

Responders are the assignee, everyone the escalation engine notified about the incident, and every user the
timeline names with a `user_id`. The rule lives in the escalation domain because that is what it reads (its
notifications, plus the incidents' timeline and the schedules' on-call, both domains below it). The on-call half is
a lookup passed in (`on_call_lookup(clock)` asks the schedules domain), so the rule stays testable without
schedules; without one, only responders and admins may act.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.clock import Clock
from bot.directory.models import Team
from bot.errors import Forbidden
from bot.escalation.models import Notification
from bot.incidents.models import Incident, TimelineEntry
from bot.schedules import service as schedules

__all__ = ["Acting", "OnCallLookup", "check_may_act", "may_act", "on_call_lookup", "responder_ids"]

OnCallLookup = Callable[[Session, int], set[int]]
"""(session, team id) → ids of the users on call for that team now."""


class Acting(Protocol):
    """Who asks to act: a Slack user, a console visitor, or automation signed in with the API token (no user)."""

    @property
    def user_id(self) -> int | None: ...

    @property
    def is_admin(self) -> bool: ...


def on_call_lookup(clock: Clock) -> OnCallLookup:
    """(session, team id) → ids of the users on call now on any of the team's schedules."""

    def on_call(session: Session, team_id: int) -> set[int]:
        team = session.get(Team, team_id)
        if team is None:
            return set()
        now = clock.now()
        return {
            user.id
            for schedule in schedules.list_schedules(session, team=team.name)
            for user in schedules.on_call_users(session, schedule_id=schedule.id, at=now)
        }

    return on_call


def responder_ids(session: Session, incident: Incident) -> set[int]:
    ids = {incident.assignee_id} if incident.assignee_id else set()
    notified = select(Notification.user_id).where(
        Notification.incident_id == incident.id, Notification.user_id.is_not(None)
    )
    ids.update(session.scalars(notified))
    for data in session.scalars(select(TimelineEntry.data).where(TimelineEntry.incident_id == incident.id)):
        user_id = (data or {}).get("user_id")
        if isinstance(user_id, int):
            ids.add(user_id)
    return ids


def may_act(session: Session, *, actor: Acting, incident: Incident, on_call: OnCallLookup | None) -> bool:
    if actor.is_admin:
        return True
    if actor.user_id is None:
        return False
    if actor.user_id in responder_ids(session, incident):
        return True
    team = incident.service.team if incident.service else None
    return team is not None and on_call is not None and actor.user_id in on_call(session, team.id)


def check_may_act(
    session: Session, *, actor: Acting, incident: Incident, verb: str, on_call: OnCallLookup | None
) -> None:
    """Return quietly when `actor` may `verb` the incident, else raise Forbidden saying who may."""
    if may_act(session, actor=actor, incident=incident, on_call=on_call):
        return
    team = incident.service.team if incident.service else None
    who = f"the on-call of team {team.name}" if team else "the on-call of its team"
    raise Forbidden(f"you may not {verb} incident #{incident.number}: only its responders, {who}, or Herald admins may")
