"""`herald tts serve`: the engine as an HTTP service, for GPU hosts that several Herald instances share.

    POST /v1/synthesize   JSON request → audio (WAV, or 8 kHz μ-law with "format": "mulaw" / "mulaw-wav")
    POST /v1/stream       same request → raw 16-bit PCM (or μ-law) chunks, one per segment, as they are ready
    GET  /v1/voices       the registered voices
    GET  /healthz         model status (absent | not loaded | loading | ready | failed), queue and cache figures

Synthesis is CPU/GPU bound, so requests run in worker threads behind a semaphore (``max_concurrency``) and at most
``queue_limit`` more may wait; beyond that the service answers 503 with Retry-After instead of piling up work a
phone call would no longer wait for. Bad requests (empty or over-long text, unknown voice, unreadable, too short or
too long reference audio, out-of-range parameters) get 422 with the reason, as JSON ``{"error", "reason"}``.
Results say whether the fallback voice spoke in ``X-Herald-Fallback`` (and why in ``X-Herald-Fallback-Reason``).
This is the only module of tts_engine that imports a web framework.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import threading
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from tts_engine.api import MAX_TEXT_CHARS, Audio, Duration, Emotion, SynthesisRequest
from tts_engine.engine import Engine
from tts_engine.errors import InvalidAudio, InvalidRequest, TtsError

__all__ = ["EmotionBody", "SynthesisBody", "create_app"]

MEDIA_TYPES = {"wav": "audio/wav", "mulaw": "audio/basic", "mulaw-wav": "audio/wav"}


class EmotionBody(BaseModel):
    """One of preset / vector / text / audio (base64), with an intensity."""

    model_config = ConfigDict(extra="forbid")
    preset: str | None = None
    vector: list[float] | None = None
    text: str | None = None
    audio: str | None = Field(default=None, description="base64 of an audio file")
    intensity: float = 1.0

    def to_emotion(self) -> Emotion:
        given = [k for k in ("preset", "vector", "text", "audio") if getattr(self, k) is not None]
        if len(given) > 1:
            raise InvalidRequest(f"give one emotion source, got {', '.join(given)}")
        if not given:
            return Emotion(intensity=self.intensity)
        kind = given[0]
        value: Any = _b64(self.audio, "emotion.audio") if kind == "audio" else getattr(self, kind)
        if kind == "vector":
            value = tuple(value)
        return Emotion(kind=kind, intensity=self.intensity, **{kind: value})


class SynthesisBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(max_length=MAX_TEXT_CHARS * 2)
    voice: str | None = Field(default=None, description="a registered voice name")
    voice_audio: str | None = Field(default=None, description="base64 of a reference clip (instead of voice)")
    emotion: EmotionBody | str | None = Field(default=None, description="an object, or the CLI syntax: urgent@0.7")
    duration: str | None = Field(default=None, description="0.9x or 12s")
    language: Literal["zh", "en"] | None = None
    seed: int | None = None
    timezone: str | None = None
    glossary: dict[str, str] = Field(default_factory=dict)
    format: Literal["wav", "mulaw", "mulaw-wav"] = "wav"

    def to_request(self, engine: Engine) -> SynthesisRequest:
        if self.voice is not None and self.voice_audio is not None:
            raise InvalidRequest("give either voice or voice_audio, not both")
        voice: str | bytes | None = None
        if self.voice is not None:
            voice = engine.voices.get(self.voice).name  # names only: a server never reads paths it is sent
        elif self.voice_audio is not None:
            voice = _b64(self.voice_audio, "voice_audio")
        if isinstance(self.emotion, str):
            emotion = Emotion.parse(self.emotion)
            if emotion.kind == "audio":
                raise InvalidRequest("emotion audio must be sent as base64 in emotion.audio")
        else:
            emotion = self.emotion.to_emotion() if self.emotion else Emotion()
        return SynthesisRequest(
            text=self.text,
            voice=voice,
            emotion=emotion,
            duration=Duration.parse(self.duration) if self.duration else None,
            language=self.language,
            seed=self.seed,
            timezone=self.timezone,
            glossary=self.glossary,
        )


def _b64(value: str | None, field: str) -> bytes:
    try:
        return base64.b64decode(value or "", validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest(f"{field} is not valid base64") from None


class Overloaded(Exception):
    """More requests are waiting than the queue allows."""


class WorkQueue:
    """A bound on concurrent syntheses plus a bound on how many may wait for one."""

    def __init__(self, max_concurrency: int, queue_limit: int) -> None:
        self.max_concurrency = max_concurrency
        self.queue_limit = queue_limit
        self._semaphore = asyncio.Semaphore(max_concurrency)
        self.waiting = 0
        self.running = 0

    async def __aenter__(self) -> None:
        if self.waiting >= self.queue_limit and self._semaphore.locked():
            raise Overloaded
        self.waiting += 1
        try:
            await self._semaphore.acquire()
        finally:
            self.waiting -= 1
        self.running += 1

    async def __aexit__(self, *_exc: object) -> None:
        self.running -= 1
        self._semaphore.release()


def _headers(audio: Audio) -> dict[str, str]:
    headers = {"X-Herald-Fallback": str(audio.fallback).lower(), "X-Herald-Seconds": f"{audio.seconds:.3f}"}
    if audio.fallback_reason:
        headers["X-Herald-Fallback-Reason"] = audio.fallback_reason.encode("ascii", "replace").decode()[:300]
    return headers


def _encode(audio: Audio, fmt: str) -> bytes:
    return {"wav": audio.to_wav, "mulaw": audio.to_mulaw, "mulaw-wav": audio.to_mulaw_wav}[fmt]()


def create_app(engine: Engine, *, max_concurrency: int = 1, queue_limit: int = 8, preload: bool = True) -> FastAPI:
    """The service around ``engine``. ``preload`` starts loading the model in the background at startup."""
    queue = WorkQueue(max_concurrency, queue_limit)

    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if preload and engine.model_dir is not None:
            threading.Thread(target=engine.load, name="tts-model-load", daemon=True).start()
        yield

    app = FastAPI(title="Herald TTS", description=__doc__, lifespan=lifespan)

    @app.exception_handler(TtsError)
    async def _tts_error(_request: Request, exc: TtsError) -> JSONResponse:
        kind = "invalid_audio" if isinstance(exc, InvalidAudio) else "invalid_request"
        return JSONResponse({"error": kind, "reason": str(exc)}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        reasons = [f"{'.'.join(str(p) for p in e['loc'] if p != 'body') or 'body'}: {e['msg']}" for e in exc.errors()]
        return JSONResponse({"error": "invalid_request", "reason": "; ".join(reasons)}, status_code=422)

    @app.exception_handler(Overloaded)
    async def _overloaded(_request: Request, _exc: Overloaded) -> JSONResponse:
        reason = f"{queue.waiting} requests are already waiting; try again shortly"
        return JSONResponse({"error": "overloaded", "reason": reason}, status_code=503, headers={"Retry-After": "2"})

    @app.get("/healthz")
    def health() -> dict[str, Any]:
        status = engine.status().as_dict()
        status["queue"] = {"running": queue.running, "waiting": queue.waiting, "limit": queue.queue_limit}
        status["max_concurrency"] = queue.max_concurrency
        return status

    @app.get("/v1/voices")
    def voices() -> dict[str, Any]:
        return {"voices": [v.describe() for v in engine.voices.list()]}

    @app.post("/v1/synthesize")
    async def synthesize(body: SynthesisBody) -> Response:
        request = body.to_request(engine)
        async with queue:
            audio = await run_in_threadpool(engine.synthesize, request)
        return Response(_encode(audio, body.format), media_type=MEDIA_TYPES[body.format], headers=_headers(audio))

    @app.post("/v1/stream")
    async def stream(body: SynthesisBody) -> Response:
        if body.format == "mulaw-wav":
            raise InvalidRequest("streaming sends raw audio: use format 'wav' (16-bit PCM) or 'mulaw'")
        request = body.to_request(engine)
        await queue.__aenter__()
        try:
            segments = engine.stream(request)
            first = await run_in_threadpool(next, segments, None)  # bad requests fail here, before any audio
        except BaseException:
            await queue.__aexit__()
            raise
        assert first is not None
        rate = first.sample_rate if body.format == "wav" else 8000

        async def chunks() -> AsyncIterator[bytes]:
            try:
                audio: Audio | None = first
                while audio is not None:
                    yield _raw(audio, body.format)
                    audio = await run_in_threadpool(next, segments, None)
            finally:
                await queue.__aexit__()

        media = f"audio/L16; rate={rate}; channels=1" if body.format == "wav" else "audio/basic"
        return StreamingResponse(chunks(), media_type=media, headers=_headers(first))

    return app


def _raw(audio: Audio, fmt: str) -> bytes:
    return audio.to_mulaw() if fmt == "mulaw" else audio.to_pcm16().astype("<i2").tobytes()
