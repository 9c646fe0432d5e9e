"""A fake Slack Web API on loopback HTTP: the real `slack_sdk.WebClient` talks to it through `base_url`.

It answers the methods Herald uses (chat.*, users.*, files upload v2, conversations.open, apps.connections.open),
records every call with its parameters, accepts `response_url` posts, and can be told to answer a method with
429 + Retry-After or with a Slack error a number of times, which is how the tests see slack_sdk's retry handlers
and the outbox at work. Like Slack, `chat.postMessage` accepts a channel name and answers with the channel's id.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from tests.support.server import serve

BOT_USER = "UHERALDBOT"


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    token: str


@dataclass
class FakeSlack:
    base_url: str = ""
    calls: list[Call] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)  # what handlers sent to response_url
    uploads: dict[str, bytes] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)  # Slack id → user object
    socket_url: str = ""
    _faults: dict[str, list[tuple[int, dict[str, Any], dict[str, str]]]] = field(default_factory=dict)
    _ts: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Condition = field(default_factory=threading.Condition)

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    def response_url(self, name: str = "r") -> str:
        return f"{self.base_url}/respond/{name}"

    def add_user(self, slack_id: str, email: str, name: str, tz: str = "Europe/Stockholm") -> None:
        self.users[slack_id] = {
            "id": slack_id,
            "name": name,
            "real_name": name,
            "tz": tz,
            "profile": {"email": email, "real_name": name, "display_name": name},
        }

    def rate_limit(self, method: str, *, times: int = 1, retry_after: int = 0) -> None:
        """Answer the next `times` calls of `method` with 429 and Retry-After, as Slack's rate limiter does."""
        body = {"ok": False, "error": "ratelimited"}
        self._faults.setdefault(method, []).extend([(429, body, {"Retry-After": str(retry_after)})] * times)

    def fail(self, method: str, error: str, *, times: int = 1, status: int = 200) -> None:
        self._faults.setdefault(method, []).extend([(status, {"ok": False, "error": error}, {})] * times)

    def named(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def wait_for(self, predicate: Callable[[FakeSlack], Any], timeout: float = 20) -> Any:
        """Wait until `predicate(self)` is truthy (lazy listeners run on Bolt's threads after the ack)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                value = predicate(self)
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"fake Slack never saw what was expected; calls: {self.calls}")
                self._lock.wait(remaining)

    def channel_id(self, channel: str) -> str:
        if channel.startswith(("C", "D", "G")) and channel.isalnum():
            return channel
        return "C" + hashlib.sha1(channel.lstrip("#").encode()).hexdigest()[:10].upper()

    # ---- the HTTP side -------------------------------------------------------------------------------------

    async def _api(self, request: Request) -> JSONResponse:
        method = request.path_params["method"]
        params: dict[str, Any] = dict(request.query_params)
        raw = await request.body()
        if raw:
            if request.headers.get("content-type", "").startswith("application/json"):
                params.update(json.loads(raw))
            else:
                params.update(dict(parse_qsl(raw.decode())))
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        with self._lock:
            self.calls.append(Call(method, params, token))
            fault = self._faults.get(method, []).pop(0) if self._faults.get(method) else None
            self._lock.notify_all()
        if fault:
            status, body, headers = fault
            return JSONResponse(body, status_code=status, headers=headers)
        return JSONResponse(self._answer(method, params))

    def _answer(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if method in {"chat.postMessage", "chat.update"}:
            ts = params.get("ts") or f"1763474568.{next(self._ts):06d}"
            return {"ok": True, "channel": self.channel_id(params["channel"]), "ts": ts}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": f"1763474999.{next(self._ts):06d}"}
        if method == "users.info":
            user = self.users.get(params.get("user", ""))
            return {"ok": True, "user": user} if user else {"ok": False, "error": "user_not_found"}
        if method == "users.lookupByEmail":
            for user in self.users.values():
                if user["profile"]["email"].lower() == params.get("email", "").lower():
                    return {"ok": True, "user": user}
            return {"ok": False, "error": "users_not_found"}
        if method == "conversations.open":
            return {"ok": True, "channel": {"id": "D" + params.get("users", "X")[1:]}}
        if method == "files.getUploadURLExternal":
            file_id = f"F{next(self._ts):08d}"
            return {"ok": True, "file_id": file_id, "upload_url": f"{self.base_url}/upload/{file_id}"}
        if method == "files.completeUploadExternal":
            files = params["files"] if isinstance(params["files"], list) else json.loads(params["files"])
            return {"ok": True, "files": [{"id": f["id"], "title": f.get("title")} for f in files]}
        if method == "apps.connections.open":
            return {"ok": True, "url": self.socket_url}
        if method == "auth.test":
            return {"ok": True, "user_id": BOT_USER, "bot_id": "BHERALD", "team_id": "T05K3H9RQ2L"}
        return {"ok": False, "error": "unknown_method"}

    async def _upload(self, request: Request) -> PlainTextResponse:
        data = await request.body()
        with self._lock:
            self.uploads[request.path_params["file_id"]] = data
            self._lock.notify_all()
        return PlainTextResponse("OK")

    async def _respond(self, request: Request) -> JSONResponse:
        body = json.loads(await request.body())
        with self._lock:
            self.responses.append({"name": request.path_params["name"], **body})
            self._lock.notify_all()
        return JSONResponse({"ok": True})

    def asgi(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/api/{method}", self._api, methods=["GET", "POST"]),
                Route("/upload/{file_id}", self._upload, methods=["POST"]),
                Route("/respond/{name}", self._respond, methods=["POST"]),
            ]
        )


@contextmanager
def fake_slack() -> Iterator[FakeSlack]:
    fake = FakeSlack()
    with serve(fake.asgi()) as url:
        fake.base_url = url
        yield fake
