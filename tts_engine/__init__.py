"""Herald's bundled IndexTTS-2 speech engine: our own inference code over the official model files.

The public API (synthesis requests and results) is listed in ``__all__``; everything else is internal.
"""

from tts_engine.api import EMOTION_PRESETS, EMOTIONS, Audio, Duration, Emotion, SynthesisRequest, stream, synthesize

__all__: list[str] = [
    "EMOTIONS",
    "EMOTION_PRESETS",
    "Audio",
    "Duration",
    "Emotion",
    "SynthesisRequest",
    "stream",
    "synthesize",
]
