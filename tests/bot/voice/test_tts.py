"""Herald's speech adapter: in-process, remote over HTTP (a real `herald tts serve` app on loopback), and the CLI."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import soundfile

from bot.cli import main
from bot.errors import InvalidInput, NotFound
from bot.settings import Settings
from bot.voice.tts import LocalSpeech, RemoteSpeech, SpeechOrder, build_engine, build_speech
from tests.support.server import free_port, serve
from tests.tts_engine.test_voices import write_clip
from tts_engine.server import create_app


def _settings(tmp_path: Path, **overrides) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path, **overrides)


def test_local_speech_uses_the_fallback_voice(tmp_path: Path) -> None:
    speech = build_speech(_settings(tmp_path))
    assert isinstance(speech, LocalSpeech)
    audio = speech.synthesize(SpeechOrder(text="INC-4217: p99 is 600ms.", emotion="urgent", duration="0.9x"))
    assert audio.fallback and audio.seconds > 1.0
    assert speech.status()["model"] == "absent"


@pytest.mark.parametrize(
    ("order", "error"),
    [
        (SpeechOrder(text=""), InvalidInput),
        (SpeechOrder(text="hi", emotion="furious"), InvalidInput),
        (SpeechOrder(text="hi", duration="9x"), InvalidInput),
        (SpeechOrder(text="hi", voice="nobody"), NotFound),
    ],
)
def test_bad_orders_are_herald_errors(tmp_path: Path, order: SpeechOrder, error: type) -> None:
    with pytest.raises(error):
        build_speech(_settings(tmp_path)).synthesize(order)


def test_remote_speech_over_http(tmp_path: Path) -> None:
    server_engine = build_engine(_settings(tmp_path / "server"))
    server_engine.voices.add("oncall", write_clip(tmp_path / "clip.wav", 2.0))
    with serve(create_app(server_engine)) as url:
        speech = build_speech(_settings(tmp_path / "bot", tts_url=url))
        assert isinstance(speech, RemoteSpeech)
        audio = speech.synthesize(SpeechOrder(text="Incident #305 resolved.", voice="oncall", duration="4s"))
        assert audio.fallback and "no model folder" in audio.fallback_reason  # the server's own fallback
        assert len(audio.samples) == 4 * 22050
        assert [v["name"] for v in speech.voices()] == ["oncall"]
        assert speech.status()["remote"]["model"] == "absent"
        with pytest.raises(NotFound, match="unknown voice"):
            speech.synthesize(SpeechOrder(text="hi", voice="nobody"))
        uploaded = speech.synthesize(SpeechOrder(text="hi", voice=tmp_path / "clip.wav"))
        assert uploaded.seconds > 0.2


def test_remote_engine_down_falls_back_locally(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    speech = RemoteSpeech(url, LocalSpeech(build_engine(_settings(tmp_path))), timeout=2)
    audio = speech.synthesize(SpeechOrder(text="Wake up, the site is down."))
    assert audio.fallback and audio.fallback_reason.startswith("remote engine unreachable")
    assert "unreachable" in speech.status()["remote"]


def test_remote_5xx_falls_back_locally(tmp_path: Path) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(503, json={"reason": "overloaded"}))
    client = httpx.Client(base_url="http://tts", transport=transport)
    speech = RemoteSpeech("http://tts", LocalSpeech(build_engine(_settings(tmp_path))), timeout=2, client=client)
    audio = speech.synthesize(SpeechOrder(text="Hello."))
    assert audio.fallback and "503" in audio.fallback_reason


def test_cli_synth_voices_and_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = _settings(tmp_path)
    out = tmp_path / "out.wav"
    assert main(["tts", "synth", "INC-4217 is open.", "--duration", "3s", "--out", str(out)], settings) == 0
    assert soundfile.info(str(out)).duration == pytest.approx(3.0, abs=1e-3)
    assert "fallback voice" in capsys.readouterr().out
    clip = write_clip(tmp_path / "alice.wav", 2.0)
    assert main(["tts", "voices", "add", "alice", str(clip), "--language", "zh"], settings) == 0
    assert main(["tts", "voices", "list"], settings) == 0
    assert "alice" in capsys.readouterr().out
    assert main(["tts", "synth", "hi", "--voice", "alice", "--format", "mulaw-wav", "--out", str(out)], settings) == 0
    assert soundfile.info(str(out)).samplerate == 8000
    assert main(["tts", "synth", "hi", "--duration", "9x"], settings) == 2
    assert main(["tts", "synth", "hi", "--voice", "nobody"], settings) == 2
    assert main(["tts", "voices", "add", "Bad Name", str(clip)], settings) == 2
    assert "voice name" in capsys.readouterr().err
