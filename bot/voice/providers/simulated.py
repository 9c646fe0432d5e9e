"""A phone provider that needs no account (`HERALD_TELEPHONY=simulated`): it plays a call's whole lifecycle over
real HTTP against Herald's own callback routes, signed exactly as Twilio signs them.

`make run`, `herald demo` and the tests use it, so the code path from "a page is due" to "the callee pressed 1" is
the production one: status callbacks (initiated, ringing, answered, then busy / no-answer / failed / completed),
the answer webhook (with `AnsweredBy`, as machine detection reports it), each `<Play>` URL fetched and its audio
kept, `<Gather>` answered with the scripted key presses, `<Redirect>` followed, `<Hangup>` obeyed.

What each simulated callee does is a script, per number or as a default (`HERALD_TELEPHONY_SIMULATED_SCRIPT`,
e.g. `listen;+15550100=press:1;+15550101=busy`):

    listen        a person answers, listens, presses nothing
    press:1,3     a person answers and presses 1 at the first prompt, 3 at the next ...
    machine       voicemail answers (AnsweredBy=machine_end_beep)
    busy | no-answer | failed   the call never connects
"""

from __future__ import annotations

import itertools
import logging
import secrets
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx

from bot.voice.providers.base import CallRequest, Capabilities, PlacedCall, sign, signature_matches

log = logging.getLogger(__name__)

ACCOUNT_SID = "ACsimulated0000000000000000000000"
FROM_NUMBER = "+15550199"
NEVER_CONNECTS = ("busy", "no-answer", "failed")
MAX_STEPS = 20


@dataclass(frozen=True)
class Script:
    """One callee's behaviour (see the module docstring)."""

    outcome: str = "listen"  # listen | press | machine | busy | no-answer | failed
    keys: tuple[str, ...] = ()

    @classmethod
    def parse(cls, spec: str) -> Script:
        spec = spec.strip() or "listen"
        kind, _, rest = spec.partition(":")
        if kind == "press":
            keys = tuple(k.strip() for k in rest.split(",") if k.strip())
            if not keys or any(len(k) != 1 or k not in "0123456789*#" for k in keys):
                raise ValueError(f"simulated script {spec!r}: press:<digit>[,<digit>...]")
            return cls("press", keys)
        if kind in ("listen", "answer", "machine", *NEVER_CONNECTS) and not rest:
            return cls("listen" if kind == "answer" else kind)
        raise ValueError(f"unknown simulated callee script {spec!r}")


def parse_scripts(spec: str) -> tuple[Script, dict[str, Script]]:
    """`default;+number=script;...` → the default script and the per-number ones."""
    default, by_number = Script(), {}
    for part in (p.strip() for p in spec.split(";") if p.strip()):
        number, sep, script = part.partition("=")
        if sep:
            by_number[number.strip()] = Script.parse(script)
        else:
            default = Script.parse(part)
    return default, by_number


@dataclass
class SimulatedCall:
    """What happened on one simulated call, for tests, the demo and the log."""

    sid: str
    to: str
    script: Script
    request: CallRequest
    events: list[str] = field(default_factory=list)  # status callbacks and webhook steps, in order
    said: list[str] = field(default_factory=list)  # <Say> texts
    audio: list[bytes] = field(default_factory=list)  # every <Play> fetched
    error: str | None = None
    started: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)


class SimulatedProvider:
    name = "simulated"
    capabilities = Capabilities(machine_detection=True, play_audio=True, say=True)

    def __init__(
        self,
        *,
        secret: str,
        scripts: str = "listen",
        client: httpx.Client | None = None,
        background: bool = True,
        on_finished: Callable[[SimulatedCall], None] | None = None,
    ) -> None:
        self._secret = secret
        self.default_script, self.scripts = parse_scripts(scripts)
        self._client = client or httpx.Client(timeout=30)
        self.background = background
        self._on_finished = on_finished
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.calls: list[SimulatedCall] = []

    def script_for(self, number: str) -> Script:
        return self.scripts.get(number, self.default_script)

    def place_call(self, request: CallRequest) -> PlacedCall:
        sid = f"SIM{next(self._ids):04d}{secrets.token_hex(13)}"
        call = SimulatedCall(sid=sid, to=request.to, script=self.script_for(request.to), request=request)
        with self._lock:
            self.calls.append(call)
        if self.background:
            call.started.set()
            threading.Thread(target=self.play, args=(call,), name=f"sim-call-{sid[:8]}", daemon=True).start()
        return PlacedCall(sid=sid)

    def verify(self, url: str, params: Iterable[tuple[str, str]], signature: str | None) -> bool:
        return signature_matches(self._secret, url, params, signature)

    def wait(self, timeout: float = 30.0) -> list[SimulatedCall]:
        """Block until every call started so far has finished; returns them."""
        with self._lock:
            calls = list(self.calls)
        for call in (c for c in calls if c.started.is_set()):
            if not call.done.wait(timeout):
                raise TimeoutError(f"simulated call {call.sid} to {call.to} did not finish in {timeout:g} s")
        return calls

    # --- the lifecycle -------------------------------------------------------------------------------------------

    def play(self, call: SimulatedCall) -> None:
        """Play the call's lifecycle now, in this thread (placed calls start here unless `background` is off)."""
        call.started.set()
        request = call.request
        sequence = itertools.count()
        try:
            self._status(call, request, "initiated", next(sequence))
            self._status(call, request, "ringing", next(sequence))
            if call.script.outcome in NEVER_CONNECTS:
                self._status(call, request, call.script.outcome, next(sequence))
                return
            self._status(call, request, "in-progress", next(sequence))
            answered_by = "machine_end_beep" if call.script.outcome == "machine" else "human"
            twiml = self._post(call, request.answer_url, {"CallStatus": "in-progress", "AnsweredBy": answered_by})
            call.events.append(f"answered:{answered_by}")
            self._follow(call, twiml, iter(call.script.keys))
            self._status(call, request, "completed", next(sequence))
        except Exception as exc:  # a simulated call never takes Herald down; the failure is kept for the test
            call.error = f"{type(exc).__name__}: {exc}"
            log.warning("simulated call %s to %s broke: %s", call.sid, call.to, call.error)
        finally:
            call.done.set()
            if self._on_finished is not None:
                self._on_finished(call)

    def _follow(self, call: SimulatedCall, twiml: str, keys: Iterable[str]) -> None:
        keys = iter(keys)
        for _ in range(MAX_STEPS):
            nxt = self._run(call, ET.fromstring(twiml), keys)
            if nxt is None:
                return
            twiml = nxt
        raise RuntimeError(f"more than {MAX_STEPS} TwiML documents in one call")

    def _run(self, call: SimulatedCall, response: ET.Element, keys: Iterable[str]) -> str | None:
        """Perform one TwiML document; returns the next document when one is fetched, None on hang-up/end."""
        for verb in response:
            if verb.tag == "Gather":
                self._perform(call, list(verb))
                digit = next(iter(keys), None)
                if digit is not None:
                    call.events.append(f"pressed:{digit}")
                    return self._post(call, _absolute(verb.get("action", ""), call), {"Digits": digit})
                call.events.append("gather:timeout")
            elif verb.tag == "Redirect":
                return self._post(call, _absolute((verb.text or "").strip(), call), {})
            elif verb.tag == "Hangup":
                call.events.append("hangup")
                return None
            else:
                self._perform(call, [verb])
        return None

    def _perform(self, call: SimulatedCall, verbs: list[ET.Element]) -> None:
        for verb in verbs:
            if verb.tag == "Play":
                response = self._client.get((verb.text or "").strip())
                response.raise_for_status()
                call.audio.append(response.content)
                call.events.append("play")
            elif verb.tag == "Say":
                call.said.append((verb.text or "").strip())
                call.events.append("say")
            elif verb.tag == "Pause":
                call.events.append("pause")

    def _status(self, call: SimulatedCall, request: CallRequest, status: str, sequence: int) -> None:
        extra = {"CallbackSource": "call-progress-events", "SequenceNumber": str(sequence)}
        extra["Timestamp"] = format_datetime(datetime.now(UTC))
        if status in ("busy", "no-answer", "failed", "completed"):
            extra["CallDuration"] = "0" if status != "completed" else "20"
        self._post(call, request.status_url, {"CallStatus": status, **extra})
        call.events.append(f"status:{status}")

    def _post(self, call: SimulatedCall, url: str, fields: Mapping[str, str]) -> str:
        params = {
            "AccountSid": ACCOUNT_SID,
            "ApiVersion": "2010-04-01",
            "CallSid": call.sid,
            "Direction": "outbound-api",
            "From": FROM_NUMBER,
            "To": call.to,
            **fields,
        }
        signature = sign(self._secret, url, params.items())
        response = self._client.post(url, data=params, headers={"X-Twilio-Signature": signature})
        response.raise_for_status()
        return response.text


def _absolute(url: str, call: SimulatedCall) -> str:
    if url.startswith("http"):
        return url
    raise ValueError(f"call {call.sid}: TwiML URL {url!r} is not absolute (Herald always gives absolute URLs)")
