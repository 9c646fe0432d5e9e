"""The phone provider's side of Herald: call webhooks answering in TwiML, status callbacks, and the audio URLs.

Every webhook is verified before anything else: the provider's signature (`X-Twilio-Signature`) over the public URL
it called and every form parameter it sent, then the URL's expiry. Unsigned, forged and stale requests get a 403
with a JSON reason and change nothing. The URL is rebuilt from `HERALD_PUBLIC_URL` (what the provider was given),
not from the Host header a proxy may have rewritten.

TwiML is built with ElementTree, so incident titles are escaped by construction. `<Say>` carries the language
(`en-US`, `cmn-CN`), used when a clip is missing: the provider then reads the same text itself.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from bot.errors import Forbidden, InvalidInput, NotFound
from bot.http import RuntimeDep
from bot.voice.callouts import Prompt, Utterance
from bot.voice.models import VoiceClip
from bot.voice.presynth import cached
from bot.voice.wiring import Voice

router = APIRouter(prefix="/voice", tags=["voice"], include_in_schema=False)

GATHER_TIMEOUT_SECONDS = 8
SAY = {"en": {"language": "en-US", "voice": "Polly.Joanna"}, "zh": {"language": "cmn-CN", "voice": "Polly.Zhiyu"}}
TWIML = "application/xml"


def get_voice(runtime: RuntimeDep) -> Voice:
    return runtime.extras["voice"]


VoiceDep = Annotated[Voice, Depends(get_voice)]


async def _verified_form(request: Request, voice: Voice) -> dict[str, str]:
    """The callback's form parameters, once its signature and expiry check out."""
    form = await request.form()
    items = [(name, str(value)) for name, value in form.multi_items()]
    url = voice.links.base + request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if not voice.callouts.provider.verify(url, items, request.headers.get("x-twilio-signature")):
        raise Forbidden("callback signature missing or invalid")
    expires = request.query_params.get("exp", "")
    if not expires.isdigit():
        raise Forbidden("callback URL has no expiry")
    voice.links.check_fresh(int(expires))
    return dict(items)


@router.post("/calls/{token}/answer")
async def answer(token: str, request: Request, voice: VoiceDep) -> Response:
    form = await _verified_form(request, voice)
    prompt = await run_in_threadpool(voice.callouts.answer, token, form.get("AnsweredBy"))
    return _twiml(voice, token, prompt, request)


@router.post("/calls/{token}/keys")
async def keys(token: str, request: Request, voice: VoiceDep) -> Response:
    form = await _verified_form(request, voice)
    prompt = await run_in_threadpool(voice.callouts.keys, token, form.get("Digits", ""))
    return _twiml(voice, token, prompt, request)


@router.post("/calls/{token}/status")
async def status(token: str, request: Request, voice: VoiceDep) -> Response:
    form = await _verified_form(request, voice)
    call_status = form.get("CallStatus", "")
    if not call_status:
        raise InvalidInput("CallStatus is missing")
    await run_in_threadpool(voice.callouts.status, token, call_status, form.get("CallSid"), form.get("AnsweredBy"))
    return Response(status_code=204)


@router.get("/audio/{key}.wav")
def audio(key: str, exp: int, sig: str, runtime: RuntimeDep, voice: VoiceDep, format: str = "phone") -> Response:
    voice.links.check_audio(key, exp, sig)
    with runtime.sessions() as session:
        clip: VoiceClip | None = cached(session, key)
        if clip is None:
            raise NotFound("no such audio")
        body = clip.wav if format == "wav" else clip.phone_wav
    return Response(body, media_type="audio/wav", headers={"Cache-Control": "private, max-age=300"})


def _twiml(voice: Voice, token: str, prompt: Prompt, request: Request) -> Response:
    response = ET.Element("Response")
    if prompt.gather:
        action = voice.links.base + f"/voice/calls/{token}/keys?exp={request.query_params['exp']}"
        gather = ET.SubElement(
            response,
            "Gather",
            input="dtmf",
            numDigits="1",
            timeout=str(GATHER_TIMEOUT_SECONDS),
            action=action,
            method="POST",
        )
        _speak(voice, gather, prompt.say)
        _speak(voice, response, prompt.after)
    else:
        _speak(voice, response, prompt.say)
    ET.SubElement(response, "Hangup")
    body = b'<?xml version="1.0" encoding="UTF-8"?>' + ET.tostring(response, encoding="utf-8", xml_declaration=False)
    return Response(body, media_type=TWIML)


def _speak(voice: Voice, parent: ET.Element, utterances: tuple[Utterance, ...]) -> None:
    for utterance in utterances:
        if utterance.clip_key:
            ET.SubElement(parent, "Play").text = voice.links.audio_url(utterance.clip_key)
        else:
            ET.SubElement(parent, "Say", **SAY.get(utterance.language, SAY["en"])).text = utterance.text
