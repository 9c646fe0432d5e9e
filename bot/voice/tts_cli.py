"""`herald tts ...`: synthesise to a file, manage voices, serve the engine over HTTP.

    herald tts synth "text" [--voice NAME|FILE] [--emotion urgent@0.7] [--duration 0.9x|12s] [--out FILE]
    herald tts voices list | add NAME FILE [--language zh|en] [--replace]
    herald tts serve [--host H] [--port P]

`synth` shows a progress bar for model loading, voice conditioning and each synthesised segment (rich), and says
when the fallback voice spoke. Bad input exits with status 2 through `bot.cli`'s HeraldError handling.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from bot.errors import InvalidInput
from bot.settings import Settings
from bot.voice.tts import LocalSpeech, SpeechOrder, build_engine, build_speech

Command = Callable[[argparse.Namespace, Settings], int]


def add_tts_commands(sub: argparse._SubParsersAction, commands: dict[str, Command]) -> None:
    """Register the `tts` group on the top-level parser (`bot.cli.build_parser`)."""
    tts = sub.add_parser("tts", help="speech: synthesise, manage voices, serve the engine")
    group = tts.add_subparsers(dest="tts_command", required=True)

    synth = group.add_parser("synth", help="synthesise text to an audio file")
    synth.add_argument("text")
    synth.add_argument("--voice", help="registered voice name or a reference clip file")
    synth.add_argument("--emotion", help="preset[@intensity], vector:v1,...,v8, audio:FILE or text:...")
    synth.add_argument("--duration", help="length ratio (0.9x) or target length (12s)")
    synth.add_argument("--language", choices=["zh", "en"])
    synth.add_argument("--seed", type=int)
    synth.add_argument("--timezone", help="listener's time zone for times read aloud (IANA name)")
    synth.add_argument("--format", choices=["wav", "mulaw-wav"], default="wav")
    synth.add_argument("--out", type=Path, default=Path("speech.wav"))

    voices = group.add_parser("voices", help="list or add voices")
    voice_actions = voices.add_subparsers(dest="voices_command", required=True)
    voice_actions.add_parser("list", help="list registered voices")
    add = voice_actions.add_parser("add", help="register a reference clip as a voice")
    add.add_argument("name")
    add.add_argument("file", type=Path)
    add.add_argument("--language", choices=["zh", "en"])
    add.add_argument("--replace", action="store_true", help="replace a voice of the same name")

    serve = group.add_parser("serve", help="serve the engine over HTTP (POST /v1/synthesize, GET /v1/voices)")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=8090)

    commands["tts"] = _tts


def _tts(args: argparse.Namespace, settings: Settings) -> int:
    return {"synth": _synth, "voices": _voices, "serve": _serve}[args.tts_command](args, settings)


def _synth(args: argparse.Namespace, settings: Settings) -> int:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    voice: str | Path | None = args.voice
    if voice and (Path(voice).suffix or "/" in voice):
        voice = Path(voice)
    order = SpeechOrder(
        text=args.text,
        voice=voice,
        emotion=args.emotion,
        duration=args.duration,
        language=args.language,
        seed=args.seed,
        timezone=args.timezone,
    )
    speech = build_speech(settings)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[note]}"),
        TimeElapsedColumn(),
        transient=False,
    ) as bar:
        tasks: dict[str, int] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total or None, note="")
            bar.update(tasks[stage], completed=done, total=total or None, note=f"{done}" if not total else "")

        audio = speech.synthesize(order, progress)
        for task in tasks.values():
            bar.update(task, total=bar.tasks[task].completed or 1, completed=bar.tasks[task].completed or 1)
    args.out.write_bytes(audio.to_mulaw_wav() if args.format == "mulaw-wav" else audio.to_wav())
    print(f"{args.out}: {audio.seconds:.2f} s at {audio.sample_rate} Hz")
    if audio.fallback:
        print(f"  spoken by the fallback voice ({audio.fallback_reason})")
    return 0


def _voices(args: argparse.Namespace, settings: Settings) -> int:
    speech = LocalSpeech(build_engine(settings))
    if args.voices_command == "add":
        voice = speech.add_voice(args.name, args.file, language=args.language, replace=args.replace)
        print(f"voice {voice['name']}: {voice['seconds']} s, sha256 {voice['sha256'][:12]}")
        return 0
    listed = speech.voices()
    for voice in listed:
        print(f"{voice['name']:<24} {voice['language'] or '-':<4} {voice['seconds']:>6.2f} s")
    if not listed:
        print("no voices registered; add one with: herald tts voices add NAME FILE")
    return 0


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from tts_engine.server import create_app

    if settings.tts_max_concurrency < 1 or settings.tts_queue_limit < 0:
        raise InvalidInput("HERALD_TTS_MAX_CONCURRENCY must be at least 1 and HERALD_TTS_QUEUE_LIMIT at least 0")
    engine = build_engine(settings)
    app = create_app(engine, max_concurrency=settings.tts_max_concurrency, queue_limit=settings.tts_queue_limit)
    host = args.host or settings.host
    print(f"Herald TTS on http://{host}:{args.port} (model: {engine.status().model})")
    sys.stdout.flush()
    uvicorn.run(app, host=host, port=args.port, log_level=settings.log_level.lower())
    return 0
