"""Voice tables: rendered audio clips (the pre-synthesis cache) and phone calls with the incidents each covers.

Clips live in the database, not on a local disk, so any replica can serve the audio URL of a call another replica
placed. A clip's `key` is the hash of everything that shapes the sound (text, language, voice, emotion, length cap,
which engine spoke), so the same words are synthesised once and a changed incident gets a new clip.

A call is addressed in its callback URLs by an unguessable `token`, known before the provider is asked to ring
(the provider's call id comes back only afterwards, while its first callbacks may already be on their way).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.db import Base


class VoiceClip(Base):
    __tablename__ = "voice_clips"
    __table_args__ = (Index("ix_voice_clips_incident", "incident_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    language: Mapped[str] = mapped_column(String(2))
    text: Mapped[str] = mapped_column(Text)
    emotion: Mapped[str] = mapped_column(String(40))
    voice: Mapped[str | None] = mapped_column(String(200))
    natural: Mapped[bool] = mapped_column(default=True)  # False: the fallback voice spoke
    fallback_reason: Mapped[str | None] = mapped_column(Text)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    render_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    wav: Mapped[bytes] = mapped_column(LargeBinary)  # 16-bit PCM at the engine's rate (Slack, the demo)
    phone_wav: Mapped[bytes] = mapped_column(LargeBinary)  # 8 kHz μ-law (what a phone <Play> fetches)
    created_at: Mapped[datetime]


class Callout(Base):
    __tablename__ = "voice_calls"
    __table_args__ = (Index("ix_voice_calls_phone", "phone", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    provider: Mapped[str] = mapped_column(String(20))
    sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    phone: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    callee: Mapped[str] = mapped_column(String(320))  # the acknowledging actor: the callee's e-mail
    language: Mapped[str] = mapped_column(String(2))
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    kind: Mapped[str] = mapped_column(String(16))  # page | notice
    status: Mapped[str] = mapped_column(String(16))  # placing | queued | initiated | ringing | in-progress | final
    answered_by: Mapped[str | None] = mapped_column(String(32))
    outcome: Mapped[str | None] = mapped_column(String(24))  # acknowledged | escalated | machine | no_key | busy ...
    keys: Mapped[str] = mapped_column(String(40), default="")
    text: Mapped[str] = mapped_column(Text, default="")  # the last message spoken (for the timeline and <Say>)
    clip_key: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]

    incidents: Mapped[list[CalloutIncident]] = relationship(
        back_populates="call", order_by="CalloutIncident.id", cascade="all, delete-orphan"
    )


class CalloutIncident(Base):
    """One incident a call covers (several incidents paging one person within a minute share one call)."""

    __tablename__ = "voice_call_incidents"
    __table_args__ = (Index("ix_voice_call_incidents_incident", "incident_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("voice_calls.id", ondelete="CASCADE"))
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    notification_id: Mapped[int | None]
    level: Mapped[int | None]

    call: Mapped[Callout] = relationship(back_populates="incidents")
