"""On-call from Slack: `/oncall [team|schedule]`.

It asks the schedules domain (`bot.schedules.service`), as the permission rule's "on-call of its team" half does
(`bot.escalation.permissions.on_call_lookup`), so Slack, the API and the escalation engine agree on who is on call
at any instant. Hand-off times are sent as Slack date tokens, which each reader's client shows in their
own time zone; the fallback text uses the caller's Herald time zone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.directory.models import Team, team_members
from bot.errors import NotFound
from bot.schedules import service as schedules
from bot.schedules.service import OnCallNow, ShiftView
from bot.slack import blocks
from bot.slack.ops import Reply, SlackOps
from bot.slack.users import Actor


def oncall(ops: SlackOps, actor: Actor, body: dict[str, Any]) -> Reply:
    """`/oncall` (the caller's teams, else every schedule), `/oncall TEAM` or `/oncall SCHEDULE`."""
    name = body.get("text", "").strip()
    now = ops.runtime.clock.now()
    with ops.runtime.sessions() as session:
        found = _answer(session, actor, name, now)
    if not found:
        return Reply("No on-call schedules yet." if not name else f"{name} has no on-call schedules.")
    zone = _zone(actor.time_zone)
    lines = [_line(entry, zone) for entry in found]
    heading = f"*On call{' for ' + blocks.escape(name) if name else ''}*"
    return Reply(
        "\n".join([heading, *lines]), [{"type": "section", "text": blocks.mrkdwn("\n".join([heading, *lines]))}]
    )


def _answer(session: Session, actor: Actor, name: str, now: datetime) -> list[OnCallNow]:
    if name:
        try:
            return schedules.team_on_call(session, team=name, at=now)
        except NotFound:
            pass
        try:
            return [schedules.who_is_on_call(session, schedule=name, at=now)]
        except NotFound:
            raise NotFound(f"no team or schedule named {name!r}") from None
    teams = session.scalars(
        select(Team.name)
        .join(team_members, team_members.c.team_id == Team.id)
        .where(team_members.c.user_id == actor.user_id)
    ).all()
    if teams:
        return [entry for team in teams for entry in schedules.team_on_call(session, team=team, at=now)]
    return [schedules.who_is_on_call(session, schedule=s, at=now) for s in schedules.list_schedules(session)]


def _line(entry: OnCallNow, zone: ZoneInfo) -> str:
    now_part = f"now {_who(entry.current)} until {_when(entry.current.end, zone)}" if entry.current else "now _nobody_"
    next_part = f"next {_who(entry.next)} from {_when(entry.next.start, zone)}" if entry.next else "no next shift"
    return f"• *{blocks.escape(entry.schedule)}*: {now_part}; {next_part}"


def _who(shift: ShiftView) -> str:
    return f"<@{shift.slack_id}>" if shift.slack_id else blocks.escape(shift.name or shift.user)


def _when(at: datetime, zone: ZoneInfo) -> str:
    local = at.astimezone(zone)
    return f"<!date^{int(at.timestamp())}^{{date_short_pretty}} {{time}}|{local:%a %d %b %H:%M} {local.tzname()}>"


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        return ZoneInfo("UTC")
