"""Emotion from free text: the answer parser on hand-written answers, and loading + generation end to end on a
tiny Qwen3 built here whose greedy answer is set by its weights."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

import pytest

from tts_engine.api import EMOTIONS
from tts_engine.config import ModelConfig
from tts_engine.emotion_text import (
    CONFIG_KEY,
    DEFAULT_FOLDER,
    MAX_SCORE,
    EmotionAnswerError,
    TextEmotion,
    parse_answer,
)
from tts_engine.errors import InvalidRequest


def _weights(**named: float) -> tuple[float, ...]:
    return tuple(named.get(name, 0.0) for name in EMOTIONS)


ALL_EIGHT = '{"高兴": 0.1, "愤怒": 0.8, "悲伤": 0.0, "恐惧": 0.3, "反感": 0.0, "低落": 0.0, "惊讶": 0.5, "自然": 0.2}'


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (ALL_EIGHT, _weights(happy=0.1, angry=0.8, afraid=0.3, surprised=0.5, calm=0.2)),
        # whatever precedes the last </think> is the model's thinking, not its answer
        ('<think>\n愤怒: 1.0\n</think>\n\n{"惊讶": 0.7}', _weights(surprised=0.7)),
        # not JSON: the name: number pairs are read
        ("高兴: 0.4, 恐惧:0.6 and {反感: 0.2", _weights(happy=0.4, afraid=0.6, disgusted=0.2)),
        ('{"高兴": 0.4, "愤怒": 0.2,', _weights(happy=0.4, angry=0.2)),
        # a single emotion named, in Chinese or English, alone or under a label key
        ('"愤怒"', _weights(angry=1.0)),
        ('{"emotion": "Surprised"}', _weights(surprised=1.0)),
        ('{"情感": "反感"}', _weights(disgusted=1.0)),
        ('{"高兴": "悲伤"}', _weights(sad=1.0)),
        # English keys are the same emotions; unknown keys are ignored
        ('{"happy": 0.3, "bored": 0.9}', _weights(happy=0.3)),
        # scores are clamped to [0, 1.2]
        ('{"愤怒": 3.5, "高兴": -1}', _weights(angry=MAX_SCORE)),
        # nothing positive (or nothing readable) means calm
        ('{"高兴": 0.0}', _weights(calm=1.0)),
        ("I am not sure.", _weights(calm=1.0)),
        ("[0.1, 0.2]", _weights(calm=1.0)),
    ],
)
def test_answers_are_read_into_the_eight_emotions(answer: str, expected: tuple[float, ...]) -> None:
    assert parse_answer(answer, "the database is down") == pytest.approx(expected)


@pytest.mark.parametrize("text", ["Everyone feels gloomy after the outage", "大家情绪低落", "DEPRESSED"])
def test_melancholic_words_turn_sad_into_melancholic(text: str) -> None:
    assert parse_answer('{"悲伤": 0.9, "低落": 0.1}', text) == pytest.approx(_weights(sad=0.1, melancholic=0.9))
    assert parse_answer('{"悲伤": 0.9, "低落": 0.1}', "plain news") == pytest.approx(_weights(sad=0.9, melancholic=0.1))


def test_a_score_that_is_not_a_number_is_an_error() -> None:
    with pytest.raises(EmotionAnswerError, match="愤怒"):
        parse_answer('{"愤怒": "very"}', "text")


def test_an_absent_folder_is_a_clear_refusal(tmp_path: Path) -> None:
    emotion = TextEmotion(tmp_path / DEFAULT_FOLDER)
    assert not emotion.available
    with pytest.raises(InvalidRequest, match=rf"Qwen emotion model in .*{DEFAULT_FOLDER}.*{CONFIG_KEY}"):
        emotion("furious")


def test_the_folder_comes_from_the_config(model_config: ModelConfig) -> None:
    assert model_config.raw[CONFIG_KEY].rstrip("/") == DEFAULT_FOLDER
    assert TextEmotion.from_model_config(model_config).folder == model_config.model_dir / DEFAULT_FOLDER
    renamed = ModelConfig(model_dir=model_config.model_dir, raw={CONFIG_KEY: "emo-lm"})
    assert TextEmotion.from_model_config(renamed).folder == model_config.model_dir / "emo-lm"


# -- a tiny Qwen3 that answers what a test tells it to ------------------------------------------------------

SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>")
# Qwen3's chat template in miniature: system and user turns, then the assistant turn with an empty think block
# when thinking is disabled (what the reference asks for).
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and enable_thinking is false %}<think>\n\n</think>\n\n{% endif %}{% endif %}"
)


def build_tiny_qwen(folder: Path, answer: list[str]) -> Path:
    """Save a word-level tokenizer and a tiny Qwen3 into ``folder`` whose greedy continuation of any prompt is
    the word tokens ``answer`` then ``<|im_end|>``.

    The tokenizer is a word-level vocabulary built here (special tokens, the template's words, the answer). The
    model is a real ``Qwen3ForCausalLM`` whose attention and MLP outputs are zeroed, so each position's hidden
    state is its token's embedding; embeddings are one-hot and ``lm_head`` maps each token to its successor in
    the chain ``</think> → answer… → <|im_end|>``. The prompt ends in ``</think>`` (the template above), so
    generation spells out ``answer`` and stops.
    """
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, Qwen3Config, Qwen3ForCausalLM

    words = ["[UNK]", *SPECIALS, "system", "user", "assistant", "文本情感分类", *answer]
    vocab = {word: index for index, word in enumerate(dict.fromkeys(words))}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="[UNK]",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=list(SPECIALS[:3]),
    )
    tokenizer.add_tokens(list(SPECIALS[3:]))  # like Qwen3: <think> tags are added tokens but not special
    tokenizer.chat_template = CHAT_TEMPLATE

    size = len(vocab)
    config = Qwen3Config(
        vocab_size=size,
        hidden_size=size,
        intermediate_size=8,
        num_hidden_layers=1,
        num_attention_heads=1,
        num_key_value_heads=1,
        head_dim=8,
        max_position_embeddings=128,
        sliding_window=None,
        tie_word_embeddings=False,
        eos_token_id=vocab["<|im_end|>"],
        pad_token_id=vocab["<|endoftext|>"],
        bos_token_id=None,
    )
    torch.manual_seed(0)
    model = Qwen3ForCausalLM(config)
    chain = ["</think>", *answer, "<|im_end|>"]
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        model.model.embed_tokens.weight.copy_(torch.eye(size))
        model.lm_head.weight.zero_()
        for current, following in pairwise(chain):
            model.lm_head.weight[vocab[following], vocab[current]] = 1.0
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(folder)
    model.save_pretrained(folder, safe_serialization=True)
    return folder


@pytest.fixture(scope="module")
def angry_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_qwen(tmp_path_factory.mktemp("model") / DEFAULT_FOLDER, ['{"悲伤":', "0.7,", '"愤怒":', "0.4}"])


def test_the_tiny_model_answers_and_is_loaded_once(angry_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    transformers = pytest.importorskip("transformers")
    loads: list[Path] = []
    real = transformers.AutoModelForCausalLM.from_pretrained

    def counting(path: Path, *args: object, **kwargs: object) -> object:
        loads.append(Path(path))
        assert kwargs["local_files_only"] and kwargs["use_safetensors"]
        return real(path, *args, **kwargs)

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", counting)
    emotion = TextEmotion(angry_folder)
    answer = emotion.answer("the payment service is down again")
    assert json.loads(answer) == {"悲伤": 0.7, "愤怒": 0.4}
    assert emotion("the payment service is down again") == pytest.approx(_weights(sad=0.7, angry=0.4))
    # the text reaches the parser: a melancholic word moves the model's "sad" to melancholic
    assert emotion("a gloomy night for the on-call") == pytest.approx(_weights(melancholic=0.7, angry=0.4))
    assert loads == [angry_folder]
