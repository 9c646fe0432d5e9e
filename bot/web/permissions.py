"""Who may acknowledge, resolve or escalate from the console: the rule Slack applies too, by calling it.

The incident's responders, the on-call of its team, or admins (`bot.escalation.permissions`). Calling that one
domain rule, rather than restating it here, keeps the two edges from ever disagreeing about who may act. Automation
signed in with the API token acts as an admin. Notes are open to every signed-in person, as `@Herald note` is in
Slack.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.clock import Clock
from bot.escalation import permissions
from bot.incidents.models import Incident
from bot.web.auth import Viewer


def may_act(session: Session, *, viewer: Viewer, incident: Incident, clock: Clock) -> bool:
    """Whether to offer the action buttons at all."""
    return permissions.may_act(session, actor=viewer, incident=incident, on_call=permissions.on_call_lookup(clock))


def check_may_act(session: Session, *, viewer: Viewer, incident: Incident, clock: Clock, verb: str) -> None:
    """Return quietly when the viewer may `verb` the incident, else Forbidden saying who may."""
    permissions.check_may_act(
        session, actor=viewer, incident=incident, verb=verb, on_call=permissions.on_call_lookup(clock)
    )
