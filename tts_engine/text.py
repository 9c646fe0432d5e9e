"""Text front end: normalisation, CJK pre-tokenisation, SentencePiece, and segment splitting.

The GPT was trained on text produced by this exact chain, so it reproduces the reference's output string for
string, quirks included (each is marked where it happens):

1. :class:`TextNormalizer` picks the Chinese or the English WeTextProcessing grammar for the *whole* string,
   shields what the grammars would mangle (``<字|读音>`` annotations, hyphenated technical terms such as
   ``GPT-5-Nano``, pinyin with tone digits such as ``xiao3``, Chinese names joined by ``·``) behind
   placeholders, normalises, restores, then maps punctuation to the few marks the vocabulary knows.
2. :func:`space_cjk` puts spaces around every CJK character and upper-cases the rest.
3. :class:`TextTokenizer` encodes with the model's ``bpe.model``.
4. :func:`split_segments` cuts the pieces into segments of at most ``max_tokens`` for the GPT.

WeTextProcessing's grammars are used as released (no rewrite): the English ones ship prebuilt in the wheel; the
Chinese ones must be built once with erhua and interjections kept (the reference's options, not the wheel's
defaults), which takes a few seconds and is cached in a user cache folder, never in the repository.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

from sentencepiece import SentencePieceProcessor

from tts_engine.errors import ModelFolderError

__all__ = [
    "SENTENCE_END_TOKENS",
    "TextNormalizer",
    "TextTokenizer",
    "space_cjk",
    "split_segments",
]

log = logging.getLogger(__name__)

# Punctuation the vocabulary lacks, mapped to marks it has. Order matters: the table becomes one regex
# alternation tried left to right, so a shorter key listed first wins ("，" before "，，，", which therefore never
# applies); this is the reference's order.
PUNCTUATION_MAP: tuple[tuple[str, str], ...] = (
    ("：", ","),
    ("；", ","),
    (";", ","),
    ("，", ","),
    ("。", "."),
    ("！", "!"),
    ("？", "?"),
    ("\n", " "),
    ("·", "-"),
    ("、", ","),
    ("...", "…"),
    (",,,", "…"),
    ("，，，", "…"),
    ("……", "…"),
    ("“", "'"),
    ("”", "'"),
    ('"', "'"),
    ("‘", "'"),
    ("’", "'"),
    ("（", "'"),
    ("）", "'"),
    ("(", "'"),
    (")", "'"),
    ("《", "'"),
    ("》", "'"),
    ("【", "'"),
    ("】", "'"),
    ("[", "'"),
    ("]", "'"),
    ("—", "-"),
    ("～", "-"),
    ("~", "-"),
    ("「", "'"),
    ("」", "'"),
    (":", ","),
)
# The Chinese path also reads "$" as a full stop (its grammar has already spelled out currency amounts).
ZH_PUNCTUATION_MAP: tuple[tuple[str, str], ...] = (("$", "."), *PUNCTUATION_MAP)

CJK_IDEOGRAPH = re.compile(r"[\u4e00-\u9fff]")
LATIN_LETTER = re.compile(r"[a-zA-Z]")
EMAIL = re.compile(r"^[a-zA-Z0-9]+@[a-zA-Z0-9]+\.[a-zA-Z]+$")
# A pinyin syllable followed by its tone digit (5 = neutral), not preceded by a letter: "xuan4", "jve2", "er2"
# match; "beta1", "voice2" do not.
PINYIN_WITH_TONE = re.compile(
    r"(?<![a-z])(?:(?:[bpmfdtnlgkhjqxzcsryw]|[zcs]h)?"
    r"(?:[aeiouüv]|[ae]i|u[aio]|ao|ou|i[aue]|[uüv]e|[uvü]ang?|uai|[aeiuv]n|[aeio]ng|ia[no]|i[ao]ng)|ng|er)[1-5]",
    re.IGNORECASE,
)
# j/q/x + u/ü reads as "v" in the vocabulary: "xue2" -> "xve2".
JQX_U = re.compile(r"([jqx])[uü](n|e|an)*(\d)", re.IGNORECASE)
# Chinese names joined by "·", "-" or "—" (克里斯托弗·诺兰): the Chinese grammar would read "-" as minus.
CHINESE_NAME = re.compile(r"[\u4e00-\u9fff]+(?:[-·—][\u4e00-\u9fff]+){1,2}", re.IGNORECASE)
# Hyphenated technical terms starting with a letter (GPT-5-Nano, F5-TTS); phone numbers do not match.
TECH_TERM = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)+")
TECH_HYPHEN = "<H>"
TECH_HYPHEN_RESTORE = re.compile(r"\s*<H>\s*")
# "what's" -> "what is" for the common question words and pronouns only (not every "'s").
CONTRACTION = re.compile(r"(what|where|who|which|how|t?here|it|s?he|that|this)'s", re.IGNORECASE)
# A pronunciation annotation "<字|读音>" is passed through untouched.
ANNOTATION = re.compile(r"<([^|>\n]+)\|([^>\n]+)>")
ANNOTATION_MARK = "PRONPLACEHOLDER"
# The CJK ranges split out by the pre-tokeniser (those of NLTK's tokenizer utilities, as the reference uses).
CJK_CHAR = re.compile(
    r"([\u1100-\u11ff\u2e80-\ua4cf\ua840-\uD7AF\uF900-\uFAFF\uFE30-\uFE4F\uFF65-\uFFDC\U00020000-\U0002FFFF])"
)

# Tokens that close a sentence, and the quote tokens that may follow one.
SENTENCE_END_TOKENS = (".", "!", "?", "▁.", "▁?", "▁...")
COMMA_TOKENS = (",", "▁,")
HYPHEN_TOKENS = ("-",)
QUOTE_TOKENS = ("'", "▁'")


class TextNormalizer:
    """Spell out numbers, dates, units, ... the way the reference does, for Chinese, English and mixed text.

    ``glossary`` maps a term to its reading, either one string or ``{"zh": ..., "en": ...}``; terms are replaced
    case-insensitively, longest first, before anything else. ``cache_dir`` holds the Chinese grammar built
    with the reference's options (default: a ``herald/wetext`` folder in the user's cache).
    """

    def __init__(
        self,
        glossary: Mapping[str, str | Mapping[str, str]] | None = None,
        *,
        cache_dir: str | Path | None = None,
    ) -> None:
        self.glossary = dict(glossary or {})
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._zh: Any = None
        self._en: Any = None

    def normalize(self, text: str) -> str:
        """The normalised text (punctuation mapped, case kept except for restored j/q/x pinyin)."""
        text, annotations = _shield(text, ANNOTATION, lambda i: f"{ANNOTATION_MARK}{_letters(i)}{ANNOTATION_MARK}")
        result = self._normalize_zh(text) if self._is_chinese(text) else self._normalize_en(text)
        return _unshield(result, annotations)

    @staticmethod
    def _is_chinese(text: str) -> bool:
        """The reference's choice of grammar: Chinese unless the text has Latin letters and no ideograph.

        E-mail addresses and text with tone-marked pinyin also go the Chinese way.
        """
        if CJK_IDEOGRAPH.search(text) or not LATIN_LETTER.search(text) or EMAIL.match(text):
            return True
        return PINYIN_WITH_TONE.search(text) is not None

    def _normalize_zh(self, text: str) -> str:
        text = CONTRACTION.sub(r"\1 is", text)
        text = self._apply_glossary(text, "zh")
        # Only this path strips trailing whitespace before protecting terms (as the reference does).
        text, has_terms = _protect_tech_terms(text.rstrip())
        text, pinyin = _shield(text, PINYIN_WITH_TONE, lambda i: f"<pinyin_{chr(ord('a') + i)}>")
        text, names = _shield(text, CHINESE_NAME, lambda i: f"<n_{chr(ord('a') + i)}>")
        result = self._run("zh", text)
        result = _unshield(result, names)
        result = _unshield(result, {key: _pinyin_reading(value) for key, value in pinyin.items()})
        if has_terms:
            result = TECH_HYPHEN_RESTORE.sub("-", result)
        return _map_punctuation(result, ZH_PUNCTUATION_MAP)

    def _normalize_en(self, text: str) -> str:
        text = CONTRACTION.sub(r"\1 is", text)
        text = self._apply_glossary(text, "en")
        text, has_terms = _protect_tech_terms(text)
        result = self._run("en", text)
        if has_terms:
            result = TECH_HYPHEN_RESTORE.sub("-", result)
        return _map_punctuation(result, PUNCTUATION_MAP)

    def _apply_glossary(self, text: str, lang: str) -> str:
        for term in sorted(self.glossary, key=len, reverse=True):
            reading = self.glossary[term]
            if isinstance(reading, Mapping):
                reading = reading.get(lang, term)
            text = re.sub(re.escape(term), lambda _m, r=reading: r, text, flags=re.IGNORECASE)
        return text

    def _run(self, lang: str, text: str) -> str:
        grammar = self._grammar(lang)
        try:
            return grammar.normalize(text)
        except Exception:  # a grammar failure must not lose the utterance: speak the text as written
            log.warning("text normalisation (%s) failed; using the text as is: %r", lang, text, exc_info=True)
            return text

    def _grammar(self, lang: str) -> Any:
        if lang == "en":
            if self._en is None:
                from tn.english.normalizer import Normalizer

                self._en = Normalizer(overwrite_cache=False)  # the grammar prebuilt in the wheel
            return self._en
        if self._zh is None:
            self._zh = _build_zh_grammar(self.cache_dir or _default_cache_dir())
        return self._zh


class TextTokenizer:
    """Normalised, CJK-spaced text → SentencePiece pieces and ids, with the model folder's ``bpe.model``."""

    def __init__(self, bpe_model: str | Path, normalizer: TextNormalizer | None = None) -> None:
        path = Path(bpe_model)
        if not path.is_file():
            raise ModelFolderError("missing", file=path)
        self._sp = SentencePieceProcessor()
        try:
            self._sp.Load(str(path))
        except (OSError, RuntimeError) as exc:
            raise ModelFolderError(f"not a SentencePiece model: {exc}", file=path) from exc
        self.normalizer = normalizer or TextNormalizer()

    @property
    def vocab_size(self) -> int:
        return self._sp.GetPieceSize()

    @property
    def unk_id(self) -> int:
        return self._sp.unk_id()

    def prepare(self, text: str) -> tuple[str, str]:
        """(normalised text, the string handed to SentencePiece).

        Quirk kept from the reference: a text of one visible character skips normalisation and upper-casing,
        and is encoded as given (surrounding whitespace included).
        """
        if len(text.strip()) == 1:
            return text, text
        normalized = self.normalizer.normalize(text)
        return normalized, space_cjk(normalized)

    def tokenize(self, text: str) -> list[str]:
        """Raw text → SentencePiece pieces (an empty text gives none)."""
        if not text:
            return []
        return self._sp.Encode(self.prepare(text)[1], out_type=str)

    def encode(self, text: str) -> list[int]:
        """Raw text → token ids."""
        return self.ids(self.tokenize(text))

    def ids(self, pieces: Sequence[str]) -> list[int]:
        """Pieces → ids (a piece outside the vocabulary maps to ``unk_id``)."""
        return [self._sp.PieceToId(piece) for piece in pieces]


def space_cjk(text: str) -> str:
    """Spaces around every CJK character; the other runs stripped and upper-cased; single spaces between.

    ``"你好世界是 hello world 的中文"`` → ``"你 好 世 界 是 HELLO WORLD 的 中 文"``.
    """
    return " ".join(part.strip().upper() for part in CJK_CHAR.split(text.strip()) if part.strip())


def split_segments(tokens: Sequence[str], max_tokens: int, quick_streaming_tokens: int = 0) -> list[list[str]]:
    """Cut pieces into segments of at most ``max_tokens`` for the GPT, at sentence ends where possible.

    A segment closes after a sentence-end token once it holds more than 2 tokens. As soon as the running
    segment contains a comma (or, failing that, a hyphen) it is re-split at those tokens instead; a run still
    longer than ``max_tokens`` is cut every ``max_tokens``. Finally neighbours are merged while the merge fits
    (once ``quick_streaming_tokens`` tokens have been seen), or fits in half of ``max_tokens``.

    Quirk kept from the reference: a quote right after a sentence end is appended to the closing segment *and*
    starts the next one, so it is spoken twice.
    """
    return _merge(
        _split(list(tokens), SENTENCE_END_TOKENS, max_tokens, quick_streaming_tokens),
        max_tokens,
        quick_streaming_tokens,
    )


def _split(tokens: list[str], boundaries: Sequence[str], max_tokens: int, quick: int) -> list[list[str]]:
    segments: list[list[str]] = []
    current: list[str] = []
    for i, token in enumerate(tokens):
        current.append(token)
        if not any(t in boundaries for t in COMMA_TOKENS) and any(t in current for t in COMMA_TOKENS):
            segments.extend(_merge(_split(current, COMMA_TOKENS, max_tokens, quick), max_tokens, quick))
        elif not any(t in boundaries for t in HYPHEN_TOKENS) and any(t in current for t in HYPHEN_TOKENS):
            segments.extend(_merge(_split(current, HYPHEN_TOKENS, max_tokens, quick), max_tokens, quick))
        elif len(current) <= max_tokens:
            if token in boundaries and len(current) > 2:
                if i + 1 < len(tokens) and tokens[i + 1] in QUOTE_TOKENS:
                    current.append(tokens[i + 1])  # ... and the quote is processed again as the next token
                segments.append(current)
                current = []
            continue
        else:
            log.info("a run of %d tokens without a break exceeds %d; cutting it blindly", len(current), max_tokens)
            segments.extend(current[j : j + max_tokens] for j in range(0, len(current), max_tokens))
        current = []
    if current:
        segments.append(current)
    return segments


def _merge(segments: list[list[str]], max_tokens: int, quick: int) -> list[list[str]]:
    merged: list[list[str]] = []
    seen = 0
    for segment in segments:
        seen += len(segment)
        if not segment:
            continue
        if merged and (
            (len(merged[-1]) + len(segment) <= max_tokens and seen > quick)
            or len(merged[-1]) + len(segment) <= max_tokens / 2
        ):
            merged[-1] = merged[-1] + segment
        else:
            merged.append(segment)
    return merged


def _shield(text: str, pattern: re.Pattern[str], placeholder: Callable[[int], str]) -> tuple[str, dict[str, str]]:
    """Replace each distinct match of ``pattern`` by a placeholder; returns the text and placeholder → original.

    Longer matches are replaced first, so that a match contained in another cannot break it.
    """
    found = sorted({m.group(0) for m in pattern.finditer(text)}, key=lambda s: (-len(s), s))
    originals: dict[str, str] = {}
    for i, original in enumerate(found):
        key = placeholder(i)
        originals[key] = original
        text = text.replace(original, key)
    return text, originals


def _unshield(text: str, originals: Mapping[str, str]) -> str:
    for key, original in originals.items():
        text = text.replace(key, original)
    return text


def _protect_tech_terms(text: str) -> tuple[str, bool]:
    """Hide the hyphens of technical terms (``GPT-5`` → ``GPT<H>5``) so the digits are still read but the
    hyphen is not read as "minus"; returns whether there was any term."""
    terms = sorted(set(TECH_TERM.findall(text)), key=len, reverse=True)
    for term in terms:
        text = text.replace(term, term.replace("-", TECH_HYPHEN))
    return text, bool(terms)


def _pinyin_reading(syllable: str) -> str:
    """How a restored pinyin syllable is written: j/q/x syllables upper-cased with u/ü → v; others unchanged."""
    if syllable[0] not in "jqxJQX":
        return syllable
    return JQX_U.sub(r"\g<1>v\g<2>\g<3>", syllable).upper()


def _map_punctuation(text: str, table: Sequence[tuple[str, str]]) -> str:
    mapping = dict(table)
    pattern = re.compile("|".join(re.escape(key) for key, _ in table))
    return pattern.sub(lambda m: mapping[m.group(0)], text)


def _letters(index: int) -> str:
    """0 → "a", 25 → "z", 26 → "aa", ...: placeholders made only of letters survive both grammars."""
    out = ""
    while True:
        out = chr(ord("a") + index % 26) + out
        index = index // 26 - 1
        if index < 0:
            return out


def _default_cache_dir() -> Path:
    """A per-user cache folder for built grammars, falling back to the temp folder when home is read-only."""
    base = Path.home() / ".cache"
    try:
        base.mkdir(parents=True, exist_ok=True)
        if os.access(base, os.W_OK):
            return base / "herald" / "wetext"
    except OSError:
        pass
    return Path(tempfile.gettempdir()) / f"herald-wetext-{os.getuid()}"


def _build_zh_grammar(cache_root: Path) -> Any:
    """The Chinese grammar with erhua and interjections kept, built once per WeTextProcessing version.

    WeTextProcessing reads a cached grammar when both files exist, so it is built in a private folder and
    moved into place file by file (verbaliser first), and a concurrent process never reads a partial file.
    """
    from tn.chinese.normalizer import Normalizer

    options = {"remove_interjections": False, "remove_erhua": False}
    folder = cache_root / f"wetextprocessing-{version('WeTextProcessing')}-zh-keep-erhua-interjections"
    names = ("zh_tn_verbalizer.fst", "zh_tn_tagger.fst")
    if not all((folder / name).is_file() for name in names):
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=folder) as scratch:
            log.info("building the Chinese text-normalisation grammar once (a few seconds) in %s", folder)
            Normalizer(cache_dir=scratch, overwrite_cache=True, **options)
            for name in names:
                os.replace(Path(scratch) / name, folder / name)
    return Normalizer(cache_dir=str(folder), overwrite_cache=False, **options)
