"""A fake Twilio REST API on loopback HTTP, and a way to ring the calls it was asked to make.

`POST /2010-04-01/Accounts/{sid}/Calls.json` checks HTTP Basic auth and the form Herald sends (To, From, Url,
StatusCallback with its events, MachineDetection, Timeout), records it, and answers 201 with the Call resource of
`create-call-response.json`. It can be told to refuse the next calls (400 with Twilio's error body, e.g. 21211
invalid 'To') or to fail them (503). `ring(call, script)` then plays the call against Herald's webhooks the way
Twilio would, signing every request with the account's auth token (the simulated provider's player is reused, so
the TwiML interpretation is the same code the simulated telephony runs).
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.voice.providers.base import CallRequest
from bot.voice.providers.simulated import SimulatedCall, SimulatedProvider
from tests.support.server import serve

ACCOUNT_SID = "AC3f9b2c7e1d4a6b8c0e2f4a6b8c0d1e2f"
AUTH_TOKEN = "7c1e9a3f5b2d4e6a8c0b1d3f5a7e9c2b"
FROM_NUMBER = "+14155550100"
RESPONSE = Path(__file__).resolve().parents[2].parent / "shared/fixtures/twilio/create-call-response.json"


@dataclass
class CreatedCall:
    sid: str
    form: list[tuple[str, str]]
    received: float = 0.0  # time.perf_counter() when the request arrived (for bench/callout.py)

    def get(self, name: str) -> str:
        return next(value for key, value in self.form if key == name)

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.form if key == name]


@dataclass
class FakeTwilio:
    base_url: str = ""
    created: list[CreatedCall] = field(default_factory=list)
    refusals: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def refuse_next(self, status: int = 400, code: int = 21211, message: str = "The 'To' number is not valid.") -> None:
        self.refusals.append((status, {"code": code, "message": message, "status": status}))

    def ring(self, call: CreatedCall, script: str = "press:1") -> SimulatedCall:
        """Play `call` against Herald's webhooks as Twilio would, with `script` as the callee."""
        player = SimulatedProvider(secret=AUTH_TOKEN, scripts=script, background=False)
        request = CallRequest(to=call.get("To"), answer_url=call.get("Url"), status_url=call.get("StatusCallback"))
        placed = player.place_call(request)
        simulated = next(c for c in player.calls if c.sid == placed.sid)
        simulated.sid = call.sid
        player.play(simulated)
        return simulated

    async def _create(self, request: Request) -> JSONResponse:
        received = time.perf_counter()
        auth = request.headers.get("authorization", "")
        expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        if auth != expected or request.path_params["sid"] != ACCOUNT_SID:
            return JSONResponse({"code": 20003, "message": "Authenticate", "status": 401}, status_code=401)
        form = parse_qsl((await request.body()).decode(), keep_blank_values=True)
        with self._lock:
            if self.refusals:
                status, body = self.refusals.pop(0)
                return JSONResponse(body, status_code=status)
            sid = f"CA{next(self._ids):032x}"
            self.created.append(CreatedCall(sid, form, received))
        body = json.loads(RESPONSE.read_text()) | {"sid": sid, "to": dict(form)["To"], "status": "queued"}
        return JSONResponse(body, status_code=201)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/2010-04-01/Accounts/{sid}/Calls.json", self._create, methods=["POST"])])


@contextmanager
def fake_twilio() -> Iterator[FakeTwilio]:
    fake = FakeTwilio()
    with serve(fake.app()) as url:
        fake.base_url = url
        yield fake
