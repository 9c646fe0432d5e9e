"""Twilio Programmable Voice over its REST API (httpx), and verification of Twilio's signed callbacks.

A call is `POST /2010-04-01/Accounts/{AccountSid}/Calls.json` (form-encoded, HTTP Basic `AccountSid:AuthToken`)
with the answer URL, the status-callback URL and its events, answering-machine detection, a ring timeout and a time
limit; Twilio answers 201 with the Call resource (`sid`, `status: queued`). 4xx means the request itself is wrong
(invalid or unverified number, blocked country): `ProviderRefused`, no retry. 429, 5xx and network errors are
`ProviderUnavailable`: the outbox retries. Any Twilio-compatible API (SignalWire, a test double) works through
`HERALD_TWILIO_API_URL`; the httpx client is injected so tests point it at a loopback fake.
"""

from __future__ import annotations

from collections.abc import Iterable

import httpx

from bot.voice.providers.base import (
    CallRequest,
    Capabilities,
    PlacedCall,
    ProviderRefused,
    ProviderUnavailable,
    signature_matches,
)

STATUS_EVENTS = ("initiated", "ringing", "answered", "completed")


class TwilioProvider:
    name = "twilio"
    capabilities = Capabilities(machine_detection=True, play_audio=True, say=True)

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        from_number: str,
        api_url: str = "https://api.twilio.com",
        client: httpx.Client | None = None,
    ) -> None:
        if not (account_sid and auth_token and from_number):
            raise ValueError(
                "HERALD_TELEPHONY=twilio needs HERALD_TWILIO_ACCOUNT_SID, HERALD_TWILIO_AUTH_TOKEN and "
                "HERALD_TWILIO_FROM_NUMBER"
            )
        self._sid = account_sid
        self._token = auth_token
        self._from = from_number
        self._client = client or httpx.Client(base_url=api_url.rstrip("/"), timeout=10)

    def place_call(self, request: CallRequest) -> PlacedCall:
        form: dict[str, str | list[str]] = {
            "To": request.to,
            "From": self._from,
            "Url": request.answer_url,
            "Method": "POST",
            "StatusCallback": request.status_url,
            "StatusCallbackMethod": "POST",
            "StatusCallbackEvent": list(STATUS_EVENTS),
            "Timeout": str(request.ring_seconds),
            "TimeLimit": str(request.time_limit_seconds),
        }
        if request.machine_detection:
            form["MachineDetection"] = "Enable"
        try:
            response = self._client.post(
                f"/2010-04-01/Accounts/{self._sid}/Calls.json", data=form, auth=(self._sid, self._token)
            )
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(f"Twilio unreachable: {type(exc).__name__}: {exc}") from None
        if response.status_code in (200, 201):
            body = response.json()
            return PlacedCall(sid=str(body["sid"]), status=str(body.get("status") or "queued"))
        reason = f"Twilio answered {response.status_code}: {_message(response)}"
        if response.status_code == 429 or response.status_code >= 500:
            raise ProviderUnavailable(reason)
        raise ProviderRefused(reason)

    def verify(self, url: str, params: Iterable[tuple[str, str]], signature: str | None) -> bool:
        return signature_matches(self._token, url, params, signature)


def _message(response: httpx.Response) -> str:
    """Twilio's error body is JSON with `message` and `code`; fall back to the raw text."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    code = f" (error {body['code']})" if body.get("code") else ""
    return f"{body.get('message') or response.text[:300]}{code}"
