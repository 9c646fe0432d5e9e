"""Herald's speech: the only module of `bot/` that talks to `tts_engine`.

`/tts` in Slack, voice callouts and the `herald tts` CLI ask a :class:`Speech` for audio. It is either the engine
in this process (:class:`LocalSpeech`: the IndexTTS-2 model from `HERALD_TTS_MODEL_DIR`, or the offline fallback
voice) or a shared GPU host running `herald tts serve` (:class:`RemoteSpeech`, by `HERALD_TTS_URL` over httpx).
A remote engine that is down or too slow does not silence a page: the local engine (the fallback voice unless a
model folder is configured here too) answers, and the audio is marked as fallback. Errors in what was asked (empty
text, unknown voice, bad emotion ...) become `bot.errors.InvalidInput`, which every edge maps to its 4xx.

tts_engine is imported lazily so that importing this module costs nothing until speech is needed.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from bot.errors import InvalidInput, NotFound
from bot.settings import Settings

if TYPE_CHECKING:
    from tts_engine.api import Audio, SynthesisRequest
    from tts_engine.engine import Engine, Progress

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SpeechOrder:
    """What to say, in the CLI's and Slack's vocabulary: specs are parsed by the engine (`urgent@0.7`, `0.9x`)."""

    text: str
    voice: str | Path | None = None
    emotion: str | None = None
    duration: str | None = None
    language: str | None = None
    seed: int | None = None
    timezone: str | None = None
    glossary: Mapping[str, str] = field(default_factory=dict)


class Speech(Protocol):
    def synthesize(self, order: SpeechOrder, progress: Progress | None = None) -> Audio: ...

    def voices(self) -> list[dict[str, Any]]: ...

    def status(self) -> dict[str, Any]: ...


@contextmanager
def _as_herald_errors() -> Iterator[None]:
    from tts_engine.errors import InvalidAudio, InvalidRequest

    try:
        yield
    except InvalidRequest as exc:
        raise (NotFound if str(exc).startswith("unknown voice") else InvalidInput)(str(exc)) from None
    except InvalidAudio as exc:
        raise InvalidInput(str(exc)) from None


def build_request(order: SpeechOrder) -> SynthesisRequest:
    """The engine's request for ``order``; InvalidInput (with the reason) when it is not valid."""
    from tts_engine.api import Duration, Emotion, SynthesisRequest

    with _as_herald_errors():
        return SynthesisRequest(
            text=order.text,
            voice=order.voice,
            emotion=Emotion.parse(order.emotion) if order.emotion else Emotion(),
            duration=Duration.parse(order.duration) if order.duration else None,
            language=order.language,  # type: ignore[arg-type]
            seed=order.seed,
            timezone=order.timezone,
            glossary=dict(order.glossary),
        )


class LocalSpeech:
    """The engine in this process."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def synthesize(self, order: SpeechOrder, progress: Progress | None = None) -> Audio:
        with _as_herald_errors():
            return self.engine.synthesize(build_request(order), progress)

    def voices(self) -> list[dict[str, Any]]:
        return [v.describe() for v in self.engine.voices.list()]

    def add_voice(self, name: str, clip: Path, *, language: str | None = None, replace: bool = False) -> dict:
        with _as_herald_errors():
            return self.engine.voices.add(name, clip, language=language, replace=replace).describe()

    def status(self) -> dict[str, Any]:
        return self.engine.status().as_dict()


class RemoteSpeech:
    """A `herald tts serve` engine at ``base_url``; ``fallback`` speaks when it cannot be reached."""

    def __init__(self, base_url: str, fallback: LocalSpeech, *, timeout: float, client: httpx.Client | None = None):
        self.client = client or httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout)
        self.fallback = fallback

    def synthesize(self, order: SpeechOrder, progress: Progress | None = None) -> Audio:
        from tts_engine.api import Audio

        build_request(order)  # refuse bad input here, with the same reasons as in-process
        try:
            response = self.client.post("/v1/synthesize", json=self._body(order))
        except httpx.HTTPError as exc:
            return self._fall_back(order, f"remote engine unreachable: {exc}")
        if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
            reason = _reason(response)
            raise (NotFound if response.status_code == 404 or reason.startswith("unknown voice") else InvalidInput)(
                reason
            )
        if response.status_code != 200:
            return self._fall_back(order, f"remote engine answered {response.status_code}: {_reason(response)}")
        with _as_herald_errors():
            return Audio.from_wav(
                response.content,
                fallback=response.headers.get("x-herald-fallback") == "true",
                fallback_reason=response.headers.get("x-herald-fallback-reason"),
            )

    def _fall_back(self, order: SpeechOrder, reason: str) -> Audio:
        from tts_engine.api import Audio

        log.warning("%s; speaking with the local engine", reason)
        audio = self.fallback.synthesize(order)
        return Audio(audio.samples, audio.sample_rate, True, f"{reason}; {audio.fallback_reason or 'local model'}")

    @staticmethod
    def _body(order: SpeechOrder) -> dict[str, Any]:
        body: dict[str, Any] = {
            "text": order.text,
            "emotion": order.emotion,
            "duration": order.duration,
            "language": order.language,
            "seed": order.seed,
            "timezone": order.timezone,
            "glossary": dict(order.glossary),
        }
        if isinstance(order.voice, Path):
            body["voice_audio"] = base64.b64encode(order.voice.read_bytes()).decode()
        else:
            body["voice"] = order.voice
        return {k: v for k, v in body.items() if v is not None}

    def voices(self) -> list[dict[str, Any]]:
        try:
            return self.client.get("/v1/voices").raise_for_status().json()["voices"]
        except httpx.HTTPError:
            return self.fallback.voices()

    def status(self) -> dict[str, Any]:
        try:
            return {"remote": self.client.get("/healthz").raise_for_status().json()}
        except httpx.HTTPError as exc:
            return {"remote": f"unreachable: {exc}", "local": self.fallback.status()}


def _reason(response: httpx.Response) -> str:
    try:
        return str(response.json().get("reason") or response.text)
    except ValueError:
        return response.text[:300]


def build_engine(settings: Settings) -> Engine:
    """The in-process engine: voices and conditioning cache under ``HERALD_DATA_DIR/tts``."""
    from tts_engine.engine import Engine
    from tts_engine.voices import TensorCache, VoiceRegistry

    home = settings.data_dir / "tts"
    return Engine(
        voices=VoiceRegistry(home / "voices"),
        model_dir=settings.tts_model_dir,
        cache=TensorCache(home / "conditioning"),
        model_timeout_s=settings.tts_timeout_seconds,
    )


def build_speech(settings: Settings) -> Speech:
    """Remote when ``HERALD_TTS_URL`` is set, in-process otherwise."""
    local = LocalSpeech(build_engine(settings))
    if settings.tts_url:
        return RemoteSpeech(settings.tts_url, local, timeout=settings.tts_timeout_seconds)
    return local
