"""A fake VictorOps public API on loopback HTTP, for the two-way sync tests.

It implements `PATCH /api-public/v1/incidents/ack|resolve` and `GET /api-public/v1/incidents` with the shapes of the
fixtures in `victorops-api/`, checks `X-VO-Api-Id` / `X-VO-Api-Key`, records every request, can be told to fail the
next N calls with 503 (an outage), and, like VictorOps, queues an outgoing webhook (the `victorops-outgoing/`
template) for every state change, which a test delivers to Herald when it wants to (to check there is no echo).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.support.server import serve

API_ID = "fake-vo-api-id"
API_KEY = "fake-vo-api-key"
_EVENTS = {"ACKED": "Incident-Acknowledged", "RESOLVED": "Incident-Resolved", "UNACKED": "Incident-Triggered"}


@dataclass
class Recorded:
    method: str
    path: str
    body: Any


@dataclass
class FakeVictorOps:
    base_url: str = ""
    incidents: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    outgoing: list[dict[str, str]] = field(default_factory=list)  # webhooks VictorOps would send
    fail_next: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_incident(self, number: str, *, entity_id: str, routing_key: str, phase: str = "UNACKED") -> None:
        self.incidents[number] = {
            "incidentNumber": number,
            "currentPhase": phase,
            "entityId": entity_id,
            "routingKey": routing_key,
            "entityDisplayName": entity_id,
            "transitions": [],
        }

    def actions(self) -> list[tuple[str, list[str]]]:
        """(path tail, incident names) of every ack/resolve call received, failed ones included."""
        return [
            (r.path.rsplit("/", 1)[-1], list(r.body.get("incidentNames", [])))
            for r in self.requests
            if r.method == "PATCH"
        ]

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/api-public/v1/incidents", self._list, methods=["GET"]),
                Route("/api-public/v1/incidents/ack", self._ack, methods=["PATCH"]),
                Route("/api-public/v1/incidents/resolve", self._resolve, methods=["PATCH"]),
            ]
        )

    async def _list(self, request: Request) -> JSONResponse:
        refused = await self._guard(request, None)
        return refused or JSONResponse({"incidents": list(self.incidents.values())})

    async def _ack(self, request: Request) -> JSONResponse:
        return await self._action(request, "ACKED", {"UNACKED"})

    async def _resolve(self, request: Request) -> JSONResponse:
        return await self._action(request, "RESOLVED", {"UNACKED", "ACKED"})

    async def _action(self, request: Request, phase: str, allowed: set[str]) -> JSONResponse:
        body = await request.json()
        refused = await self._guard(request, body)
        if refused:
            return refused
        if not isinstance(body.get("userName"), str) or not isinstance(body.get("incidentNames"), list):
            return JSONResponse({"error": "userName and incidentNames are required"}, status_code=400)
        results = []
        with self._lock:
            for name in body["incidentNames"]:
                incident = self.incidents.get(name)
                accepted = incident is not None and incident["currentPhase"] in allowed
                if accepted:
                    incident["currentPhase"] = phase
                    incident["transitions"].append({"name": phase, "by": body["userName"]})
                    self.outgoing.append(self._webhook(incident, body))
                results.append(
                    {"incidentNumber": name, "entityId": incident and incident["entityId"], "cmdAccepted": accepted}
                )
        return JSONResponse({"results": results})

    async def _guard(self, request: Request, body: Any) -> JSONResponse | None:
        with self._lock:
            self.requests.append(Recorded(request.method, request.url.path, body))
            if request.headers.get("x-vo-api-id") != API_ID or request.headers.get("x-vo-api-key") != API_KEY:
                return JSONResponse({"error": "Authentication failed"}, status_code=401)
            if self.fail_next > 0:
                self.fail_next -= 1
                return JSONResponse({"error": "Service Unavailable"}, status_code=503)
        return None

    @staticmethod
    def _webhook(incident: dict[str, Any], body: dict[str, Any]) -> dict[str, str]:
        return {
            "herald_event": _EVENTS[incident["currentPhase"]],
            "incident_name": incident["incidentNumber"],
            "entity_id": incident["entityId"],
            "entity_display_name": incident["entityDisplayName"],
            "routing_key": incident["routingKey"],
            "current_phase": incident["currentPhase"],
            "ack_user": body["userName"],
            "ack_msg": body.get("message", ""),
        }


@contextmanager
def running_victorops() -> Iterator[FakeVictorOps]:
    fake = FakeVictorOps()
    with serve(fake.app()) as base_url:
        fake.base_url = base_url
        yield fake
