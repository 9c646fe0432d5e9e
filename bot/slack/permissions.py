"""Who may acknowledge or resolve an incident from Slack: its responders, the on-call of its team, or an admin.

Responders are the assignee, everyone the escalation engine notified about the incident, and every user the
timeline names with a `user_id`. The on-call lookup is injected (`oncall.lookup` asks the schedules domain), so
this rule stays testable without schedules; without one, only responders and admins may act.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.errors import Forbidden
from bot.escalation.models import Notification
from bot.incidents.models import Incident, TimelineEntry
from bot.slack.users import Actor

OnCallLookup = Callable[[Session, int], set[int]]
"""(session, team id) → ids of the users on call for that team now."""


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


def may_act(session: Session, *, actor: Actor, incident: Incident, on_call: OnCallLookup | None) -> bool:
    if actor.is_admin or actor.user_id in responder_ids(session, incident):
        return True
    team = incident.service.team if incident.service else None
    return team is not None and on_call is not None and actor.user_id in on_call(session, team.id)


def check_may_act(
    session: Session, *, actor: Actor, incident: Incident, verb: str, on_call: OnCallLookup | None
) -> None:
    """Return quietly when `actor` may `verb` the incident, else raise Forbidden saying who may."""
    if may_act(session, actor=actor, incident=incident, on_call=on_call):
        return
    team = incident.service.team if incident.service else None
    who = f"the on-call of team {team.name}" if team else "the on-call of its team"
    raise Forbidden(f"you may not {verb} incident #{incident.number}: only its responders, {who}, or Herald admins may")
