"""Builds this package's parts for the composition root (`app.py` calls `install` once per runtime)."""

from __future__ import annotations

from collections.abc import MutableMapping
from datetime import time
from typing import Any

from bot.escalation import hooks
from bot.escalation.auditor import Auditor
from bot.escalation.delivery import NotificationDelivery
from bot.escalation.engine import EngineConfig, EscalationEngine
from bot.escalation.lifecycle import Lifecycle
from bot.escalation.notifier import Notifier
from bot.escalation.periodic import Periodic
from bot.escalation.runner import EngineRunner
from bot.escalation.sla import BreachCollector, breaches_by_severity
from bot.notify.email import EmailChannel
from bot.notify.outbox import Handler
from bot.notify.throttle import parse_limits
from bot.runtime import Runtime


def install(runtime: Runtime) -> EngineRunner:
    """Subscribe the escalation lifecycle to incident events and build the engine, auditor and sweep."""
    settings = runtime.settings
    if settings.smtp_host:
        runtime.channels.register(EmailChannel(settings.smtp_host, settings.smtp_port, settings.smtp_from))
    notifier = Notifier(
        clock=runtime.clock,
        limits=parse_limits(settings.notify_throttle),
        email_enabled=bool(settings.smtp_host),
    )
    lifecycle = Lifecycle(settings=settings, clock=runtime.clock, events=runtime.events)
    runtime.events.subscribe(lifecycle.on_event)
    runtime.metrics.registry.register(BreachCollector(lambda: _breaches(runtime)))
    engine = EscalationEngine(
        runtime.sessions,
        runtime.clock,
        runtime.events,
        notifier,
        EngineConfig(ack_reminder_grace_minutes=settings.ack_reminder_grace_minutes),
        on_breach=lambda severity: runtime.metrics.sla_breaches.labels(severity=severity).inc(),
    )
    hour, _, minute = settings.p3_digest_time.partition(":")
    runner = EngineRunner(
        engine,
        Auditor(runtime.sessions, runtime.clock),
        Periodic(runtime.sessions, notifier, time(int(hour), int(minute or 0)), settings.slack_default_channel),
        runtime.clock,
        poll_seconds=settings.escalation_poll_seconds,
        sweep_seconds=settings.escalation_sweep_seconds,
    )
    runtime.extras["escalation"] = runner
    runtime.extras["lifecycle"] = lifecycle
    runtime.extras["notifier"] = notifier
    return runner


def outbox_handlers(runtime: Runtime, http_post: Any) -> MutableMapping[str, Handler]:
    """Handlers for every registered channel (call after all edges registered theirs) and for automation hooks."""
    notifier: Notifier = runtime.extras["notifier"]
    delivery = NotificationDelivery(runtime.sessions, runtime.clock, runtime.channels, notifier)
    handlers: dict[str, Handler] = {f"notify.{name}": delivery for name in runtime.channels.names()}
    handlers[hooks.OUTBOX_KIND] = hooks.HookDelivery(runtime.sessions, runtime.clock, http_post)
    return handlers


def _breaches(runtime: Runtime) -> dict[str, int]:
    with runtime.sessions() as session:
        return breaches_by_severity(session)
