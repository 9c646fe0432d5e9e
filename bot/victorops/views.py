"""`POST /api/v1/integrations/victorops-outgoing/{integration_key}`: VictorOps outgoing webhooks (the mirror)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from bot.errors import HeraldError
from bot.http import RuntimeDep, check_integration_key
from bot.victorops import webhooks

router = APIRouter(prefix="/api/v1/integrations", tags=["integrations"])

METRIC_SOURCE = "victorops-outgoing"


class MirrorAccepted(BaseModel):
    result: str
    outcome: str
    incident: int | None


@router.post(
    "/victorops-outgoing/{integration_key}",
    response_model=MirrorAccepted,
    summary="VictorOps outgoing webhook (Incident-Triggered / -Acknowledged / -Resolved)",
)
async def victorops_outgoing(integration_key: str, request: Request, runtime: RuntimeDep) -> MirrorAccepted:
    """Mirror incidents that live in VictorOps. Configure one outgoing webhook per event with the payload of
    `victorops-outgoing/template.json` (see the README); `herald_event` names the event."""
    raw = await request.body()
    try:
        check_integration_key(runtime, integration_key)
        notice = webhooks.parse(raw)
    except HeraldError:
        runtime.metrics.alerts_received.labels(source=METRIC_SOURCE, outcome="rejected").inc()
        raise

    def mirror() -> webhooks.MirrorResult:
        with runtime.transaction() as session:
            return webhooks.mirror(session, clock=runtime.clock, events=runtime.events, notice=notice)

    result = await run_in_threadpool(mirror)
    runtime.metrics.alerts_received.labels(source=METRIC_SOURCE, outcome=result.outcome).inc()
    return MirrorAccepted(result="success", outcome=result.outcome, incident=result.incident_number)
