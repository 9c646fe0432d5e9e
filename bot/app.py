"""The composition root: `create_app(settings, clock)` builds one Herald instance.

It is the only module that imports every package. It builds the database engine, the event bus and its subscribers,
the outbox worker and its handlers, the HTTP routes, and owns their lifetimes through the ASGI lifespan. Nothing
happens at import time, so tests build as many independent apps (SQLite, PostgreSQL, fake clocks) as they need.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from apscheduler.schedulers.background import BackgroundScheduler
from fastapi import FastAPI

from bot import __version__, health, migrate
from bot.clock import Clock, FileClock, SystemClock
from bot.db import make_engine, make_session_factory
from bot.directory import views as directory_views
from bot.escalation import views as escalation_views
from bot.escalation import wiring as escalation_wiring
from bot.http import BodySizeLimit, install_error_handlers
from bot.incidents import service as incident_service
from bot.incidents import views as incident_views
from bot.incidents.events import EventBus
from bot.ingestion import views as ingestion_views
from bot.notify.outbox import Handler, OutboxWorker, RetryPolicy
from bot.observability import Metrics
from bot.postmortem import views as postmortem_views
from bot.runtime import Runtime
from bot.schedules import views as schedule_views
from bot.settings import Settings
from bot.slack import bolt as slack_bolt
from bot.victorops import sync as victorops_sync
from bot.victorops import views as victorops_views
from bot.voice import tts as voice_tts
from bot.voice import views as voice_views
from bot.voice import wiring as voice_wiring
from bot.web import views as web_views

log = logging.getLogger(__name__)


def build_runtime(settings: Settings, clock: Clock | None = None) -> Runtime:
    """Everything but the HTTP layer: used by the app, the CLI and the tests."""
    engine = make_engine(settings.effective_database_url)
    sessions = make_session_factory(engine)

    def incidents_by_state() -> dict[str, int]:
        with sessions() as session:
            return incident_service.count_by_state(session)

    runtime = Runtime(
        settings=settings,
        clock=clock or (FileClock(settings.clock_file) if settings.clock_file else SystemClock()),
        engine=engine,
        sessions=sessions,
        events=EventBus(),
        metrics=Metrics(incidents_by_state),
    )
    handlers: dict[str, Handler] = {}
    _wire(runtime, handlers)
    handlers.update(escalation_wiring.outbox_handlers(runtime, httpx.Client(timeout=10).post))
    runtime.outbox = OutboxWorker(
        sessions,
        runtime.clock,
        handlers,
        RetryPolicy(
            max_attempts=settings.outbox_max_attempts,
            base_seconds=settings.outbox_backoff_base_seconds,
            max_seconds=settings.outbox_backoff_max_seconds,
        ),
    )
    return runtime


def _wire(runtime: Runtime, handlers: dict[str, Handler]) -> None:
    """Subscribe each domain to incident events and register the outbox handler of each edge."""
    runtime.health.setdefault("database", "sqlite" if runtime.settings.is_sqlite else "postgresql")
    escalation_wiring.install(runtime)
    ingestion_views.install(runtime)
    victorops_sync.install(runtime, handlers)
    slack_bolt.install(runtime, handlers)
    runtime.extras["speech"] = voice_tts.build_speech(runtime.settings)  # bot.voice.tts.Speech: /tts, callouts
    voice_wiring.install(runtime, handlers)


def create_app(settings: Settings, clock: Clock | None = None, *, run_background: bool = True) -> FastAPI:
    """The ASGI app. `run_background=False` leaves the outbox/engine loop to the caller (tests drive it)."""
    if settings.auto_migrate:
        migrate.upgrade(settings.effective_database_url)
    runtime = build_runtime(settings, clock)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        scheduler = BackgroundScheduler(timezone="UTC")
        if run_background:
            scheduler.add_job(
                runtime.outbox.run_once,
                "interval",
                seconds=settings.outbox_poll_seconds,
                id="outbox",
                max_instances=1,
                coalesce=True,
            )
            runtime.extras["escalation"].install(scheduler)
            runtime.extras["voice"].install(scheduler)
            scheduler.start()
        if slack_socket is not None:
            slack_socket.start()
        if settings.is_sqlite:
            log.info("SQLite database: single-process deployment (use PostgreSQL for several replicas)")
        # What exists once Herald has started (modules, routes, mappers: about 240,000 objects) lives as long as the
        # process, yet every full garbage collection walked all of it: a 120 ms pause every few thousand requests
        # in an alert storm (bench/ingest.py's max latency) and up to a tenth of an alert's CPU. Frozen, it is left out;
        # collections see only what was made since. Unfrozen at shutdown, so an app that stops can be collected.
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()
            if slack_socket is not None:
                slack_socket.stop()
            if scheduler.running:
                scheduler.shutdown(wait=True)
            runtime.engine.dispose()

    app = FastAPI(
        title="Herald",
        version=__version__,
        description="Incident-management ChatOps bot: alerts in, incidents, escalation, Slack and voice out.",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, limit=settings.max_body_bytes)
    # Alerts first: routes are matched in order, and in an alert storm matching every router before this one would
    # cost more per request than parsing the alert. Its paths overlap no other route's.
    app.include_router(ingestion_views.router)
    app.include_router(health.router)
    app.include_router(incident_views.router)
    app.include_router(postmortem_views.router)
    app.include_router(schedule_views.router)
    app.include_router(escalation_views.router)
    app.include_router(ingestion_views.maintenance_router)
    app.include_router(victorops_views.router)
    app.include_router(directory_views.router)
    app.include_router(voice_views.router)
    web_views.mount(app)
    slack_socket = slack_bolt.mount(app, runtime)
    return app
