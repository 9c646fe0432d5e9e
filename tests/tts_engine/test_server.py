"""`herald tts serve` over real HTTP on loopback: audio, voices, health, and a 4xx for every bad request."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import soundfile

from tests.support.server import serve
from tests.tts_engine.test_voices import write_clip
from tts_engine.engine import Engine
from tts_engine.server import create_app
from tts_engine.voices import TensorCache, VoiceRegistry


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, Path]]:
    root = tmp_path_factory.mktemp("tts")
    engine = Engine(voices=VoiceRegistry(root / "voices"), cache=TensorCache(root / "cache"))
    engine.voices.add("oncall", write_clip(root / "clip.wav", 2.0), language="en")
    with (
        serve(create_app(engine, max_concurrency=1, queue_limit=4)) as url,
        httpx.Client(base_url=url, timeout=60) as c,
    ):
        yield c, root


def test_synthesize_wav(service) -> None:
    client, _ = service
    response = client.post("/v1/synthesize", json={"text": "INC-4217 is open.", "voice": "oncall", "emotion": "urgent"})
    assert response.status_code == 200 and response.headers["content-type"] == "audio/wav"
    assert response.headers["x-herald-fallback"] == "true"
    assert "no model folder" in response.headers["x-herald-fallback-reason"]
    info = soundfile.info(io.BytesIO(response.content))
    assert info.samplerate == 22050 and info.duration > 0.5


def test_synthesize_mulaw_with_duration_and_emotion_object(service) -> None:
    client, _ = service
    body = {"text": "Database latency is high.", "duration": "3s", "emotion": {"preset": "calm", "intensity": 0.5}}
    response = client.post("/v1/synthesize", json={**body, "format": "mulaw"})
    assert response.status_code == 200 and response.headers["content-type"] == "audio/basic"
    assert len(response.content) == 3 * 8000


def test_synthesize_with_an_uploaded_clip(service) -> None:
    client, root = service
    clip = base64.b64encode((root / "clip.wav").read_bytes()).decode()
    response = client.post("/v1/synthesize", json={"text": "你好。", "voice_audio": clip})
    assert response.status_code == 200


def test_stream_sends_one_chunk_per_segment(service) -> None:
    client, _ = service
    with client.stream("POST", "/v1/stream", json={"text": "One. Two. Three."}) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("audio/L16")
        data = b"".join(response.iter_bytes())
    assert len(data) % 2 == 0 and len(data) > 22050


def test_voices_and_health(service) -> None:
    client, _ = service
    assert [v["name"] for v in client.get("/v1/voices").json()["voices"]] == ["oncall"]
    health = client.get("/healthz").json()
    assert health["model"] == "absent" and health["fallback"] == "espeak-ng"
    assert health["queue"] == {"running": 0, "waiting": 0, "limit": 4}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"text": ""}, "text is empty"),
        ({"text": "x" * 2001}, "limit"),
        ({"text": "hi", "voice": "nobody"}, "unknown voice"),
        ({"text": "hi", "voice": "/etc/passwd"}, "unknown voice"),
        ({"text": "hi", "voice_audio": "%%%"}, "base64"),
        ({"text": "hi", "voice_audio": _b64(b"garbage")}, "cannot be read"),
        ({"text": "hi", "voice": "oncall", "voice_audio": _b64(b"x")}, "either"),
        ({"text": "hi", "duration": "5x"}, "between"),
        ({"text": "hi", "duration": "soon"}, "duration"),
        ({"text": "hi", "emotion": "furious"}, "unknown emotion preset"),
        ({"text": "hi", "emotion": {"vector": [1, 2]}}, "8 values"),
        ({"text": "hi", "emotion": {"preset": "calm", "intensity": 3}}, "intensity"),
        ({"text": "hi", "emotion": "audio:/etc/passwd"}, "base64"),
        ({"text": "hi", "language": "fr"}, "language"),
        ({"text": "hi", "seed": -4}, "seed"),
        ({"text": "hi", "timezone": "Nowhere/Land"}, "time zone"),
        ({"text": "hi", "colour": "blue"}, "colour"),
        ({"text": "Short.", "duration": "60s"}, "between"),
    ],
)
def test_bad_requests_get_422_with_the_reason(service, body: dict, reason: str) -> None:
    client, _ = service
    response = client.post("/v1/synthesize", json=body)
    assert response.status_code == 422, response.text
    assert reason in response.json()["reason"]


def test_too_short_clip_upload(service, tmp_path: Path) -> None:
    client, _ = service
    short = write_clip(tmp_path / "short.wav", 0.3)
    response = client.post("/v1/synthesize", json={"text": "hi", "voice_audio": _b64(short.read_bytes())})
    assert response.status_code == 422 and "at least" in response.json()["reason"]


def test_malformed_json(service) -> None:
    client, _ = service
    response = client.post("/v1/synthesize", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422
