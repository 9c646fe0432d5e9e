"""Work that is not tied to one incident, run by the periodic sweep: shift reminders and the daily P3 digest.

Both are exactly-once by construction: each notification's key names the shift (schedule, person, start) or the
team and day, and notification keys are unique, so every replica may run the sweep and each reminder or digest is
created once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import exists, select
from sqlalchemy.orm import Session, sessionmaker

from bot.db import transaction
from bot.directory.models import Service, Team, User
from bot.escalation import messages
from bot.escalation.models import Notification
from bot.escalation.notifier import Notifier
from bot.escalation.profile import TeamPagingIn
from bot.incidents.models import Incident
from bot.notify.channels import ChannelName
from bot.schedules import service as schedules

REMINDER_CHANNELS = (ChannelName.SLACK_DM.value, ChannelName.EMAIL.value)


@dataclass(frozen=True)
class Periodic:
    sessions: sessionmaker[Session]
    notifier: Notifier
    digest_time: time
    default_channel: str

    def run(self, now: datetime) -> int:
        with transaction(self.sessions) as session:
            return self.shift_reminders(session, now) + self.p3_digests(session, now)

    def shift_reminders(self, session: Session, now: datetime) -> int:
        created = 0
        for schedule, shift in schedules.shift_starts(session, now=now):
            user = session.scalars(select(User).where(User.email == shift.user)).one_or_none()
            if user is None:
                continue
            subject, body = messages.shift_reminder(schedule=schedule.name, start=shift.start, end=shift.end)
            for channel in self.notifier.personal_channels(user, REMINDER_CHANNELS)[:1]:
                key = f"shift:{schedule.id}:{user.id}:{shift.start.isoformat()}"
                if not _exists(session, key):
                    self.notifier.to_person(
                        session, user=user, channel=channel, kind="shift_reminder", key=key, subject=subject, body=body
                    )
                    created += 1
        return created

    def p3_digests(self, session: Session, now: datetime) -> int:
        created = 0
        for team in session.scalars(select(Team)):
            zone = ZoneInfo(TeamPagingIn.model_validate(team.settings.get("paging", {})).time_zone or "UTC")
            local = now.astimezone(zone)
            due = datetime.combine(local.date(), self.digest_time, tzinfo=zone)
            if local < due:
                continue
            key = f"digest:{team.id}:{local.date().isoformat()}"
            if _exists(session, key):
                continue
            incidents = list(
                session.scalars(
                    select(Incident)
                    .join(Service, Service.id == Incident.service_id)
                    .where(
                        Service.team_id == team.id,
                        Incident.severity == "P3",
                        Incident.is_drill.is_(False),
                        Incident.created_at >= due - timedelta(days=1),
                        Incident.created_at < due,
                    )
                    .order_by(Incident.number)
                )
            )
            if not incidents:
                continue
            subject, body = messages.digest(team.name, incidents, day=local.date().isoformat())
            self.notifier.to_channel(
                session,
                slack_channel=team.slack_channel or self.default_channel,
                kind="digest",
                key=key,
                subject=subject,
                body=body,
            )
            created += 1
        return created


def _exists(session: Session, key: str) -> bool:
    return bool(session.scalar(select(exists().where(Notification.key.like(f"{key}%")))))
