"""Phone callouts: the voice `Channel` of the escalation engine, and what happens on the call.

    page due ─▶ send(): join a call still ringing for this person (within HERALD_VOICE_GROUP_SECONDS) or place one
      │          (the provider is asked at once; audio is looked up, never synthesised by the model, on this path)
      ▼
    answer ─▶ a person: the summary (<Play> of the clip, or <Say> of the same text) inside <Gather> one digit
      │       voicemail (machine detection): a short message that says the incident was NOT acknowledged
      ▼
    key 1 ─▶ acknowledge every incident on the call (source "phone")   key 2 ─▶ escalate now   key 3 ─▶ replay
      ▼
    status: busy / no-answer / failed / canceled, voicemail, or completed with no key ─▶ not acknowledged: the
            page is reported to the escalation (`escalation.service.page_unanswered`), which fails it on the
            timeline and moves on to the next level now (once the last live call about that incident is over);
            a repeated final callback changes nothing

The failure ladder, every step on the incident's timeline: the natural voice is not ready or the model failed ─▶ the
fallback voice; no audio at all ─▶ the provider reads the same text (<Say>); the call cannot be placed ─▶
`DeliveryError`, and the escalation's delivery falls back to the next channel (Slack DM ...) and level.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from bot.clock import Clock
from bot.db import transaction
from bot.directory.models import User
from bot.errors import Conflict, NotFound
from bot.escalation import service as escalation_service
from bot.escalation.lifecycle import Lifecycle
from bot.escalation.models import Notification
from bot.incidents import service as incidents
from bot.incidents import timeline
from bot.incidents.events import EventBus
from bot.incidents.models import Incident
from bot.notify.channels import ChannelName, DeliveryError, OutgoingMessage
from bot.voice import facts as voice_facts
from bot.voice import presynth
from bot.voice.links import Links
from bot.voice.models import Callout, CalloutIncident
from bot.voice.providers.base import FINAL_STATUSES, CallRequest, PhoneProvider, ProviderError
from bot.voice.summary import Message, Templates, VoiceStyle, emotion_for, language_of
from bot.voice.tts import Speech

log = logging.getLogger(__name__)

SOURCE = "phone"
JOINABLE = ("placing", "queued", "initiated", "ringing")
MACHINE_PREFIXES = ("machine", "fax")
CALL_LIFETIME = timedelta(hours=1)


@dataclass(frozen=True)
class Utterance:
    """Something to say: the clip to <Play> when there is one, else the provider reads `text` (<Say>)."""

    text: str
    language: str
    clip_key: str | None = None
    pending: tuple[Message, VoiceStyle, str] | None = field(default=None, compare=False)  # to render, no clip yet


@dataclass(frozen=True)
class Prompt:
    """What the callee hears next: `say`, then (with `gather`) wait for one key, else `after` and hang up."""

    say: tuple[Utterance, ...]
    gather: bool = False
    after: tuple[Utterance, ...] = ()


@dataclass(frozen=True)
class CallSettings:
    max_seconds: float
    group_seconds: int
    ring_seconds: int


class Callouts:
    """The voice channel (`name = "voice"`) and the call flow its webhooks drive."""

    name = ChannelName.VOICE.value

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        clock: Clock,
        events: EventBus,
        lifecycle: Callable[[], Lifecycle],
        provider: PhoneProvider,
        links: Links,
        templates: Callable[[str | None], Templates],
        fallback_speech: Callable[[], Speech],
        config: CallSettings,
        on_placed: Callable[[Session, Callout, str], None] | None = None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._events = events
        self._lifecycle = lifecycle
        self.provider = provider
        self._links = links
        self._templates = templates
        self._fallback_speech = fallback_speech
        self._config = config
        self._on_placed = on_placed

    # --- placing calls (the Channel) -----------------------------------------------------------------------------

    def send(self, message: OutgoingMessage) -> str | None:
        with transaction(self._sessions) as session:
            call, joined = self._prepare(session, message)
            token, call_id = call.token, call.id
            if joined:
                return call.sid or f"call:{call.id}"
            expires = int((self._clock.now() + CALL_LIFETIME).timestamp())
            request = CallRequest(
                to=call.phone,
                answer_url=self._links.call_url(token, "answer", expires),
                status_url=self._links.call_url(token, "status", expires),
                ring_seconds=self._config.ring_seconds,
                machine_detection=self.provider.capabilities.machine_detection,
            )
        try:
            placed = self.provider.place_call(request)
        except ProviderError as exc:
            self._not_placed(call_id, exc)
            raise DeliveryError(exc.reason, permanent=exc.permanent) from None
        self._placed(call_id, placed.sid, placed.status)
        return placed.sid

    def _prepare(self, session: Session, message: OutgoingMessage) -> tuple[Callout, bool]:
        """The call this notification rides on: a ringing one to the same number (joined), or a new row."""
        now = self._clock.now()
        row = session.get(Notification, message.notification_id)
        user = session.get(User, row.user_id) if row is not None and row.user_id else None
        incident = (
            session.scalars(
                select(Incident)
                .where(Incident.number == message.incident_number)
                .options(selectinload(Incident.service))
            ).one_or_none()
            if message.incident_number is not None
            else None
        )
        kind = "page" if message.kind == "page" and incident is not None else "notice"
        if kind == "page":
            live = self._joinable(session, message.address, now)
            if live is not None:
                self._join(session, live, incident, row, now)
                return live, True
        language = language_of(user.language if user else message.language)
        call = Callout(
            token=secrets.token_urlsafe(24),
            provider=self.provider.name,
            phone=message.address,
            user_id=user.id if user else None,
            callee=user.email if user else message.recipient,
            language=language,
            time_zone=(user.time_zone if user else None) or "UTC",
            kind=kind,
            status="placing",
            created_at=now,
            updated_at=now,
            data={"recipient": message.recipient},
        )
        session.add(call)
        if kind == "page":
            assert incident is not None
            call.incidents.append(
                CalloutIncident(
                    incident_id=incident.id, notification_id=message.notification_id, level=row.level if row else None
                )
            )
            self._compose(session, call)
        else:
            call.text = self._templates(None).phrase(language, "notice", text=message.subject)
        session.flush()
        return call, False

    def _joinable(self, session: Session, phone: str, now: datetime) -> Callout | None:
        return session.scalars(
            select(Callout)
            .where(
                Callout.phone == phone,
                Callout.kind == "page",
                Callout.status.in_(JOINABLE),
                Callout.created_at >= now - timedelta(seconds=self._config.group_seconds),
            )
            .order_by(Callout.id.desc())
            .limit(1)
            .with_for_update()
        ).first()

    def _join(
        self, session: Session, call: Callout, incident: Incident, row: Notification | None, now: datetime
    ) -> None:
        if any(link.incident_id == incident.id for link in call.incidents):
            return
        call.incidents.append(
            CalloutIncident(
                incident_id=incident.id, notification_id=row.id if row else None, level=row.level if row else None
            )
        )
        call.updated_at = now
        session.flush()
        self._compose(session, call)
        numbers = ", ".join(f"#{n}" for n in self._numbers(session, call))
        for item in self._incidents(session, call):
            self._note(
                session,
                item,
                "voice_call_grouped",
                f"Joined the call to {self._who(call)} that is still ringing: one call covers {numbers}",
                call,
            )

    def _compose(self, session: Session, call: Callout) -> None:
        """The call's words for its incidents now, and the clip for them if one is cached (natural voice first)."""
        now = self._clock.now()
        covered = self._incidents(session, call)
        levels = {link.incident_id: link.level for link in call.incidents}
        about = [
            voice_facts.facts(
                session,
                incident,
                time_zone=call.time_zone,
                now=now,
                level=levels.get(incident.id),
                callee_id=call.user_id,
            )
            for incident in covered
        ]
        first = covered[0]
        escalation = voice_facts.escalation_of(session, first)
        style = self._style(session, first)
        templates = self._templates(voice_facts.team_name(session, first, escalation))
        message = templates.page(about, call.language, style.max_seconds)
        call.text = message.text
        call.clip_key = None
        for engine in ("primary", "fallback"):
            clip = presynth.cached(session, presynth.clip_key(message, style, engine))
            if clip is not None:
                call.clip_key = clip.key
                call.data = {**call.data, "voice": _voice_note(clip.natural, clip.fallback_reason, engine)}
                return
        call.data = {**call.data, "voice": "natural voice not ready"}

    def _not_placed(self, call_id: int, exc: ProviderError) -> None:
        now = self._clock.now()
        with transaction(self._sessions) as session:
            call = session.get(Callout, call_id)
            if call is None:
                return
            call.status, call.outcome, call.error, call.ended_at, call.updated_at = (
                "failed",
                "not_placed",
                exc.reason,
                now,
                now,
            )
            then = "the escalation falls back" if exc.permanent else "retrying"
            for incident in self._incidents(session, call):
                self._note(
                    session,
                    incident,
                    "voice_call_failed",
                    f"Could not call {self._who(call)}: {exc.reason}; {then}",
                    call,
                )

    def _placed(self, call_id: int, sid: str, status: str) -> None:
        """Record the provider's id, get audio ready (fallback voice now if the natural one is not), tell the
        timeline how this call speaks, and share the clip with the callee in Slack."""
        with self._sessions() as session:
            call = session.get(Callout, call_id)
            assert call is not None
            needs_audio = call.clip_key is None
            message, style, time_zone = self._message_of(session, call)
        key, failure = self._render_fallback(message, style, time_zone) if needs_audio else (None, None)
        now = self._clock.now()
        with transaction(self._sessions) as session:
            call = session.get(Callout, call_id)
            assert call is not None
            call.sid = call.sid or sid
            if call.status == "placing":
                call.status = status
            call.updated_at = now
            if needs_audio and key is not None and call.clip_key is None:
                call.clip_key = key
                call.data = {**call.data, "voice": "fallback voice: the natural voice was not ready"}
            voice = (
                call.data.get("voice", "") if call.clip_key else f"no audio ({failure}); the provider reads the text"
            )
            level = next((link.level for link in call.incidents if link.level is not None), None)
            where = f" (level {level + 1})" if level is not None else ""
            for incident in self._incidents(session, call) or []:
                self._note(session, incident, "voice_call", f"Calling {self._who(call)}{where}: {voice}", call)
            if self._on_placed is not None and call.clip_key:
                self._on_placed(session, call, call.clip_key)

    # --- the call (webhooks) ---------------------------------------------------------------------------------------

    def answer(self, token: str, answered_by: str | None) -> Prompt:
        return self._voiced(self._answer(token, answered_by))

    def keys(self, token: str, digits: str) -> Prompt:
        return self._voiced(self._keys(token, digits))

    def _answer(self, token: str, answered_by: str | None) -> Prompt:
        now = self._clock.now()
        with transaction(self._sessions) as session:
            call = self._call(session, token)
            call.answered_by = answered_by or call.answered_by
            call.answered_at = call.answered_at or now
            call.status, call.updated_at = "in-progress", now
            machine = bool(answered_by and answered_by.startswith(MACHINE_PREFIXES))
            if call.kind == "notice":
                return Prompt(say=(self._utterance_of(session, call),))
            covered = self._incidents(session, call)
            numbers = [i.number for i in covered]
            if machine:
                call.outcome = "machine"
                for incident in covered:
                    self._note(
                        session,
                        incident,
                        "voice_call_voicemail",
                        f"Voicemail answered the call to {self._who(call)}: left a message; NOT acknowledged",
                        call,
                    )
                return Prompt(say=(self._phrase(session, call, "machine", numbers=numbers),))
            open_ = [i for i in covered if i.state == "triggered"]
            if not open_:
                state = covered[0].state if covered else "resolved"
                return Prompt(say=(self._phrase(session, call, "already", numbers=numbers, state=state),))
            for incident in covered:
                self._note(session, incident, "voice_call_answered", f"{self._who(call)} answered the call", call)
            return self._menu(session, call)

    def _keys(self, token: str, digits: str) -> Prompt:
        digit = (digits or "").strip()[:1]
        with transaction(self._sessions) as session:
            call = self._call(session, token)
            call.keys = (call.keys + digit)[-40:]
            call.updated_at = self._clock.now()
            if digit == "3" or call.kind == "notice":
                return (
                    self._menu(session, call)
                    if call.kind == "page"
                    else Prompt(say=(self._utterance_of(session, call),))
                )
            covered = self._incidents(session, call, lock=True)
            open_ = [i for i in covered if i.state == "triggered"]
            numbers = [i.number for i in covered]
            if digit not in ("1", "2"):
                menu = self._menu(session, call)
                return Prompt(
                    say=(self._phrase(session, call, "invalid_key"), *menu.say), gather=True, after=menu.after
                )
            if not open_:
                state = covered[0].state if covered else "resolved"
                return Prompt(say=(self._phrase(session, call, "already", numbers=numbers, state=state),))
            if digit == "1":
                for incident in open_:
                    incidents.acknowledge(
                        session,
                        clock=self._clock,
                        events=self._events,
                        incident=incident,
                        actor=call.callee,
                        source=SOURCE,
                    )
                call.outcome = "acknowledged"
                return Prompt(
                    say=(
                        self._phrase(
                            session, call, "acknowledged", count=len(open_), numbers=[i.number for i in open_]
                        ),
                    )
                )
            for incident in open_:
                self._escalate(session, incident, actor=call.callee, call=call, why=f"{self._who(call)} pressed 2")
            call.outcome = "escalated"
            return Prompt(say=(self._phrase(session, call, "escalated"),))

    def status(self, token: str, status: str, sid: str | None = None, answered_by: str | None = None) -> None:
        now = self._clock.now()
        with transaction(self._sessions) as session:
            call = self._call(session, token, lock=True)
            if call.ended_at is not None:
                return  # a repeated final callback: already handled
            call.sid = call.sid or sid
            call.answered_by = answered_by or call.answered_by
            call.status, call.updated_at = status, now
            if status not in FINAL_STATUSES:
                return
            call.ended_at = now
            if call.outcome is None:
                call.outcome = "no_key" if status == "completed" else status.replace("-", "_")
            if call.kind != "page" or call.outcome in ("acknowledged", "escalated"):
                return
            lifecycle = self._lifecycle()
            pages = {link.incident_id: link.notification_id for link in call.incidents}
            # Incidents are locked before other calls are looked at, so of two calls ending at once the later sees
            # the earlier one over, and exactly one of them moves the escalation on.
            for incident in self._incidents(session, call, lock=True):
                notification_id = pages[incident.id]
                if notification_id is None:
                    continue
                escalation_service.page_unanswered(
                    session,
                    lifecycle=lifecycle,
                    notification_id=notification_id,
                    reason=f"{_said(call.outcome)} ({call.phone})",
                    source=SOURCE,
                    others_pending=self._other_live_calls(session, incident, call),
                )

    # --- helpers ---------------------------------------------------------------------------------------------------

    def _menu(self, session: Session, call: Callout) -> Prompt:
        return Prompt(
            say=(self._utterance_of(session, call),),
            gather=True,
            after=(self._phrase(session, call, "no_input"),),
        )

    def _utterance_of(self, session: Session, call: Callout) -> Utterance:
        if call.clip_key:
            return Utterance(call.text, call.language, call.clip_key)
        return Utterance(call.text, call.language, pending=self._message_of(session, call))

    def _voiced(self, prompt: Prompt) -> Prompt:
        """Render what has no clip yet with the fallback voice, outside the call's transaction (SQLite allows one
        writer, and the webhook should hold no lock while audio is made); what fails stays text for <Say>."""

        def voiced(utterance: Utterance) -> Utterance:
            if utterance.pending is None:
                return utterance
            key, _failure = self._render_fallback(*utterance.pending)
            return replace(utterance, clip_key=key, pending=None)

        return replace(prompt, say=tuple(map(voiced, prompt.say)), after=tuple(map(voiced, prompt.after)))

    def _phrase(self, session: Session, call: Callout, name: str, **context: object) -> Utterance:
        """A short answer, in the natural voice when rendered ahead, else the fallback voice now, else <Say>."""
        covered = self._incidents(session, call)
        first = covered[0] if covered else None
        style = self._style(session, first) if first else VoiceStyle(max_seconds=self._config.max_seconds)
        team = voice_facts.team_name(session, first, voice_facts.escalation_of(session, first)) if first else None
        context = {"count": len(covered), "numbers": [i.number for i in covered]} | context
        text = self._templates(team).phrase(call.language, name, **context)
        emotion = emotion_for(first.severity, first.state) if first else "neutral"
        message = Message(text, call.language, emotion, style.max_seconds)
        for engine in ("primary", "fallback"):
            clip = presynth.cached(session, presynth.clip_key(message, style, engine))
            if clip is not None:
                return Utterance(text, call.language, clip.key)
        return Utterance(text, call.language, pending=(message, style, call.time_zone))

    def _message_of(self, session: Session, call: Callout) -> tuple[Message, VoiceStyle, str]:
        covered = self._incidents(session, call)
        style = self._style(session, covered[0]) if covered else VoiceStyle(max_seconds=self._config.max_seconds)
        emotion = emotion_for(covered[0].severity, covered[0].state) if covered else "neutral"
        if len(covered) > 1:
            emotion = emotion_for(min(i.severity for i in covered), "triggered")
        return Message(call.text, call.language, emotion, style.max_seconds), style, call.time_zone

    def _render_fallback(self, message: Message, style: VoiceStyle, time_zone: str) -> tuple[str | None, str | None]:
        """Render with the fallback voice (fast, no model) and store it; (None, reason) when even that fails."""
        key = presynth.clip_key(message, style, "fallback")
        try:
            with self._sessions() as session:
                if presynth.cached(session, key) is not None:
                    return key, None
            rendered = presynth.render(self._fallback_speech(), message, style, time_zone=time_zone)
            with transaction(self._sessions) as session:
                presynth.store(
                    session,
                    key=key,
                    message=message,
                    style=style,
                    rendered=rendered,
                    incident_id=None,
                    clock=self._clock,
                )
            return key, None
        except Exception as exc:  # audio is a nicety; the provider can still read the text
            log.exception("fallback voice failed for a call")
            return None, f"{type(exc).__name__}: {exc}"

    def _style(self, session: Session, incident: Incident) -> VoiceStyle:
        escalation = voice_facts.escalation_of(session, incident)
        return VoiceStyle.of(voice_facts.team_settings(session, incident, escalation), self._config.max_seconds)

    def _escalate(self, session: Session, incident: Incident, *, actor: str, call: Callout, why: str) -> None:
        try:
            escalation_service.escalate_now(
                session, lifecycle=self._lifecycle(), number=incident.number, actor=actor, source=SOURCE
            )
        except Conflict as exc:
            self._note(session, incident, "voice_call_ended", f"{why[0].upper()}{why[1:]}; {exc.reason}", call)

    def _other_live_calls(self, session: Session, incident: Incident, call: Callout) -> bool:
        return (
            session.scalar(
                select(Callout.id)
                .join(CalloutIncident, CalloutIncident.call_id == Callout.id)
                .where(
                    CalloutIncident.incident_id == incident.id,
                    Callout.id != call.id,
                    Callout.kind == "page",
                    Callout.ended_at.is_(None),
                )
                .limit(1)
            )
            is not None
        )

    def _call(self, session: Session, token: str, *, lock: bool = False) -> Callout:
        query = select(Callout).where(Callout.token == token)
        if lock:
            query = query.with_for_update()
        call = session.scalars(query).one_or_none()
        if call is None:
            raise NotFound("no such call")
        return call

    @staticmethod
    def _incidents(session: Session, call: Callout, *, lock: bool = False) -> list[Incident]:
        ids = [link.incident_id for link in call.incidents]
        if not ids:
            return []
        query = (
            select(Incident).where(Incident.id.in_(ids)).options(selectinload(Incident.service)).order_by(Incident.id)
        )
        if lock:
            query = query.with_for_update()
        return list(session.scalars(query))

    def _numbers(self, session: Session, call: Callout) -> Sequence[int]:
        return [incident.number for incident in self._incidents(session, call)]

    @staticmethod
    def _who(call: Callout) -> str:
        return f"{call.data.get('recipient') or call.callee} ({call.phone})"

    def _note(self, session: Session, incident: Incident, kind: str, message: str, call: Callout) -> None:
        timeline.record(
            session,
            incident=incident,
            at=self._clock.now(),
            kind=kind,
            actor="herald",
            source=SOURCE,
            message=message,
            data={"call_id": call.id, "sid": call.sid, "status": call.status, "outcome": call.outcome},
        )


def _voice_note(natural: bool, reason: str | None, engine: str) -> str:
    if natural:
        return "natural voice, rendered ahead"
    if engine == "fallback":
        return "fallback voice: the natural voice was not ready"
    return f"fallback voice ({reason or 'no model'})"


def _said(outcome: str | None) -> str:
    return {
        "busy": "the line was busy",
        "no_answer": "nobody answered",
        "failed": "the call failed",
        "canceled": "the call was canceled",
        "machine": "voicemail answered (message left, NOT acknowledged)",
        "no_key": "answered but no key was pressed",
    }.get(outcome or "", f"the call ended ({outcome})")
