"""Builds the voice package's parts for the composition root (`app.py` calls `install` once per runtime).

The voice channel is registered for the escalation engine, the pre-synthesis subscriber listens to incident events,
and `voice.slack` joins the main outbox. Pre-synthesis gets an outbox worker of its own (`Voice.presynth_worker`),
scheduled separately, so minutes of model work never hold up a page queued behind it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from apscheduler.schedulers.base import BaseScheduler

from bot.notify.outbox import Handler, OutboxWorker, RetryPolicy
from bot.runtime import Runtime
from bot.settings import Settings
from bot.voice import presynth, share
from bot.voice.callouts import Callouts, CallSettings
from bot.voice.links import Links, derive_secret
from bot.voice.presynth import Presynthesizer
from bot.voice.providers.base import PhoneProvider
from bot.voice.providers.simulated import SimulatedProvider
from bot.voice.providers.twilio import TwilioProvider
from bot.voice.summary import Templates
from bot.voice.tts import LocalSpeech, Speech, build_engine

PRESYNTH_LEASE_FACTOR = 4  # a job renders a few messages, each bounded by the engine's timeout


@dataclass
class Voice:
    callouts: Callouts
    presynth: Presynthesizer
    presynth_worker: OutboxWorker
    links: Links
    poll_seconds: float

    def install(self, scheduler: BaseScheduler) -> None:
        scheduler.add_job(
            self.presynth_worker.run_once,
            "interval",
            seconds=self.poll_seconds,
            id="voice-presynth",
            max_instances=1,
            coalesce=True,
        )


def build_provider(settings: Settings) -> PhoneProvider:
    if settings.telephony == "twilio":
        return TwilioProvider(
            account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token.get_secret_value(),
            from_number=settings.twilio_from_number,
            api_url=settings.twilio_api_url,
        )
    return SimulatedProvider(
        secret=derive_secret(settings.api_token.get_secret_value(), "simulated-telephony"),
        scripts=settings.telephony_simulated_script,
    )


def install(runtime: Runtime, handlers: dict[str, Handler]) -> Voice:
    settings = runtime.settings
    links = Links(
        public_url=settings.effective_public_url,
        secret=derive_secret(settings.api_token.get_secret_value(), "media"),
        clock=runtime.clock,
        audio_ttl_seconds=settings.voice_audio_ttl_seconds,
    )

    @cache
    def templates(team: str | None) -> Templates:
        return Templates(settings.voice_templates_dir, team)

    @cache
    def fallback_speech() -> Speech:
        return LocalSpeech(build_engine(settings.model_copy(update={"tts_model_dir": None})))

    def speech() -> Speech:
        return runtime.extras["speech"]

    presynthesizer = Presynthesizer(
        runtime.sessions,
        runtime.clock,
        speech,
        templates,
        settings.voice_max_seconds,
        on_shared=lambda session, incident_id, key: share.share_in_thread(runtime, session, incident_id, key),
    )
    callouts = Callouts(
        sessions=runtime.sessions,
        clock=runtime.clock,
        events=runtime.events,
        lifecycle=lambda: runtime.extras["lifecycle"],
        provider=build_provider(settings),
        links=links,
        templates=templates,
        fallback_speech=fallback_speech,
        config=CallSettings(
            max_seconds=settings.voice_max_seconds,
            group_seconds=settings.voice_group_seconds,
            ring_seconds=settings.voice_ring_seconds,
        ),
        on_placed=lambda session, call, key: share.share_with_callee(runtime, session, call, key),
    )
    runtime.channels.register(callouts)
    runtime.events.subscribe(presynthesizer.on_event)
    handlers[share.KIND] = share.SlackShare(runtime)
    lease = max(120.0, settings.tts_timeout_seconds * PRESYNTH_LEASE_FACTOR)
    worker = OutboxWorker(
        runtime.sessions,
        runtime.clock,
        {presynth.KIND: presynthesizer},
        RetryPolicy(
            max_attempts=3,
            base_seconds=settings.outbox_backoff_base_seconds,
            max_seconds=settings.outbox_backoff_max_seconds,
            lease_seconds=lease,
        ),
    )
    voice = Voice(callouts, presynthesizer, worker, links, settings.outbox_poll_seconds)
    runtime.extras["voice"] = voice
    runtime.health["telephony"] = callouts.provider.name
    return voice
