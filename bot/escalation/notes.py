"""A notification's line on its incident's timeline: what happened to one page, reminder or hook delivery.

One shape for every writer (the outbox delivery, an unanswered call), so the console and post-mortems read the same
data keys whatever recorded it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from bot.escalation.models import Notification
from bot.incidents import timeline
from bot.incidents.models import Incident


def note_notification(
    session: Session, incident: Incident, row: Notification, *, at: datetime, source: str, message: str
) -> None:
    timeline.record(
        session,
        incident=incident,
        at=at,
        kind="notification",
        actor="herald",
        source=source,
        message=message,
        data={"notification_id": row.id, "channel": row.channel, "status": row.status, "tries": row.tries},
    )
