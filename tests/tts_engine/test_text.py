"""The text front end: its rules and the reference quirks it keeps (the bundle cases run in test_conformance)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tts_engine.config import ModelConfig
from tts_engine.errors import ModelFolderError
from tts_engine.text import TextNormalizer, TextTokenizer, space_cjk, split_segments


@pytest.fixture(scope="module")
def normalizer() -> TextNormalizer:
    return TextNormalizer()


@pytest.fixture(scope="module")
def tokenizer(model_config: ModelConfig, normalizer: TextNormalizer) -> TextTokenizer:
    return TextTokenizer(model_config.bpe_model, normalizer)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("服务器有3个节点", "服务器有三个节点"),  # Chinese grammar
        ("We have 3 nodes", "We have three nodes"),  # English grammar
        ("3 + 4", "三加四"),  # no Latin letter: Chinese grammar
        ("ops@example.com", "ops@example.com"),  # an e-mail address goes the Chinese way
        ("用beta1测试", "用beta一测试"),  # "beta1" is not pinyin
        ("银行<行|hang2>有3个", "银行<行|hang2>有三个"),  # annotations pass through untouched
        ("I read 2 <read|reed> books", "I read two <read|reed> books"),
        ("GPT-5 and F5-TTS", "GPT-five and F five-TTS"),  # hyphens of terms are not "minus"
        ("只有,,,才是最好的", "只有…才是最好的"),
        ("The “quoted” [part]", "The 'quoted' 'part'"),
    ],
)
def test_normalize(normalizer: TextNormalizer, text: str, expected: str) -> None:
    assert normalizer.normalize(text) == expected


def test_restored_pinyin_is_spelled_as_the_vocabulary_does(normalizer: TextNormalizer) -> None:
    assert normalizer.normalize("学xue2习") == "学XVE2习"  # j/q/x + u -> v, upper-cased
    assert normalizer.normalize("不zuo1死") == "不zuo1死"  # others keep their case here


def test_glossary_terms_are_replaced_first_per_language() -> None:
    glossary = {"C++": {"en": "C plus plus", "zh": "C 加加"}, "k8s": "kubernetes"}
    normalizer = TextNormalizer(glossary)
    assert normalizer.normalize("Call c++ on k8s") == "Call C plus plus on kubernetes"
    assert normalizer.normalize("用C++写k8s") == "用C 加加写kubernetes"


def test_grammar_cache_is_built_outside_the_repository(tmp_path: Path) -> None:
    normalizer = TextNormalizer(cache_dir=tmp_path)
    assert normalizer.normalize("有3个") == "有三个"
    built = sorted(p.name for p in tmp_path.rglob("*.fst"))
    assert built == ["zh_tn_tagger.fst", "zh_tn_verbalizer.fst"]


def test_space_cjk() -> None:
    assert space_cjk(" 你好世界是 hello world 的中文 ") == "你 好 世 界 是 HELLO WORLD 的 中 文"
    assert space_cjk("ok,好.") == "OK, 好 ."


def test_single_character_skips_normalisation(tokenizer: TextTokenizer) -> None:
    assert tokenizer.prepare(" 3 ") == (" 3 ", " 3 ")
    assert tokenizer.prepare("33") == ("三十三", "三 十 三")


def test_tokenize_and_ids(tokenizer: TextTokenizer) -> None:
    tokens = tokenizer.tokenize("你好。")
    assert tokens == ["▁你", "▁好", "▁."]
    assert tokenizer.ids(tokens) == tokenizer.encode("你好。")
    assert tokenizer.tokenize("") == []
    assert tokenizer.ids(["not-a-piece"]) == [tokenizer.unk_id]


def test_missing_bpe_model_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ModelFolderError, match=r"bpe\.model: missing"):
        TextTokenizer(tmp_path / "bpe.model")
    (tmp_path / "bpe.model").write_bytes(b"garbage")
    with pytest.raises(ModelFolderError, match="not a SentencePiece model"):
        TextTokenizer(tmp_path / "bpe.model")


def test_segments_close_at_sentence_ends_and_merge_when_they_fit() -> None:
    tokens = ["a", "b", "c", ".", "d", "e", "f", "!"]
    assert split_segments(tokens, 4) == [["a", "b", "c", "."], ["d", "e", "f", "!"]]
    assert split_segments(tokens, 8) == [tokens]


def test_a_sentence_end_needs_more_than_two_tokens() -> None:
    assert split_segments(["a", ".", "b", "c", "d", "."], 4) == [["a", ".", "b", "c"], ["d", "."]]


def test_quote_after_a_sentence_end_is_duplicated() -> None:
    tokens = ["a", "b", ".", "'", "c", "d", "."]
    assert split_segments(tokens, 5) == [["a", "b", ".", "'"], ["'", "c", "d", "."]]


def test_commas_then_hyphens_split_long_runs() -> None:
    tokens = ["a", "b", "c", ",", "d", "e", "f", ",", "g"]
    assert split_segments(tokens, 4) == [["a", "b", "c", ","], ["d", "e", "f", ","], ["g"]]
    hyphens = ["a", "b", "c", "-", "d", "e", "f"]
    assert split_segments(hyphens, 4) == [["a", "b", "c", "-"], ["d", "e", "f"]]


def test_runs_without_any_break_are_cut_every_max_tokens() -> None:
    tokens = [str(i) for i in range(10)]
    assert split_segments(tokens, 4) == [tokens[:4], tokens[4:5], tokens[5:9], tokens[9:]]
    assert all(len(s) <= 4 for s in split_segments(tokens, 4))


def test_quick_streaming_keeps_the_first_segment_short() -> None:
    tokens = ["a", "b", "c", ".", "d", "e", "f", "."]
    assert split_segments(tokens, 8, quick_streaming_tokens=8) == [["a", "b", "c", "."], ["d", "e", "f", "."]]
    assert split_segments([], 8) == []
