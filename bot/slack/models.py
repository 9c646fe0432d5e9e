"""Where each incident's Slack message lives, and how far its thread has been written.

One row per mirrored incident, created in the transaction of the first incident event after Slack is configured
(so the channel is chosen once, from the service's or team's setting at that moment). `ts` stays empty until
`chat.postMessage` succeeds; `thread_cursor` is the id of the last timeline entry posted to the thread, so a retried
delivery resumes where it stopped instead of posting twice; `lease_until` keeps two outbox workers (replicas) from
writing the same message at once; `rendered` is a hash of the last blocks sent, so an unchanged message is not
rewritten.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from bot.db import Base


class SlackMessage(Base):
    __tablename__ = "slack_messages"

    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True)
    channel: Mapped[str] = mapped_column(String(80))  # a name until the first post, then Slack's channel id
    ts: Mapped[str | None] = mapped_column(String(32), index=True)
    thread_cursor: Mapped[int] = mapped_column(default=0)
    rendered: Mapped[str] = mapped_column(String(64), default="")
    lease_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
