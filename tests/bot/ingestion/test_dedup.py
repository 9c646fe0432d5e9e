"""The dedup table: what a delivery means given the alert's stored status."""

from __future__ import annotations

import pytest

from bot.ingestion.dedup import Step, classify
from bot.ingestion.event import AlertAction

T, R, A, N = AlertAction.TRIGGER, AlertAction.RESOLVE, AlertAction.ACKNOWLEDGE, AlertAction.INFO


@pytest.mark.parametrize(
    ("status", "action", "step"),
    [
        (None, T, Step.NEW),
        ("firing", T, Step.REPEAT),
        ("resolved", T, Step.REFIRE),
        (None, R, Step.IGNORE),
        ("firing", R, Step.RESOLVE),
        ("resolved", R, Step.REPEAT),
        ("info", R, Step.REPEAT),
        (None, A, Step.IGNORE),
        ("firing", A, Step.ACKNOWLEDGE),
        (None, N, Step.INFO),
        ("info", N, Step.REPEAT),
    ],
)
def test_classify(status: str | None, action: AlertAction, step: Step) -> None:
    assert classify(status, action) is step
