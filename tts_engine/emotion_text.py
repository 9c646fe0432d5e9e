"""Emotion from free text: IndexTTS-2's Qwen emotion model turns a description into the 8 emotion weights.

The model folder may hold ``qwen0.6bemo4-merge/`` (config key ``qwen_emo_path``), a Qwen3 causal LM fine-tuned
to answer the system prompt ``文本情感分类`` ("text emotion classification") with a JSON object of scores under
Chinese emotion names, e.g. ``{"高兴": 0.0, "愤怒": 0.9, ...}``. We ask it the way the reference
(``QwenEmotion`` in ``indextts/infer_v2.py``) does — the tokenizer's chat template with the system prompt and the
text as the user turn, thinking disabled — and read its answer the same way:

* the part after the last ``</think>``, parsed as JSON; when that fails, every ``name: number`` pair in it;
* an answer that is a single emotion name (or an object naming one under ``emotion``/``label``/``情感``/...,
  with no scores) means that emotion at 1.0; names are the model's Chinese ones or our English ones;
* the model cannot tell sad (悲伤) from melancholic (低落), so when the text itself says melancholic/depressed/
  gloomy/低落 the two scores are swapped;
* scores are clamped to [0, 1.2], missing ones are 0, and an answer with no positive score means calm 1.0.

Two deliberate differences: decoding is greedy (the reference samples with the folder's generation settings,
so the same text could get another emotion on the next page) and the answer is capped at
:data:`MAX_ANSWER_TOKENS` (eight scores need far fewer; the reference allows 32768).

The LM is loaded once, lazily, from local files only (safetensors, no remote code, no download); torch and
transformers are imported only then, so the parser works without them.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tts_engine.api import EMOTIONS
from tts_engine.errors import InvalidRequest, ModelFolderError

if TYPE_CHECKING:
    import torch

    from tts_engine.config import ModelConfig

__all__ = ["CONFIG_KEY", "DEFAULT_FOLDER", "EmotionAnswerError", "TextEmotion", "parse_answer"]

CONFIG_KEY = "qwen_emo_path"
DEFAULT_FOLDER = "qwen0.6bemo4-merge"
SYSTEM_PROMPT = "文本情感分类"
MAX_ANSWER_TOKENS = 256

# The model's emotion names, in the order of EMOTIONS (happy, angry, sad, afraid, disgusted, melancholic,
# surprised, calm).
LABELS = ("高兴", "愤怒", "悲伤", "恐惧", "反感", "低落", "惊讶", "自然")
# Keys under which an answer may name one emotion instead of scoring all eight.
_LABEL_KEYS = ("emotion", "emotion_label", "label", "情感", "情绪")
# Words in the text that turn the model's "sad" into "melancholic" (it never answers 低落 on its own).
MELANCHOLIC_WORDS = frozenset({"低落", "melancholy", "melancholic", "depression", "depressed", "gloomy"})
MIN_SCORE, MAX_SCORE = 0.0, 1.2
_THINK_END = "</think>"
# ``name: number`` pairs in an answer that is not JSON (quotes around the name optional).
_PAIR = re.compile(r'([^\s":.,{}]+?)"?\s*:\s*(\d+(?:\.\d+)?)')


class EmotionAnswerError(ValueError):
    """The emotion model's answer holds a score that is not a number (a model fault: the engine's fallback voice
    then speaks, and says why)."""


def parse_answer(answer: str, text: str) -> tuple[float, ...]:
    """The 8 emotion weights (EMOTIONS order) from the model's ``answer`` about ``text`` (rules: module doc)."""
    scores = _scores(_decode(answer.rpartition(_THINK_END)[2].strip()))
    sad, melancholic = LABELS.index("悲伤"), LABELS.index("低落")
    if any(word in text.lower() for word in MELANCHOLIC_WORDS):
        scores[sad], scores[melancholic] = scores.get(melancholic, 0.0), scores.get(sad, 0.0)
    weights = [min(MAX_SCORE, max(MIN_SCORE, scores.get(i, 0.0))) for i in range(len(LABELS))]
    if all(w <= 0.0 for w in weights):
        weights[EMOTIONS.index("calm")] = 1.0
    return tuple(weights)


def _decode(content: str) -> Any:
    """JSON when it is; otherwise the ``name: number`` pairs found in it."""
    try:
        return json.loads(content)
    except json.JSONDecodeError:
        return {m.group(1): float(m.group(2)) for m in _PAIR.finditer(content)}


def _label(value: object) -> int | None:
    """The index of the emotion a name denotes (Chinese as the model writes it, or English), else None."""
    if not isinstance(value, str):
        return None
    name = value.strip()
    if name in LABELS:
        return LABELS.index(name)
    return EMOTIONS.index(name.lower()) if name.lower() in EMOTIONS else None


def _scores(content: Any) -> dict[int, float]:
    """Emotion index -> raw score of a decoded answer (a mapping, a single name, or anything else: nothing)."""
    named = _label(content)
    if named is not None:
        return {named: 1.0}
    if not isinstance(content, Mapping):
        return {}
    scores: dict[int, float] = {}
    for key, value in content.items():
        index = _label(key)
        if index is None:
            continue
        if (meant := _label(value)) is not None:  # {"高兴": "愤怒"}: the value names the emotion meant
            scores[meant] = 1.0
        else:
            scores[index] = _number(value, key)
    if not scores:
        named = next((i for k in _LABEL_KEYS if (i := _label(content.get(k))) is not None), None)
        if named is not None:
            scores[named] = 1.0
    return scores


def _number(value: object, key: str) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise EmotionAnswerError(f"the emotion model scored {key!r} as {value!r}, not a number") from None
    if not math.isfinite(number):
        raise EmotionAnswerError(f"the emotion model scored {key!r} as {value!r}")
    return number


@dataclass
class _Loaded:
    tokenizer: Any  # transformers PreTrainedTokenizerBase
    model: Any  # transformers PreTrainedModel (a causal LM)


class TextEmotion:
    """The Qwen emotion model of one model folder, loaded on first use (thread-safe) and kept."""

    def __init__(self, folder: Path, *, device: torch.device | str = "cpu") -> None:
        self.folder = Path(folder)
        self.device = device
        self._loaded: _Loaded | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_model_config(cls, cfg: ModelConfig, *, device: torch.device | str = "cpu") -> TextEmotion:
        """The folder named by ``qwen_emo_path`` in config.yaml (the released name when the key is absent)."""
        return cls(cfg.file(str(cfg.raw.get(CONFIG_KEY, DEFAULT_FOLDER))), device=device)

    @property
    def available(self) -> bool:
        return self.folder.is_dir()

    def __call__(self, text: str) -> tuple[float, ...]:
        """8 emotion weights (EMOTIONS order, each 0..1.2) for ``text``."""
        return parse_answer(self.answer(text), text)

    def answer(self, text: str) -> str:
        """The model's raw answer (thinking included, if any) to ``text``, greedy."""
        import torch

        loaded = self._load()
        messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": text}]
        prompt = loaded.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True, enable_thinking=False
        )
        inputs = loaded.tokenizer([prompt], return_tensors="pt").to(loaded.model.device)
        with torch.inference_mode():
            generated = loaded.model.generate(
                input_ids=inputs["input_ids"],
                attention_mask=inputs["attention_mask"],
                do_sample=False,
                max_new_tokens=MAX_ANSWER_TOKENS,
                pad_token_id=loaded.tokenizer.eos_token_id,
            )
        # </think> is an ordinary added token, kept by skip_special_tokens, so parse_answer can cut after it.
        return loaded.tokenizer.decode(generated[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)

    def _load(self) -> _Loaded:
        with self._lock:
            if self._loaded is None:
                if not self.available:
                    raise InvalidRequest(
                        f"emotion from text needs the Qwen emotion model in {self.folder} (config key "
                        f"{CONFIG_KEY}); use a preset, a vector or a reference clip instead"
                    )
                self._loaded = self._read()
            return self._loaded

    def _read(self) -> _Loaded:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

        device = torch.device(self.device)
        try:
            tokenizer = AutoTokenizer.from_pretrained(self.folder, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(
                self.folder,
                local_files_only=True,
                use_safetensors=True,
                trust_remote_code=False,
                # The reference runs it in float16; on a CPU float32 is the supported choice.
                torch_dtype=torch.float16 if device.type == "cuda" else torch.float32,
            )
        except (OSError, ValueError) as exc:
            raise ModelFolderError(f"cannot load the Qwen emotion model: {exc}", file=self.folder) from exc
        # Greedy decoding only: drop the folder's sampling settings so that generate() does not warn about them.
        model.generation_config = GenerationConfig(
            bos_token_id=model.generation_config.bos_token_id, eos_token_id=model.generation_config.eos_token_id
        )
        return _Loaded(tokenizer=tokenizer, model=model.to(device).eval())
