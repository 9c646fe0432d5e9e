"""The outbox handler of `notify.<channel>` messages: hand one notification to its channel and record the outcome.

A notification for an incident that was resolved (or acknowledged, for pages) before it went out is cancelled, not
sent. A failure is retried by the outbox; after `FALLBACK_AFTER` failed tries, or at once for a permanent error, the
notification is marked failed and the next channel is tried (voice → Slack DM → the incident's channel → e-mail),
which is visible on the timeline as two rows: the failure and the fallback.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.db import transaction
from bot.directory.models import User
from bot.escalation import messages
from bot.escalation.models import Escalation, Notification
from bot.escalation.notes import note_notification
from bot.escalation.notifier import Notifier
from bot.incidents.models import Incident
from bot.notify.channels import ChannelRegistry, DeliveryError, OutgoingMessage
from bot.notify.outbox import OutboxMessage, PermanentFailure

log = logging.getLogger(__name__)

FALLBACK_AFTER = 3
STALE_WHEN = {"page": ("resolved", "acknowledged"), "ack_reminder": ("resolved", "triggered")}


class NotificationDelivery:
    def __init__(
        self, sessions: sessionmaker[Session], clock: Clock, registry: ChannelRegistry, notifier: Notifier
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._registry = registry
        self._notifier = notifier

    def __call__(self, message: OutboxMessage) -> None:
        outgoing = self._prepare(message.payload["notification_id"])
        if outgoing is None:
            return
        channel = self._registry.get(outgoing.channel)
        if channel is None:  # unregistered since enqueue (a config change): keep it due
            raise ConnectionError(f"no {outgoing.channel} sender registered")
        try:
            provider_id = channel.send(outgoing)
        except DeliveryError as exc:
            self._failed(outgoing, exc.reason, permanent=exc.permanent, attempts=message.attempts)
            raise
        except Exception as exc:
            self._failed(outgoing, f"{type(exc).__name__}: {exc}", permanent=False, attempts=message.attempts)
            raise
        self._sent(outgoing, provider_id)

    def _prepare(self, notification_id: int) -> OutgoingMessage | None:
        with transaction(self._sessions) as session:
            row = session.get(Notification, notification_id)
            if row is None or row.status != "pending":
                return None
            incident = session.get(Incident, row.incident_id) if row.incident_id else None
            if incident is not None and incident.state in STALE_WHEN.get(row.kind, ()):
                row.status, row.error, row.updated_at = "cancelled", f"incident {incident.state}", self._clock.now()
                self._note(session, incident, row, f"{row.channel} to {row.target} not sent: {row.error}")
                return None
            row.tries += 1
            user = session.get(User, row.user_id) if row.user_id else None
            return OutgoingMessage(
                notification_id=row.id,
                idempotency_key=row.key,
                channel=row.channel,
                address=row.address,
                recipient=row.target,
                kind=row.kind,
                subject=row.subject,
                text=row.body,
                language=user.language if user else "en",
                incident_number=incident.number if incident else None,
                severity=incident.severity if incident else None,
                is_drill=row.is_drill,
            )

    def _sent(self, outgoing: OutgoingMessage, provider_id: str | None) -> None:
        now = self._clock.now()
        with transaction(self._sessions) as session:
            row = session.get(Notification, outgoing.notification_id, with_for_update=True)
            if row is None:
                return
            if row.status not in ("pending", "sent"):
                # Settled while it was being placed (a call over, or the incident acknowledged, before the
                # provider's answer came back): keep that outcome, record only that it went out.
                row.sent_at, row.provider_id = now, provider_id
                return
            row.status, row.sent_at, row.updated_at, row.provider_id, row.error = "sent", now, now, provider_id, None
            incident = session.get(Incident, row.incident_id) if row.incident_id else None
            if incident is not None:
                self._note(
                    session, incident, row, f"{row.kind.replace('_', ' ')} sent by {row.channel} to {row.target}"
                )

    def _failed(self, outgoing: OutgoingMessage, error: str, *, permanent: bool, attempts: int) -> None:
        final = permanent or attempts >= FALLBACK_AFTER
        now = self._clock.now()
        with transaction(self._sessions) as session:
            row = session.get(Notification, outgoing.notification_id)
            if row is None:
                return
            row.error, row.updated_at = error, now
            incident = session.get(Incident, row.incident_id) if row.incident_id else None
            if not final:
                return
            row.status = "failed"
            fallback = self._fallback(session, row, incident, error)
            if incident is not None:
                then = f"; falling back to {fallback.channel} ({fallback.target})" if fallback else "; no fallback left"
                self._note(session, incident, row, f"{row.channel} to {row.target} failed: {error}{then}")
        if final:
            raise PermanentFailure(error)

    def _fallback(
        self, session: Session, row: Notification, incident: Incident | None, error: str
    ) -> Notification | None:
        user = session.get(User, row.user_id) if row.user_id else None
        if user is not None:
            tried = frozenset(
                session.scalars(
                    select(Notification.channel).where(
                        Notification.user_id == user.id,
                        Notification.incident_id == row.incident_id,
                        Notification.step_id == row.step_id,
                    )
                )
            )
            channel = self._notifier.next_personal(user, row.channel, tried)
            if channel is not None:
                return self._notifier.to_person(
                    session,
                    user=user,
                    channel=channel,
                    kind=row.kind,
                    key=f"fallback:{row.id}:{channel}",
                    subject=row.subject,
                    body=row.body,
                    incident=incident,
                    level=row.level,
                    round_=row.round,
                    step_id=row.step_id,
                    fallback_of=row.id,
                    tried=tried,
                )
        if incident is None or row.channel == "slack_channel":
            return None
        escalation = session.scalars(select(Escalation).where(Escalation.incident_id == incident.id)).one_or_none()
        if escalation is None:
            return None
        subject, body = messages.fallback(incident, person=row.target, failed_channel=row.channel, error=error)
        return self._notifier.to_channel(
            session,
            slack_channel=escalation.channel,
            kind="warning",
            key=f"fallback:{row.id}:channel",
            subject=subject,
            body=body,
            incident=incident,
            level=row.level,
            round_=row.round,
            step_id=row.step_id,
            fallback_of=row.id,
        )

    def _note(self, session: Session, incident: Incident, row: Notification, text: str) -> None:
        note_notification(session, incident, row, at=self._clock.now(), source="outbox", message=text)
