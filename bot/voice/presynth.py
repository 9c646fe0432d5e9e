"""Rendering and caching call audio, ahead of time, so that placing a call waits on no model work.

An incident event that changes what a call would say (triggered, severity raised, back to triggered, resolved)
enqueues a `voice.presynth` outbox job in the same transaction. Alerts joining an incident change the words only
when the spoken figure moves ("3 alerts", "more than 20 alerts": `summary.alert_figure`), and an alert storm moves
it several times a second, so those jobs are debounced: every move within one `ALERT_DEBOUNCE` window shares one
idempotency key and runs once, at the end of the window, rendering the words of that moment. Every other alert
costs ingestion nothing here (no row, no statement). That job runs on its own worker (see
`wiring.py`), never the one that delivers pages, because the full IndexTTS-2 model needs minutes per sentence on a
CPU-only host. It renders, for everyone the frozen policy would phone, the exact message their call would play,
plus the short answers of the call (acknowledged, escalating, no key, voicemail), and stores each as a clip keyed
by the hash of what shapes its sound. The call looks its clip up by the same key; when it is not there yet the call
goes out with the fallback voice now, and the timeline says so (see `callouts.py`).

Length control: a message whose planned length exceeds the cap is rendered with a target duration equal to the
cap (the engine's duration control), and a rendering that still comes out long is redone at exactly the cap.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.db import insert_or_ignore, transaction
from bot.errors import HeraldError
from bot.incidents.events import EventKind, IncidentEvent
from bot.incidents.models import Incident
from bot.notify import outbox
from bot.notify.outbox import OutboxMessage
from bot.voice import facts as voice_facts
from bot.voice.models import CalloutIncident, VoiceClip
from bot.voice.summary import Message, Templates, VoiceStyle, alert_figure, estimate_seconds
from bot.voice.tts import Speech, SpeechOrder

log = logging.getLogger(__name__)

KIND = "voice.presynth"
MATERIAL = (
    EventKind.TRIGGERED,
    EventKind.SEVERITY_RAISED,
    EventKind.ALERT_ADDED,
    EventKind.UNACKNOWLEDGED,
    EventKind.RESOLVED,
)
ALERT_DEBOUNCE = timedelta(seconds=10)  # alert-count moves of one incident within this window: one render
EMOTION_INTENSITY = 0.8
OVERSHOOT_SECONDS = 0.25
PHRASES = ("acknowledged", "escalated", "no_input", "machine")


@dataclass(frozen=True)
class Rendered:
    """Audio for one message, ready to store (the engine's output reduced to what Herald keeps)."""

    wav: bytes
    phone_wav: bytes
    seconds: float
    natural: bool
    fallback_reason: str | None
    render_seconds: float


def clip_key(message: Message, style: VoiceStyle, engine: str) -> str:
    """Everything that shapes the sound, hashed; `engine` is "primary" (model if any) or "fallback"."""
    shape = {
        "text": message.text,
        "language": message.language,
        "emotion": message.emotion,
        "cap": message.max_seconds,
        "voice": style.voice,
        "glossary": sorted(style.glossary.items()),
        "engine": engine,
    }
    return hashlib.sha256(json.dumps(shape, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def render(speech: Speech, message: Message, style: VoiceStyle, *, time_zone: str | None = None) -> Rendered:
    """Speak `message` within its cap (duration control, never cutting words); HeraldError when it cannot."""
    started = time.perf_counter()
    cap = message.max_seconds
    order = SpeechOrder(
        text=message.text,
        voice=style.voice,
        emotion=f"{message.emotion}@{EMOTION_INTENSITY}",
        duration=f"{cap:g}s" if estimate_seconds(message.text, message.language) > cap else None,
        language=message.language,
        timezone=time_zone,
        glossary=dict(style.glossary),
    )
    try:
        audio = speech.synthesize(order)
    except HeraldError as exc:
        if style.voice is None:
            raise
        log.warning("team voice %r failed (%s); speaking with the default voice", style.voice, exc.reason)
        order = replace(order, voice=None)
        audio = speech.synthesize(order)
    if audio.seconds > cap + OVERSHOOT_SECONDS:
        audio = speech.synthesize(replace(order, duration=f"{cap:g}s"))
    return Rendered(
        wav=audio.to_wav(),
        phone_wav=audio.to_mulaw_wav(),
        seconds=audio.seconds,
        natural=not audio.fallback,
        fallback_reason=audio.fallback_reason,
        render_seconds=time.perf_counter() - started,
    )


def cached(session: Session, key: str) -> VoiceClip | None:
    return session.scalars(select(VoiceClip).where(VoiceClip.key == key)).one_or_none()


def store(
    session: Session,
    *,
    key: str,
    message: Message,
    style: VoiceStyle,
    rendered: Rendered,
    incident_id: int | None,
    clock: Clock,
) -> None:
    """Insert the clip unless another worker stored the same key first (same key, same sound)."""
    values = {
        "key": key,
        "incident_id": incident_id,
        "language": message.language,
        "text": message.text,
        "emotion": message.emotion,
        "voice": style.voice,
        "natural": rendered.natural,
        "fallback_reason": rendered.fallback_reason,
        "seconds": rendered.seconds,
        "render_seconds": rendered.render_seconds,
        "wav": rendered.wav,
        "phone_wav": rendered.phone_wav,
        "created_at": clock.now(),
    }
    insert_or_ignore(session, VoiceClip, values)


@dataclass(frozen=True)
class Job:
    """One message to render for an incident; `share` posts the clip to the incident's Slack thread."""

    message: Message
    style: VoiceStyle
    time_zone: str
    share: bool = False


@dataclass(frozen=True)
class _Scene:
    """What every message of one incident is rendered with: the time, the team's voice and words, the callees."""

    now: datetime
    style: VoiceStyle
    templates: Templates
    callees: list[voice_facts.Callee]


class Presynthesizer:
    """The `voice.presynth` outbox handler and the incident-event subscriber that queues it."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Clock,
        speech: Callable[[], Speech],
        templates: Callable[[str | None], Templates],
        max_seconds: float,
        on_shared: Callable[[Session, int, str], None] | None = None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._speech = speech
        self._templates = templates
        self._max_seconds = max_seconds
        self._on_shared = on_shared
        self._alert_jobs = outbox.DebouncedJobs(KIND, ALERT_DEBOUNCE)

    def on_event(self, session: Session, event: IncidentEvent) -> None:
        if event.kind not in MATERIAL:
            return
        incident = session.get(Incident, event.incident_id)
        if incident is None or incident.paging_suppressed:
            return
        if event.kind is EventKind.ALERT_ADDED:
            self._alerts_added(session, incident, int(event.data.get("added", 0)))
            return
        outbox.enqueue(
            session,
            clock=self._clock,
            kind=KIND,
            key=f"{KIND}:{incident.id}:{event.kind}:{incident.alert_count}:{incident.updated_at.isoformat()}",
            payload={"incident_id": incident.id, "event": event.kind.value},
            incident_id=incident.id,
        )

    def _alerts_added(self, session: Session, incident: Incident, added: int) -> None:
        """One debounced job per incident and window, and only when the spoken alert figure moved (a call says at
        least "1 alert", so the first alerts of an incident move nothing: its triggered job renders them)."""
        before, after = max(1, incident.alert_count - added), max(1, incident.alert_count)
        if alert_figure(before) == alert_figure(after):
            return
        self._alert_jobs.enqueue(
            session,
            clock=self._clock,
            incident_id=incident.id,
            payload={"incident_id": incident.id, "event": EventKind.ALERT_ADDED.value},
        )

    def __call__(self, message: OutboxMessage) -> None:
        incident_id = int(message.payload["incident_id"])
        if self._superseded(message):
            return
        with self._sessions() as session:
            jobs = self.plan(session, incident_id, share=message.payload.get("event") in ("triggered", "resolved"))
        for job in jobs:
            self.ensure(job, incident_id)

    def plan(self, session: Session, incident_id: int, *, share: bool = False) -> list[Job]:
        """The messages the incident's calls would play now, page messages first (they matter most)."""
        incident = session.get(Incident, incident_id)
        if incident is None:
            return []
        scene = self._scene(session, incident)
        if incident.state == "resolved":
            return [self._summary(session, incident, scene)] if share and self._was_called(session, incident) else []
        if incident.state != "triggered":
            return []
        style, templates = scene.style, scene.templates
        pages: list[Job] = []
        phrases: list[Job] = []
        for callee in scene.callees:
            about = voice_facts.facts(
                session,
                incident,
                time_zone=callee.time_zone,
                now=scene.now,
                level=callee.level,
                callee_id=callee.user_id,
            )
            pages.append(Job(templates.page([about], callee.language, style.max_seconds), style, callee.time_zone))
            for name in PHRASES:
                text = templates.phrase(callee.language, name, count=1, numbers=[incident.number])
                phrases.append(
                    Job(
                        Message(text, callee.language, pages[-1].message.emotion, style.max_seconds),
                        style,
                        callee.time_zone,
                    )
                )
        if share and scene.callees:
            pages.append(self._summary(session, incident, scene))
        unique: dict[str, Job] = {}
        for job in pages + phrases:
            unique.setdefault(clip_key(job.message, job.style, "primary"), job)
        return list(unique.values())

    def summary(self, session: Session, incident: Incident) -> Job:
        """The incident's spoken summary as it reads now: what pre-synthesis renders for its Slack thread."""
        return self._summary(session, incident, self._scene(session, incident))

    def stored_summary(self, session: Session, incident: Incident) -> VoiceClip | None:
        """The rendered audio of `summary`, or None when those words are not rendered (yet)."""
        job = self.summary(session, incident)
        return cached(session, clip_key(job.message, job.style, "primary"))

    def _scene(self, session: Session, incident: Incident) -> _Scene:
        now = self._clock.now()
        escalation = voice_facts.escalation_of(session, incident)
        return _Scene(
            now=now,
            style=VoiceStyle.of(voice_facts.team_settings(session, incident, escalation), self._max_seconds),
            templates=self._templates(voice_facts.team_name(session, incident, escalation)),
            callees=voice_facts.expected_callees(session, incident, now),
        )

    @staticmethod
    def _summary(session: Session, incident: Incident, scene: _Scene) -> Job:
        """The summary for Slack, in the first callee's language and time zone (English and UTC when nobody is
        phoned, as for a resolved incident, whose summary is the reassuring recovery message)."""
        first = scene.callees[0] if scene.callees else None
        language, time_zone = (first.language, first.time_zone) if first else ("en", "UTC")
        about = voice_facts.facts(session, incident, time_zone=time_zone, now=scene.now)
        message = scene.templates.summary(about, language, scene.style.max_seconds)
        return Job(message, scene.style, time_zone, share=True)

    def ensure(self, job: Job, incident_id: int | None) -> str:
        """The key of `job`'s clip, rendering and storing it unless it is cached; shares it when asked."""
        key = clip_key(job.message, job.style, "primary")
        with self._sessions() as session:
            present = cached(session, key) is not None
        if not present:
            rendered = render(self._speech(), job.message, job.style, time_zone=job.time_zone)
            with transaction(self._sessions) as session:
                store(
                    session,
                    key=key,
                    message=job.message,
                    style=job.style,
                    rendered=rendered,
                    incident_id=incident_id,
                    clock=self._clock,
                )
        if job.share and incident_id is not None and self._on_shared is not None:
            with transaction(self._sessions) as session:
                self._on_shared(session, incident_id, key)
        return key

    def _superseded(self, message: OutboxMessage) -> bool:
        """A newer presynth job of the same incident is due: it will render the newer words, skip this one
        (unless this one carries a Slack share the newer one would not). A debounced job not due yet supersedes
        nothing: the words of now are rendered now, and it renders only what changes before it is due."""
        if message.payload.get("event") in ("triggered", "resolved"):
            return False
        with self._sessions() as session:
            newer = session.scalar(
                select(OutboxMessage.id)
                .where(
                    OutboxMessage.kind == KIND,
                    OutboxMessage.incident_id == message.incident_id,
                    OutboxMessage.status == "pending",
                    OutboxMessage.id > message.id,
                    OutboxMessage.next_attempt_at <= self._clock.now(),
                )
                .limit(1)
            )
        return newer is not None

    @staticmethod
    def _was_called(session: Session, incident: Incident) -> bool:
        return (
            session.scalar(select(CalloutIncident.id).where(CalloutIncident.incident_id == incident.id).limit(1))
            is not None
        )
