"""What a call says, in the callee's language, from jinja2 templates a team can edit.

The words come from `templates/<lang>/<name>.j2` (zh and en), overridable per team by dropping a file of the same
name in `HERALD_VOICE_TEMPLATES_DIR/<team>/<lang>/`, or for everyone in `HERALD_VOICE_TEMPLATES_DIR/<lang>/`.
Templates render in jinja2's sandbox (a template is configuration, not code) and get plain facts, never rows.

The spoken message is capped (`HERALD_VOICE_MAX_SECONDS`, default 20 s, or a team's `voice.max_seconds`) without
ever cutting a word: the message is composed at the most detailed level whose estimated natural length can be
brought under the cap by duration control (at most `MAX_SPEEDUP`), dropping whole sentences (who else was paged,
then since-when and the alert count) when it cannot; `presynth.render` then asks the engine for exactly the cap.

Severity picks the emotion preset: P1 urgent, P2 concerned, P3 calm, a resolved incident reassuring.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import ChoiceLoader, FileSystemLoader, StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator

from bot.errors import InvalidInput

log = logging.getLogger(__name__)

BUILT_IN = Path(__file__).with_name("templates")
LANGUAGES = ("en", "zh")
DETAIL_LEVELS = (3, 2, 1, 0)
MAX_SPEEDUP = 0.75  # squeeze natural speech to at most 75 % of its length; faster stops being easy to follow
# Natural speaking rates used to plan the length before any audio exists (characters per second, spaces included
# for English; CJK characters for Chinese, other characters at the English rate).
MIN_SECONDS, MAX_SECONDS = 3.0, 120.0  # bounds of a message cap: room for one sentence; well inside a call's limit
GlossaryTerm = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
GlossaryReading = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
CHARS_PER_SECOND = {"en": 14.0, "zh": 4.2}
EMOTIONS = {"P1": "urgent", "P2": "concerned", "P3": "calm", "resolved": "reassuring"}
EXACT_ALERTS = 10  # up to this many alerts a call says the count; beyond, "more than" the step below it
ALERT_STEPS = (10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
_VOICE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")  # as `herald tts voices add` names them
_TEAM_DIR = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,199}$")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_SPACES = re.compile(r"\s+")
_CJK_GAP = re.compile(r"(?<=[\u3000-\u9fff\uff00-\uffef])\s+|\s+(?=[\u3000-\u9fff\uff00-\uffef])")


@dataclass(frozen=True)
class IncidentFacts:
    """What a summary may say about one incident (all plain values, already in the listener's time zone)."""

    number: int
    severity: str
    state: str
    what: str
    since: str
    alert_count: int
    service: str | None = None
    others: tuple[str, ...] = ()
    is_drill: bool = False
    resolved_by: str | None = None

    @property
    def alerts_over(self) -> int | None:
        """The round figure the call says "more than" (None: it says the exact `alert_count`); see `alert_figure`."""
        more, figure = alert_figure(self.alert_count)
        return figure if more else None


def alert_figure(count: int) -> tuple[bool, int]:
    """How a call says `count` alerts: (False, n) for "n alerts" up to ten, else (True, step): "more than step".

    A listener needs the order of magnitude, not "437 alerts"; and words that change only at these steps keep a
    clip rendered ahead of time valid while an alert storm grows (pre-synthesis re-renders when the figure moves).
    """
    if count <= EXACT_ALERTS:
        return False, count
    return True, max(step for step in ALERT_STEPS if step < count)


@dataclass(frozen=True)
class VoiceStyle:
    """A team's voice: the engine voice, its glossary and the cap (from the team's `voice` settings)."""

    voice: str | None = None
    glossary: Mapping[str, str] = field(default_factory=dict)
    max_seconds: float = 20.0

    @classmethod
    def of(cls, team_settings: Mapping[str, Any] | None, default_max_seconds: float) -> VoiceStyle:
        """The team's style. Settings that do not validate (only a hand-edited database has them) give the
        defaults with a warning: a page never fails over how it sounds."""
        try:
            team = TeamVoiceIn.model_validate((team_settings or {}).get("voice") or {})
        except ValidationError as exc:
            log.warning("ignoring a team's invalid voice settings: %s", exc)
            team = TeamVoiceIn()
        return cls(
            voice=team.voice,
            glossary=dict(team.glossary),
            max_seconds=max(MIN_SECONDS, team.max_seconds or default_max_seconds),
        )


class TeamVoiceIn(BaseModel):
    """A team's `voice:` settings as `herald config apply` takes them (all optional): the registered voice its calls
    speak with (a name `herald tts voices add` accepts), readings for its jargon (`k8s: kubernetes`, names and
    places in toned pinyin) on top of the voice's own glossary, and its cap on a call's spoken message in place of
    `HERALD_VOICE_MAX_SECONDS`. The callee's language is not here: it is each person's (`users[].language`)."""

    model_config = ConfigDict(extra="forbid")

    voice: str | None = None
    glossary: dict[GlossaryTerm, GlossaryReading] = Field(default_factory=dict, max_length=500)
    max_seconds: float | None = Field(default=None, ge=MIN_SECONDS, le=MAX_SECONDS)

    @field_validator("voice")
    @classmethod
    def _voice_name(cls, value: str | None) -> str | None:
        if value is not None and not _VOICE_NAME.match(value):
            raise ValueError(f"voice {value!r}: a registered voice name, 1-64 lowercase letters, digits, '-' or '_'")
        return value


@dataclass(frozen=True)
class Message:
    """Words to speak and how: the emotion preset and the length cap they were composed for."""

    text: str
    language: str
    emotion: str
    max_seconds: float
    detail: int = 3


def language_of(value: str | None) -> str:
    return value if value in LANGUAGES else "en"


def emotion_for(severity: str, state: str) -> str:
    return EMOTIONS["resolved"] if state == "resolved" else EMOTIONS.get(severity, "concerned")


def clock_time(at: datetime, time_zone: str) -> str:
    """`14:02` in the listener's zone (an unknown zone reads as UTC rather than failing a page)."""
    try:
        zone = ZoneInfo(time_zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return at.astimezone(zone).strftime("%H:%M")


def estimate_seconds(text: str, language: str) -> float:
    """The natural length of `text` spoken at an ordinary pace (a plan; the engine has the last word)."""
    cjk = len(_CJK.findall(text))
    rest = len(text) - cjk
    return cjk / CHARS_PER_SECOND["zh"] + rest / CHARS_PER_SECOND["en"] * (0.8 if language == "zh" else 1.0)


class Templates:
    """The template set for one team (None: the defaults), rendering whitespace-normalised speech."""

    def __init__(self, directory: Path | None, team: str | None = None) -> None:
        self._env = _environment(directory, team if team and _TEAM_DIR.match(team) else None)

    def render(self, language: str, name: str, **context: Any) -> str:
        try:
            text = self._env.get_template(f"{language_of(language)}/{name}.j2").render(**context)
        except TemplateError as exc:
            raise InvalidInput(f"voice template {language}/{name}.j2 cannot be rendered: {exc}") from None
        return _CJK_GAP.sub("", _SPACES.sub(" ", text)).strip()

    def page(self, incidents: Sequence[IncidentFacts], language: str, max_seconds: float) -> Message:
        """The call's message for one or several incidents, with the key choices, under the cap."""
        if not incidents:
            raise ValueError("a call covers at least one incident")
        lead = min(incidents, key=lambda i: i.severity)
        name, context = ("page", {"i": incidents[0]}) if len(incidents) == 1 else ("group", {"incidents": incidents})
        return self._fit(name, context, language, emotion_for(lead.severity, "triggered"), max_seconds, menu=True)

    def recovery(self, incident: IncidentFacts, language: str, max_seconds: float) -> Message:
        return self._fit("recovery", {"i": incident}, language, EMOTIONS["resolved"], max_seconds, menu=False)

    def summary(self, incident: IncidentFacts, language: str, max_seconds: float) -> Message:
        """What the incident is, without the key choices (the audio posted to Slack)."""
        if incident.state == "resolved":
            return self.recovery(incident, language, max_seconds)
        emotion = emotion_for(incident.severity, incident.state)
        return self._fit("page", {"i": incident}, language, emotion, max_seconds, menu=False)

    def phrase(self, language: str, name: str, **context: Any) -> str:
        """A short fixed answer: acknowledged, escalated, invalid_key, no_input, machine, already, notice."""
        return self.render(language, name, **context)

    def _fit(
        self, name: str, context: dict[str, Any], language: str, emotion: str, max_seconds: float, *, menu: bool
    ) -> Message:
        text = ""
        for detail in DETAIL_LEVELS:
            text = self.render(language, name, detail=detail, menu=menu, **context)
            if estimate_seconds(text, language) * MAX_SPEEDUP <= max_seconds:
                return Message(text, language_of(language), emotion, max_seconds, detail)
        return Message(text, language_of(language), emotion, max_seconds, DETAIL_LEVELS[-1])


@cache
def _environment(directory: Path | None, team: str | None) -> SandboxedEnvironment:
    loaders = []
    if directory is not None:
        if team:
            loaders.append(FileSystemLoader(directory / team))
        loaders.append(FileSystemLoader(directory))
    loaders.append(FileSystemLoader(BUILT_IN))
    return SandboxedEnvironment(loader=ChoiceLoader(loaders), undefined=StrictUndefined, autoescape=False)
