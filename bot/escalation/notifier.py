"""Creating notifications: one row per attempt, its outbox message and its timeline entry, in the caller's transaction.

Rules applied here, in order, for each person and channel:
- a channel the person cannot be reached on (no phone, no Slack id, e-mail switched off) is skipped; if none of the
  severity's channels works, the first contact method they have is used; with none, they are unreachable;
- an identical notification still pending (same person, channel and incident) absorbs the new one (merged, noted
  on the timeline) instead of sending twice;
- a throttled channel (`HERALD_NOTIFY_THROTTLE`) records a failed attempt saying so and falls back to the next one.
The outbox kind is `notify.<channel>`; a channel nobody has registered yet keeps its messages pending ("due").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.clock import Clock
from bot.directory.models import User
from bot.escalation.models import Notification
from bot.incidents import timeline
from bot.incidents.models import Incident
from bot.notify import outbox
from bot.notify.channels import FALLBACK_ORDER, ChannelName, fallback_after
from bot.notify.throttle import Limit

PERSONAL = (ChannelName.VOICE.value, ChannelName.SLACK_DM.value, ChannelName.EMAIL.value)
COUNTS_FOR_THROTTLE = ("pending", "sent", "acknowledged")


@dataclass(frozen=True)
class Notifier:
    clock: Clock
    limits: dict[str, Limit]
    email_enabled: bool

    def address(self, user: User, channel: str) -> str | None:
        """Where `user` is reached on `channel`, or None when they cannot be."""
        if channel == ChannelName.VOICE:
            return user.phone or None
        if channel == ChannelName.SLACK_DM:
            return user.slack_id or None
        if channel == ChannelName.EMAIL:
            return user.email if self.email_enabled else None
        return None

    def personal_channels(self, user: User, wanted: tuple[str, ...]) -> list[str]:
        usable = [c for c in wanted if c in PERSONAL and self.address(user, c)]
        if usable or not any(c in PERSONAL for c in wanted):
            return usable
        return [c for c in (c.value for c in FALLBACK_ORDER) if c in PERSONAL and self.address(user, c)][:1]

    def to_person(
        self,
        session: Session,
        *,
        user: User,
        channel: str,
        kind: str,
        key: str,
        subject: str,
        body: str,
        incident: Incident | None = None,
        level: int | None = None,
        round_: int | None = None,
        step_id: int | None = None,
        fallback_of: int | None = None,
        tried: frozenset[str] = frozenset(),
    ) -> Notification | None:
        """Notify one person on one channel (merging, throttling and falling back as above)."""
        now = self.clock.now()
        address = self.address(user, channel)
        if address is None:
            return None
        pending = self._pending_twin(session, incident, user, channel, kind)
        if pending is not None:
            if incident is not None:
                timeline.record(
                    session,
                    incident=incident,
                    at=now,
                    kind="notification_merged",
                    actor="herald",
                    source="engine",
                    message=f"{channel} to {user.name} merged with pending notification #{pending.id}",
                    data={"notification_id": pending.id},
                )
            return pending
        limit = self.limits.get(channel)
        if limit is not None and not limit.allows(self._recent(session, user, channel, now, limit)):
            failed = self._row(
                session,
                now=now,
                key=f"{key}:throttled",
                incident=incident,
                user=user,
                kind=kind,
                channel=channel,
                target=user.name,
                address=address,
                subject=subject,
                body=body,
                level=level,
                round_=round_,
                step_id=step_id,
                fallback_of=fallback_of,
                status="failed",
                error=f"throttled: {limit}",
            )
            nxt = self.next_personal(user, channel, tried | {channel})
            if nxt is None:
                return failed
            return self.to_person(
                session,
                user=user,
                channel=nxt,
                kind=kind,
                key=f"{key}:fb-{nxt}",
                subject=subject,
                body=body,
                incident=incident,
                level=level,
                round_=round_,
                step_id=step_id,
                fallback_of=failed.id,
                tried=tried | {channel},
            )
        return self._row(
            session,
            now=now,
            key=key,
            incident=incident,
            user=user,
            kind=kind,
            channel=channel,
            target=user.name,
            address=address,
            subject=subject,
            body=body,
            level=level,
            round_=round_,
            step_id=step_id,
            fallback_of=fallback_of,
        )

    def to_channel(
        self,
        session: Session,
        *,
        slack_channel: str,
        kind: str,
        key: str,
        subject: str,
        body: str,
        incident: Incident | None = None,
        level: int | None = None,
        round_: int | None = None,
        step_id: int | None = None,
        fallback_of: int | None = None,
    ) -> Notification:
        return self._row(
            session,
            now=self.clock.now(),
            key=key,
            incident=incident,
            user=None,
            kind=kind,
            channel=ChannelName.SLACK_CHANNEL.value,
            target=slack_channel,
            address=slack_channel,
            subject=subject,
            body=body,
            level=level,
            round_=round_,
            step_id=step_id,
            fallback_of=fallback_of,
        )

    def next_personal(self, user: User, failed: str, tried: frozenset[str]) -> str | None:
        """The next personal channel after `failed` that this person can be reached on."""
        candidate = fallback_after(failed, tried)
        while candidate is not None:
            if candidate.value in PERSONAL and self.address(user, candidate.value):
                return candidate.value
            tried = tried | {candidate.value}
            candidate = fallback_after(candidate.value, tried)
        return None

    def _pending_twin(
        self, session: Session, incident: Incident | None, user: User, channel: str, kind: str
    ) -> Notification | None:
        if incident is None:
            return None
        return session.scalars(
            select(Notification).where(
                Notification.incident_id == incident.id,
                Notification.user_id == user.id,
                Notification.channel == channel,
                Notification.kind == kind,
                Notification.status == "pending",
            )
        ).first()

    @staticmethod
    def _recent(session: Session, user: User, channel: str, now: datetime, limit: Limit) -> int:
        return (
            session.scalar(
                select(func.count()).where(
                    Notification.user_id == user.id,
                    Notification.channel == channel,
                    Notification.status.in_(COUNTS_FOR_THROTTLE),
                    Notification.created_at > now - limit.window,
                )
            )
            or 0
        )

    def _row(
        self,
        session: Session,
        *,
        now: datetime,
        key: str,
        incident: Incident | None,
        user: User | None,
        kind: str,
        channel: str,
        target: str,
        address: str,
        subject: str,
        body: str,
        level: int | None,
        round_: int | None,
        step_id: int | None,
        fallback_of: int | None,
        status: str = "pending",
        error: str | None = None,
    ) -> Notification:
        row = Notification(
            key=key,
            incident_id=incident.id if incident else None,
            step_id=step_id,
            user_id=user.id if user else None,
            kind=kind,
            channel=channel,
            target=target,
            address=address,
            subject=subject[:500],
            body=body,
            level=level,
            round=round_,
            status=status,
            error=error,
            fallback_of=fallback_of,
            is_drill=bool(incident and incident.is_drill),
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        session.flush()
        if status == "pending":
            outbox.enqueue(
                session,
                clock=self.clock,
                kind=f"notify.{channel}",
                key=f"notification:{row.id}",
                payload={"notification_id": row.id},
                incident_id=row.incident_id,
            )
        if incident is not None:
            what = "due" if status == "pending" else f"not sent ({error})"
            timeline.record(
                session,
                incident=incident,
                at=now,
                kind="notification",
                actor="herald",
                source="engine",
                message=f"{kind.replace('_', ' ')} by {channel} to {target}: {what}",
                data={"notification_id": row.id, "channel": channel, "status": status, "level": level},
            )
        return row
