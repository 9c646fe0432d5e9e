"""Who may acknowledge, resolve or escalate from the console: exactly Slack's rule, by calling it.

The incident's responders, the on-call of its team, or admins (`bot.slack.permissions.may_act`, with the schedules
lookup of `bot.slack.oncall`). Calling that one function, rather than restating it here, keeps the two edges from
ever disagreeing about who may act. Automation signed in with the API token acts as an admin. Notes are open to
every signed-in person, as `@Herald note` is in Slack.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.clock import Clock
from bot.incidents.models import Incident
from bot.slack import oncall, permissions
from bot.slack.users import Actor
from bot.web.auth import Viewer


def may_act(session: Session, *, viewer: Viewer, incident: Incident, clock: Clock) -> bool:
    """Whether to offer the action buttons at all."""
    if viewer.user_id is None:
        return viewer.is_admin
    return permissions.may_act(session, actor=_actor(viewer), incident=incident, on_call=oncall.lookup(clock))


def check_may_act(session: Session, *, viewer: Viewer, incident: Incident, clock: Clock, verb: str) -> None:
    """Return quietly when the viewer may `verb` the incident, else Forbidden saying who may."""
    if viewer.user_id is None and viewer.is_admin:
        return
    permissions.check_may_act(session, actor=_actor(viewer), incident=incident, verb=verb, on_call=oncall.lookup(clock))


def _actor(viewer: Viewer) -> Actor:
    return Actor(
        user_id=viewer.user_id or 0, name=viewer.name, slack_id="", role=viewer.role, time_zone=viewer.time_zone
    )
