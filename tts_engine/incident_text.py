"""Incident-aware text normalisation, in front of the model's own normaliser (Chinese and English).

General-purpose normalisers read `INC-4217` as "INC minus four thousand two hundred seventeen", `p99` as "p
ninety-nine" glued to nothing, `tts-inference` as "tts minus inference" and `10.0.3.17` as a decimal number. This
module rewrites what incident text is made of into words, as an on-call engineer would say them, before the
model's normaliser (WeTextProcessing) sees the text:

* incident numbers and ids: pairs in English (4217 → "forty-two seventeen"), digit by digit in Chinese with 幺
  for 1 (四二幺七); HTTP status codes digit-wise ("five oh three");
* percentiles (p95, p99.9), durations and units (600ms, 1.8s, 2 GiB, 99%, 1.2k rps, 3x), versions (v1.1.0),
  IP addresses and ports, hostnames and service names (tts-inference → "TTS inference", db-1.prod → "DB one dot
  prod");
* clock times and ISO timestamps, converted to the listener's time zone when they carry a zone;
* a per-team glossary of pronunciations (`k8s` → "kubernetes"; Chinese names and places → toned pinyin) and
  Herald's markup ``字(pin1yin1)``, which REPLACES the characters with the model's toned-pinyin tokens (the
  reference normaliser would read both); the fallback voice, which cannot read pinyin, keeps the characters.

Everything is one regular-expression pass with one handler per kind, so nothing a rule writes is rewritten by a
later rule. Numbers become words through num2words (English) and cn2an (Chinese), the libraries of the field.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from zoneinfo import ZoneInfo

import cn2an
from num2words import num2words

__all__ = ["TextContext", "detect_language", "normalize"]

_HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK = re.compile(f"[{_HAN}]")
_SYLLABLE = r"[a-zA-Zü]+(?::)?[1-5]"


def detect_language(text: str) -> str:
    """'zh' when the text has a Chinese character, else 'en' (the model's normaliser decides the same way)."""
    return "zh" if _CJK.search(text) else "en"


@dataclass(frozen=True)
class TextContext:
    """What a normalisation needs besides the text.

    ``timezone`` is the listener's; ``now`` dates bare clock times that carry a zone (so DST is right) — without
    it such times are read in their own zone. ``keep_characters`` makes ``字(pin1yin1)`` keep the characters
    (for the fallback voice) instead of replacing them with pinyin.
    """

    language: str
    glossary: Mapping[str, str] = field(default_factory=dict)
    timezone: tzinfo | None = None
    now: datetime | None = None
    keep_characters: bool = False


def normalize(
    text: str,
    *,
    language: str | None = None,
    glossary: Mapping[str, str] | None = None,
    timezone: str | None = None,
    now: datetime | None = None,
    keep_characters: bool = False,
) -> str:
    """``text`` with incident vocabulary spelled out for speech (see the module docstring)."""
    ctx = TextContext(
        language=language or detect_language(text),
        glossary=glossary or {},
        timezone=ZoneInfo(timezone) if timezone else None,
        now=now,
        keep_characters=keep_characters,
    )
    text = _apply_glossary(text, ctx)
    text = _PATTERN.sub(lambda match: _dispatch(match, ctx), text)
    return _tidy(text)


# --- numbers -----------------------------------------------------------------------------------------------------


def number(value: str, language: str) -> str:
    """A decimal number in words."""
    if language == "zh":
        return cn2an.an2cn(value)
    return num2words(Decimal(value)).replace(",", "")


def _zh_count(value: str) -> str:
    """Chinese number before a measure word: 2 is 两 (两秒, 两小时), anything else as written."""
    return "两" if value == "2" else cn2an.an2cn(value)


_ZH_DIGITS = "零幺二三四五六七八九"
_EN_DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def digits(value: str, language: str) -> str:
    """Digit by digit: "four two one seven" / 四二幺七 (幺 is how Chinese reads 1 in numbers that are codes)."""
    if language == "zh":
        return "".join(_ZH_DIGITS[int(d)] for d in value)
    return " ".join(_EN_DIGITS[int(d)] for d in value)


def _en_pair(pair: str) -> str:
    return f"oh {_EN_DIGITS[int(pair[1])]}" if pair[0] == "0" else num2words(int(pair))


def identifier(value: str, language: str) -> str:
    """An id as people read it: English in pairs up to four digits (forty-two seventeen, three oh five, twenty oh
    five, forty-two hundred), digit by digit beyond; Chinese always digit by digit."""
    if language == "zh" or len(value) > 4:
        return digits(value, language)
    if len(value) <= 2:
        return _en_pair(value) if len(value) == 2 and value[0] == "0" else num2words(int(value))
    head, tail = value[:-2], value[-2:]
    if tail == "00":
        return num2words(int(value)).replace(",", "") if int(head) % 10 == 0 else f"{num2words(int(head))} hundred"
    return f"{num2words(int(head)) if len(head) == 2 else _EN_DIGITS[int(head)]} {_en_pair(tail)}"


# --- the rules ----------------------------------------------------------------------------------------------------

_UNITS: dict[str, tuple[str, str, str]] = {
    # unit: (English singular, English plural, Chinese)
    "ns": ("nanosecond", "nanoseconds", "纳秒"),
    "us": ("microsecond", "microseconds", "微秒"),
    "µs": ("microsecond", "microseconds", "微秒"),
    "μs": ("microsecond", "microseconds", "微秒"),
    "ms": ("millisecond", "milliseconds", "毫秒"),
    "s": ("second", "seconds", "秒"),
    "sec": ("second", "seconds", "秒"),
    "secs": ("second", "seconds", "秒"),
    "m": ("minute", "minutes", "分钟"),
    "min": ("minute", "minutes", "分钟"),
    "mins": ("minute", "minutes", "分钟"),
    "h": ("hour", "hours", "小时"),
    "hr": ("hour", "hours", "小时"),
    "hrs": ("hour", "hours", "小时"),
    "d": ("day", "days", "天"),
    "KB": ("kilobyte", "kilobytes", "千字节"),
    "KiB": ("kilobyte", "kilobytes", "千字节"),
    "MB": ("megabyte", "megabytes", "兆字节"),
    "MiB": ("megabyte", "megabytes", "兆字节"),
    "GB": ("gigabyte", "gigabytes", "吉字节"),
    "GiB": ("gigabyte", "gigabytes", "吉字节"),
    "TB": ("terabyte", "terabytes", "太字节"),
    "TiB": ("terabyte", "terabytes", "太字节"),
    "Mbps": ("megabit per second", "megabits per second", "兆比特每秒"),
    "Gbps": ("gigabit per second", "gigabits per second", "吉比特每秒"),
    "x": ("time", "times", "倍"),
}
# Units read before the number in Chinese (百分之九十九, 每秒五百次请求).
_PREFIX_UNITS: dict[str, tuple[str, str, str]] = {
    "%": ("percent", "percent", "百分之"),
    "rps": ("request per second", "requests per second", "每秒"),
    "req/s": ("request per second", "requests per second", "每秒"),
    "qps": ("query per second", "queries per second", "每秒"),
}
_ZH_PREFIX_SUFFIX = {"rps": "次请求", "req/s": "次请求", "qps": "次查询", "%": ""}

# Infrastructure words people spell out (or say differently from how they are written).
_SPOKEN_WORDS: dict[str, str] = {
    "k8s": "kubernetes",
    "nginx": "engine x",
    "grpc": "G R P C",
    "postgresql": "postgres Q L",
    "mysql": "my S Q L",
    "pgbouncer": "PG bouncer",
    "etcd": "E T C D",
}
_ACRONYMS = frozenset(
    {
        "tts",
        "api",
        "db",
        "dns",
        "cpu",
        "gpu",
        "ram",
        "ssd",
        "hdd",
        "http",
        "https",
        "tcp",
        "udp",
        "ssh",
        "vm",
        "vpc",
        "sre",
        "cdn",
        "lb",
        "elb",
        "alb",
        "nlb",
        "rds",
        "sqs",
        "sns",
        "s3",
        "ec2",
        "iam",
        "ui",
        "url",
        "sql",
        "etl",
        "ml",
        "ai",
        "ci",
        "cd",
        "aws",
        "gcp",
        "eks",
        "gke",
        "aks",
        "nfs",
        "smtp",
        "ntp",
        "tls",
        "ssl",
        "oom",
        "sla",
        "slo",
        "sli",
        "pg",
        "es",
        "mq",
        "io",
        "id",
        "us",
        "eu",
        "ap",
        "az",
        "jvm",
        "gc",
        "qa",
        "rpc",
        "os",
        "k",
        "v",
        "tsdb",
        "nat",
        "waf",
        "vip",
        "ha",
        "dr",
    }
)
# Standalone words safe to upper-case outside compound names (not ordinary English words such as "us" or "it").
_STANDALONE = "|".join(sorted({"tts", "api", "dns", "cpu", "gpu", "http", "https", "ssh", "sre", "oom", "sla", "slo"}))
_ID_PREFIXES = {"INC": ("incident", "事件"), "ALERT": ("alert", "告警"), "CHG": ("change", "变更")}
_ZH_PERIODS = ((0, "凌晨"), (6, "早上"), (9, "上午"), (12, "中午"), (13, "下午"), (18, "晚上"))

_UNIT_ALT = "|".join(re.escape(u) for u in sorted(_UNITS, key=len, reverse=True))
_PREFIX_ALT = "|".join(re.escape(u) for u in sorted(_PREFIX_UNITS, key=len, reverse=True))
_ZONE = r"(?P<{0}>Z|UTC|GMT|[+-]\d{{2}}:?\d{{2}})"
_HOST_LABEL = r"[a-z][a-z0-9]*"

_RULES: list[tuple[str, str]] = [
    ("markup", rf"(?P<markup_han>[{_HAN}]+)[(（](?P<markup_py>{_SYLLABLE}(?:\s+{_SYLLABLE})*)[)）]"),
    (
        "iso",
        r"(?P<iso_date>\d{4}-\d{2}-\d{2})[T ](?P<iso_time>\d{1,2}:\d{2})(?::\d{2}(?:\.\d+)?)?\s?"
        + _ZONE.format("iso_zone")
        + "?",
    ),
    (
        "clock",
        r"(?P<clock_period>凌晨|早上|上午|中午|下午|晚上)?\s*(?<![\d:])(?P<clock>\d{1,2}:\d{2})(?::\d{2})?(?![\d:])(?:\s?"
        + _ZONE.format("clock_zone")
        + ")?",
    ),
    ("ip", r"(?<![\w.])(?P<ip>(?:\d{1,3}\.){3}\d{1,3})(?::(?P<ip_port>\d{1,5}))?(?![\w.])"),
    (
        "version",
        r"(?P<version_word>(?i:\bversion\s+)|版本\s*)?(?<![\w.])(?:(?P<version_v>[vV])(?P<version_a>\d+(?:\.\d+)*)|(?P<version_b>\d+\.\d+\.\d+))(?![\w.])",
    ),
    ("ticket", r"(?P<ticket_prefix>#|\b[A-Z][A-Z0-9]{1,9}-)(?P<ticket>\d+)\b"),
    (
        "named_id",
        r"(?P<named_word>(?i:\b(?:incident|alert|ticket|case|page)\b)\s+|(?:事件|告警|工单|故障)\s*)(?P<named_id>\d{3,})\b",
    ),
    (
        "status",
        r"(?P<status_word>\b(?i:HTTP|status)\s+)?(?P<status>\b[1-5]\d{2}|[1-5]xx)\b(?(status_word)|(?=\s*(?i:errors?|responses?|错误|响应)))",
    ),
    ("status_plural", r"\b(?P<status_plural>[45]\d{2})s\b"),
    ("percentile", r"\b[pP](?P<percentile>\d{2,3}(?:\.\d+)?)\b"),
    ("prefix_unit", rf"(?:每秒\s*)?(?<![\w.])(?P<pu_value>\d+(?:\.\d+)?)\s?(?P<pu_unit>{_PREFIX_ALT})(?![\w/])"),
    ("thousands", r"(?<![\w.])(?P<k_value>\d+(?:\.\d+)?)[kK](?![\w])(?:\s?(?P<k_unit>" + _PREFIX_ALT + r")(?![\w/]))?"),
    ("unit", rf"(?<![\w.])(?P<unit_value>\d+(?:\.\d+)?)\s?(?P<unit>{_UNIT_ALT})(?![\w])"),
    (
        "host",
        rf"(?<![\w.-])(?P<host>{_HOST_LABEL}(?:[-_.][a-z0-9]+)*[-_][a-z0-9]+(?:[-_.][a-z0-9]+)*|{_HOST_LABEL}(?:\.[a-z0-9]+){{2,}})(?![\w-])",
    ),
    ("word", rf"\b(?P<word>{_STANDALONE}|{'|'.join(_SPOKEN_WORDS)})\b"),
]
_PATTERN = re.compile("|".join(f"(?P<rule_{name}>{body})" for name, body in _RULES))


def _dispatch(match: re.Match[str], ctx: TextContext) -> str:
    kind = (match.lastgroup or "").removeprefix("rule_")
    return _markup(match, ctx) if kind == "markup" else f" {_HANDLERS[kind](match, ctx)} "


def _markup(match: re.Match[str], ctx: TextContext) -> str:
    han, syllables = match["markup_han"], match["markup_py"].split()
    if ctx.keep_characters:
        return han
    syllables = [s.lower().replace("ü", "v").replace("u:", "v") for s in syllables]
    kept = han[: max(0, len(han) - len(syllables))]
    return f"{kept} {' '.join(syllables)} "


def _iso(match: re.Match[str], ctx: TextContext) -> str:
    stamp = datetime.fromisoformat(f"{match['iso_date']}T{match['iso_time']}")
    zone = _zone(match["iso_zone"] or "UTC")
    local = stamp.replace(tzinfo=zone).astimezone(ctx.timezone) if ctx.timezone else stamp
    spoken_zone = None if ctx.timezone else match["iso_zone"]
    return (
        f"{_date(local, ctx.language)}{',' if ctx.language == 'en' else ''} {_time(local, spoken_zone, ctx.language)}"
    )


def _clock(match: re.Match[str], ctx: TextContext) -> str:
    hours, minutes = (int(p) for p in match["clock"].split(":"))
    if hours > 23 or minutes > 59:
        return match.group(0)
    if match["clock_period"] in ("下午", "晚上") and hours < 12:  # 下午 3:30 is 15:30
        hours += 12
    zone_text = match["clock_zone"]
    if zone_text and ctx.timezone and ctx.now:
        day = ctx.now.astimezone(_zone(zone_text)).date()
        stamp = datetime(day.year, day.month, day.day, hours, minutes, tzinfo=_zone(zone_text))
        local = stamp.astimezone(ctx.timezone)
        return _time(local, None, ctx.language)
    return _time(datetime(2000, 1, 1, hours, minutes), zone_text, ctx.language)


def _zone(text: str) -> tzinfo:
    if text in ("Z", "UTC", "GMT"):
        return UTC
    sign = 1 if text[0] == "+" else -1
    digits_only = text[1:].replace(":", "")
    return timezone(sign * timedelta(hours=int(digits_only[:2]), minutes=int(digits_only[2:])))


def _date(when: datetime, language: str) -> str:
    if language == "zh":
        return f"{cn2an.an2cn(str(when.month))}月{cn2an.an2cn(str(when.day))}日"
    return f"{calendar.month_name[when.month]} {num2words(when.day, to='ordinal')}"


def _time(when: datetime, zone: str | None, language: str) -> str:
    hour, minute = when.hour, when.minute
    twelve = hour % 12 or 12
    if language == "zh":
        period = next(word for start, word in reversed(_ZH_PERIODS) if hour >= start)
        hours = "两" if twelve == 2 else "零" if hour == 0 else cn2an.an2cn(str(twelve))
        mins = "" if minute == 0 else f"{'零' if minute < 10 else ''}{cn2an.an2cn(str(minute))}分"
        prefix = f"{'UTC' if zone in ('Z', 'UTC') else zone}时间" if zone else ""
        return f"{prefix}{period}{hours}点{mins}"
    mins = "" if minute == 0 else f" oh {num2words(minute)}" if minute < 10 else f" {num2words(minute)}"
    suffix = "" if not zone else " UTC" if zone in ("Z", "UTC") else f" {zone}"
    return f"{num2words(twelve)}{mins} {'AM' if hour < 12 else 'PM'}{suffix}"


def _ip(match: re.Match[str], ctx: TextContext) -> str:
    parts = match["ip"].split(".")
    if any(int(p) > 255 for p in parts):
        return match.group(0)
    dot = "点" if ctx.language == "zh" else " dot "
    spoken = dot.join(number(p, ctx.language) for p in parts)
    if match["ip_port"]:
        spoken += ("端口" if ctx.language == "zh" else " port ") + identifier(match["ip_port"], ctx.language)
    return spoken


def _version(match: re.Match[str], ctx: TextContext) -> str:
    parts = (match["version_a"] or match["version_b"]).split(".")
    dot = "点" if ctx.language == "zh" else " point "
    word = "版本" if ctx.language == "zh" else "version "
    return word + dot.join(number(p, ctx.language) for p in parts)


def _ticket(match: re.Match[str], ctx: TextContext) -> str:
    prefix = match["ticket_prefix"].rstrip("-")
    if prefix == "#":
        word = "" if ctx.language == "zh" else "number"
    else:
        en, zh = _ID_PREFIXES.get(prefix, (prefix, prefix))
        word = zh if ctx.language == "zh" else en
    return f"{word} {identifier(match['ticket'], ctx.language)}"


def _named_id(match: re.Match[str], ctx: TextContext) -> str:
    return f"{match['named_word'].strip()} {identifier(match['named_id'], ctx.language)}"


def _status(match: re.Match[str], ctx: TextContext) -> str:
    word = (match["status_word"] or "").strip()
    code = match["status"]
    if code.endswith("xx"):
        spoken = f"{digits(code[0], ctx.language)}{'XX' if ctx.language == 'zh' else ' X X'}"
    elif ctx.language == "zh":
        spoken = digits(code, "zh")
    else:
        spoken = f"{_EN_DIGITS[int(code[0])]} {_en_pair(code[1:])}"
    return f"{word.upper() if word.lower() == 'http' else word} {spoken}".strip()


def _status_plural(match: re.Match[str], ctx: TextContext) -> str:
    code = match["status_plural"]
    if ctx.language == "zh":
        return f"{digits(code, 'zh')}错误"
    return f"{_EN_DIGITS[int(code[0])]} {_en_pair(code[1:])}s"


def _percentile(match: re.Match[str], ctx: TextContext) -> str:
    value = match["percentile"]
    if "." not in value and len(value) == 3:  # p999 is p99.9, read as written: "P nine nine nine"
        return f"P{digits(value, ctx.language) if ctx.language == 'zh' else ' ' + digits(value, 'en')}"
    return f"P{'' if ctx.language == 'zh' else ' '}{number(value, ctx.language)}"


def _measure(value: str, unit: tuple[str, str, str], language: str, prefix_key: str | None = None) -> str:
    en_one, en_many, zh = unit
    if language == "zh":
        if prefix_key is not None:
            return f"{zh}{cn2an.an2cn(value)}{_ZH_PREFIX_SUFFIX[prefix_key]}"
        return f"{_zh_count(value)}{zh}"
    return f"{number(value, 'en')} {en_one if value == '1' else en_many}"


def _prefix_unit(match: re.Match[str], ctx: TextContext) -> str:
    key = match["pu_unit"]
    return _measure(match["pu_value"], _PREFIX_UNITS[key], ctx.language, key)


def _thousands(match: re.Match[str], ctx: TextContext) -> str:
    value = format(Decimal(match["k_value"]) * 1000, "f").split(".")[0]
    key = match["k_unit"]
    if key:
        return _measure(value, _PREFIX_UNITS[key], ctx.language, key)
    return number(value, ctx.language)


def _unit(match: re.Match[str], ctx: TextContext) -> str:
    return _measure(match["unit_value"], _UNITS[match["unit"]], ctx.language)


def _host(match: re.Match[str], ctx: TextContext) -> str:
    dot = " 点 " if ctx.language == "zh" else " dot "
    return dot.join(_host_label(label, ctx.language) for label in match["host"].split("."))


def _host_label(label: str, language: str) -> str:
    """One label: split at - and _, known words as said (k8s, ec2, nginx), letter and digit runs apart (db1)."""
    words = []
    for part in re.split(r"[-_]", label):
        runs = [part] if part in _SPOKEN_WORDS or part in _ACRONYMS else re.findall(r"[a-z]+|\d+", part)
        words.extend(_host_word(run, language) for run in runs)
    return " ".join(words)


def _host_word(piece: str, language: str) -> str:
    if piece.isdigit():
        return number(piece, language)
    if piece in _SPOKEN_WORDS:
        return _SPOKEN_WORDS[piece]
    return piece.upper() if piece in _ACRONYMS else piece


def _word(match: re.Match[str], _ctx: TextContext) -> str:
    word = match["word"]
    return _SPOKEN_WORDS.get(word, word.upper())


_HANDLERS: dict[str, Callable[[re.Match[str], TextContext], str]] = {
    "iso": _iso,
    "clock": _clock,
    "ip": _ip,
    "version": _version,
    "ticket": _ticket,
    "named_id": _named_id,
    "status": _status,
    "status_plural": _status_plural,
    "percentile": _percentile,
    "prefix_unit": _prefix_unit,
    "thousands": _thousands,
    "unit": _unit,
    "host": _host,
    "word": _word,
}


# --- glossary and tidying -----------------------------------------------------------------------------------------

_PINYIN_READING = re.compile(rf"^{_SYLLABLE}(?:\s+{_SYLLABLE})*$")


def _apply_glossary(text: str, ctx: TextContext) -> str:
    """Replace glossary terms (longest first). A Chinese term with a toned-pinyin reading becomes markup."""
    if not ctx.glossary:
        return text
    alternatives = []
    for term in sorted(ctx.glossary, key=len, reverse=True):
        escaped = re.escape(term)
        if _CJK.search(term):
            alternatives.append(f"{escaped}(?![(（])")
        else:
            alternatives.append(rf"(?<![\w-]){escaped}(?![\w-])")
    lookup = {term.lower(): reading for term, reading in ctx.glossary.items()}
    pattern = re.compile("|".join(alternatives), re.IGNORECASE)

    def replace(match: re.Match[str]) -> str:
        term, reading = match.group(0), lookup[match.group(0).lower()]
        if _CJK.search(term) and _PINYIN_READING.match(reading.strip()):
            return f"{term}({reading.strip()})"
        return reading

    return pattern.sub(replace, text)


def _tidy(text: str) -> str:
    """Collapse the spaces the rules leave, and drop spaces next to Chinese characters and before punctuation."""
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(rf"(?<=[，。！？、；：]) | (?=[，。！？、；：])|(?<=[{_HAN}]) (?=[{_HAN}])", "", text)
    return re.sub(r" (?=[,.!?;:，。！？、；：)])", "", text)
