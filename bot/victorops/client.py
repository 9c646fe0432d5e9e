"""A small client of the VictorOps public API (`/api-public/v1`), over httpx.

Only what Herald needs: acknowledge and resolve incidents by number, and list current incidents (to find the number
of an incident Herald knows only by its entity_id). Errors say whether retrying can help: transport failures, 408,
429 and 5xx can; other 4xx (bad credentials, unknown user) cannot. The base URL or a ready httpx.Client come from
the constructor, so tests point it at a loopback fake.

    VictorOpsError            any failed call; `retryable` tells the outbox whether to try again
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

API_PREFIX = "/api-public/v1"


class VictorOpsError(Exception):
    def __init__(self, message: str, *, retryable: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status


@dataclass(frozen=True)
class ActionResult:
    incident_number: str
    entity_id: str | None
    accepted: bool


class VictorOpsClient:
    def __init__(
        self,
        *,
        base_url: str,
        api_id: str,
        api_key: str,
        http: httpx.Client | None = None,
        timeout: float = 10.0,
    ) -> None:
        self._http = http or httpx.Client(timeout=timeout)
        self._base = base_url.rstrip("/") + API_PREFIX
        self._headers = {
            "X-VO-Api-Id": api_id,
            "X-VO-Api-Key": api_key,
            "Accept": "application/json",
        }

    def ack(self, incident_numbers: Sequence[str], *, user: str, message: str) -> list[ActionResult]:
        return self._action("ack", incident_numbers, user, message)

    def resolve(self, incident_numbers: Sequence[str], *, user: str, message: str) -> list[ActionResult]:
        return self._action("resolve", incident_numbers, user, message)

    def incidents(self) -> list[dict[str, Any]]:
        """Open, acknowledged and recently resolved incidents."""
        body = self._call("GET", "/incidents")
        incidents = body.get("incidents") if isinstance(body, dict) else None
        if not isinstance(incidents, list):
            raise VictorOpsError("VictorOps answered GET /incidents without an 'incidents' list", retryable=True)
        return [i for i in incidents if isinstance(i, dict)]

    def close(self) -> None:
        self._http.close()

    def _action(self, action: str, numbers: Sequence[str], user: str, message: str) -> list[ActionResult]:
        payload = {"userName": user, "incidentNames": [str(n) for n in numbers], "message": message}
        body = self._call("PATCH", f"/incidents/{action}", json=payload)
        results = body.get("results") if isinstance(body, dict) else None
        if not isinstance(results, list):
            raise VictorOpsError(f"VictorOps answered {action} without a 'results' list", retryable=True)
        return [
            ActionResult(
                incident_number=str(r.get("incidentNumber", "")),
                entity_id=r.get("entityId"),
                accepted=r.get("cmdAccepted") is True,
            )
            for r in results
            if isinstance(r, dict)
        ]

    def _call(self, method: str, path: str, json: Any = None) -> Any:
        try:
            response = self._http.request(method, self._base + path, json=json, headers=self._headers)
        except httpx.HTTPError as exc:
            raise VictorOpsError(f"{method} {path}: {type(exc).__name__}: {exc}", retryable=True) from exc
        if response.status_code >= 400:
            retryable = response.status_code in (408, 429) or response.status_code >= 500
            raise VictorOpsError(
                f"{method} {path}: HTTP {response.status_code} {response.text[:200]}",
                retryable=retryable,
                status=response.status_code,
            )
        try:
            return response.json()
        except ValueError as exc:
            raise VictorOpsError(f"{method} {path}: answer is not JSON", retryable=True) from exc
