"""Deduplication: what a delivery means given what Herald already knows about the same alert.

An alert is known by `(source, dedup_key)`. Retried or repeated deliveries of a known alert never open a second
incident and never notify again; only a change of state (firing → resolved, resolved → firing) does something.
A repeat of an alert still firing stays a repeat even when a person resolved its incident meanwhile: the alert has
not recovered, so paging again for it would be a second notification for the same alert.
"""

from __future__ import annotations

from enum import StrEnum

from bot.ingestion.event import AlertAction


class AlertStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"
    INFO = "info"  # an informational point event: never firing, so it never keeps an incident open


class Step(StrEnum):
    NEW = "new"  # first delivery of a firing alert
    REFIRE = "refire"  # a recovered alert fires again: a new episode
    REPEAT = "repeat"  # nothing new (retry, repeat notification, second recovery)
    RESOLVE = "resolve"  # a firing alert recovered
    ACKNOWLEDGE = "acknowledge"  # the source acknowledged the alert
    INFO = "info"  # first delivery of an informational event
    IGNORE = "ignore"  # recovery or acknowledgement of an alert Herald never saw


def classify(status: str | None, action: AlertAction) -> Step:
    """The step for a delivery with `action` of an alert whose stored status is `status` (None: unknown)."""
    if action is AlertAction.TRIGGER:
        if status is None:
            return Step.NEW
        return Step.REFIRE if status == AlertStatus.RESOLVED else Step.REPEAT
    if action is AlertAction.INFO:
        return Step.INFO if status is None else Step.REPEAT
    if action is AlertAction.RESOLVE:
        if status is None:
            return Step.IGNORE
        return Step.RESOLVE if status == AlertStatus.FIRING else Step.REPEAT
    return Step.IGNORE if status is None else Step.ACKNOWLEDGE
