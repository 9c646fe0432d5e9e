"""Incident-aware normalisation, table-driven: each row is (input, expected speech text)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tts_engine.incident_text import detect_language, digits, identifier, normalize

ENGLISH = [
    # incident numbers and ids
    ("INC-4217 is open", "incident forty-two seventeen is open"),
    ("Incident #305 resolved", "Incident number three oh five resolved"),
    ("incident 4200 escalated", "incident forty-two hundred escalated"),
    ("incident 2005 paged", "incident twenty oh five paged"),
    ("alert 42000 fired", "alert four two zero zero zero fired"),
    ("see #12", "see number twelve"),
    ("CHG-1001 rolled back", "change ten oh one rolled back"),
    ("OPS-77 done", "OPS seventy-seven done"),
    # HTTP status codes
    ("HTTP 503 from upstream", "HTTP five oh three from upstream"),
    ("502 errors rising", "five oh two errors rising"),
    ("seeing 503s", "seeing five oh threes"),
    ("5xx errors rose", "five X X errors rose"),
    # percentiles
    ("p99 latency", "P ninety-nine latency"),
    ("p95 and p50", "P ninety-five and P fifty"),
    ("p99.9 is 2s", "P ninety-nine point nine is two seconds"),
    ("p999 spikes", "P nine nine nine spikes"),
    # durations and units
    ("latency 600ms", "latency six hundred milliseconds"),
    ("latency 120 ms", "latency one hundred and twenty milliseconds"),
    ("up from 1.8s", "up from one point eight seconds"),
    ("took 1s", "took one second"),
    ("for 5m", "for five minutes"),
    ("down 2h", "down two hours"),
    ("250us median", "two hundred and fifty microseconds median"),
    ("2 GiB free", "two gigabytes free"),
    ("512MB used", "five hundred and twelve megabytes used"),
    ("1 TB disk", "one terabyte disk"),
    ("10Gbps link", "ten gigabits per second link"),
    ("99% used", "ninety-nine percent used"),
    ("99.95% availability", "ninety-nine point nine five percent availability"),
    ("1.2k rps", "one thousand two hundred requests per second"),
    ("300 qps", "three hundred queries per second"),
    ("5k errors", "five thousand errors"),
    ("rose 3x", "rose three times"),
    # versions
    ("deploy v1.1.0", "deploy version one point one point zero"),
    ("version 2.3.1 is out", "version two point three point one is out"),
    ("v2 API", "version two API"),
    # IPs and ports
    ("host 10.0.3.17 down", "host ten dot zero dot three dot seventeen down"),
    ("10.0.0.1:8080 refused", "ten dot zero dot zero dot one port eighty eighty refused"),
    ("999.1.1.1 is not an IP", "999.1.1.1 is not an IP"),
    # hostnames and service names
    ("tts-inference is slow", "TTS inference is slow"),
    ("api-gateway restarting", "API gateway restarting"),
    ("db-1.prod.example.com down", "DB one dot prod dot example dot com down"),
    ("node-3 disk", "node three disk"),
    ("k8s-ingress 404s", "kubernetes ingress four oh fours"),
    ("nginx-edge", "engine x edge"),
    ("payments_worker lag", "payments worker lag"),
    ("the api is slow", "the API is slow"),
    ("k8s node oom", "kubernetes node OOM"),
    ("us and it stay words", "us and it stay words"),
    # clock times (no listener zone: read as written)
    ("at 03:12 UTC", "at three twelve AM UTC"),
    ("at 15:00", "at three PM"),
    ("at 09:05", "at nine oh five AM"),
    ("at 25:99", "at 25:99"),
    ("at 2024-05-01T03:12:00Z", "at May first, three twelve AM UTC"),
    # plain text stays
    ("Everything is fine.", "Everything is fine."),
    ("e.g. this", "e.g. this"),
]

CHINESE = [
    ("事件 4217 已升级", "事件四二幺七已升级"),
    ("告警#1024 触发", "告警幺零二四触发"),
    ("INC-4217：请处理", "事件四二幺七：请处理"),
    ("工单 30115 已关闭", "工单三零幺幺五已关闭"),
    ("p99 延迟升高", "P九十九延迟升高"),
    ("p99.9 超标", "P九十九点九超标"),
    ("延迟 600ms", "延迟六百毫秒"),
    ("耗时 1.8s", "耗时一点八秒"),
    ("持续 2s", "持续两秒"),
    ("持续 2h", "持续两小时"),
    ("超过 12 min", "超过十二分钟"),
    ("内存 2 GiB", "内存两吉字节"),
    ("磁盘 512MB", "磁盘五百一十二兆字节"),
    ("使用率 99%", "使用率百分之九十九"),
    ("可用性 99.95%", "可用性百分之九十九点九五"),
    ("每秒 500 rps", "每秒五百次请求"),
    ("1.2k qps", "每秒一千二百次查询"),
    ("错误增加 3x", "错误增加三倍"),
    ("版本 v2.3.1 发布", "版本二点三点一发布"),
    ("升级到 v1.1.0", "升级到版本一点一点零"),
    ("主机 10.0.3.17 宕机", "主机十点零点三点十七宕机"),
    ("端口 10.0.0.1:8080", "端口十点零点零点一端口八零八零"),
    ("tts-inference 的延迟", "TTS inference 的延迟"),
    ("db-1.prod 异常", "DB 一点 prod 异常"),
    ("出现 502 错误", "出现五零二错误"),
    ("5xx 错误", "五XX 错误"),
    ("下午 15:30 开始", "下午三点三十分开始"),
    ("下午 3:30 开始", "下午三点三十分开始"),
    ("03:12 开始", "凌晨三点十二分开始"),
    ("12:00 恢复", "中午十二点恢复"),
    ("大量 503s", "大量五零三错误"),
    ("09:05 恢复", "上午九点零五分恢复"),
    ("02:00 恢复", "凌晨两点恢复"),
    ("03:12 UTC 开始", "UTC时间凌晨三点十二分开始"),
    ("于 2024-05-01T03:12:00Z 触发", "于五月一日 UTC时间凌晨三点十二分触发"),
    # Herald's markup replaces the characters with toned pinyin
    ("请联系蚌埠(beng4 bu4)机房", "请联系 beng4 bu4 机房"),
    ("去蚌埠（beng4 bu4）", "去 beng4 bu4"),
    ("绿(lü4)色", "lv4 色"),
    ("服务正常。", "服务正常。"),
]


@pytest.mark.parametrize(("text", "expected"), ENGLISH, ids=[t for t, _ in ENGLISH])
def test_english(text: str, expected: str) -> None:
    assert normalize(text, language="en") == expected


@pytest.mark.parametrize(("text", "expected"), CHINESE, ids=[t for t, _ in CHINESE])
def test_chinese(text: str, expected: str) -> None:
    assert normalize(text, language="zh") == expected


LISTENER_TIMES = [
    ("Started 2024-03-10T09:30:00Z", "America/Los_Angeles", "en", "Started March tenth, one thirty AM"),
    ("Started 2024-07-10T09:30:00Z", "America/Los_Angeles", "en", "Started July tenth, two thirty AM"),
    ("Started at 09:30 UTC", "Asia/Shanghai", "en", "Started at five thirty PM"),
    ("09:30 UTC 开始", "Asia/Shanghai", "zh", "下午五点三十分开始"),
    ("Fired 2024-05-01T23:45:00+00:00", "Asia/Tokyo", "en", "Fired May second, eight forty-five AM"),
    ("于 2024-05-01T16:00:00Z 触发", "Asia/Shanghai", "zh", "于五月二日凌晨零点触发"),
]


@pytest.mark.parametrize(("text", "zone", "language", "expected"), LISTENER_TIMES)
def test_times_in_the_listeners_zone(text: str, zone: str, language: str, expected: str) -> None:
    now = datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert normalize(text, language=language, timezone=zone, now=now) == expected


def test_glossary_replaces_terms_and_makes_pinyin_markup() -> None:
    glossary = {"蚌埠": "beng4 bu4", "k8s": "kates", "PagerDuty": "pager duty"}
    assert normalize("去蚌埠处理", glossary=glossary) == "去 beng4 bu4 处理"
    assert normalize("k8s is down, tell pagerduty", glossary=glossary) == "kates is down, tell pager duty"
    # a term already annotated is not annotated twice
    assert normalize("蚌埠(beng4 bu4)", glossary=glossary) == "beng4 bu4"
    # the glossary wins over the built-in reading, and only whole words match
    assert normalize("k8s-ingress", glossary=glossary) == "kubernetes ingress"


def test_fallback_voice_keeps_the_characters() -> None:
    assert normalize("去蚌埠(beng4 bu4)处理", keep_characters=True) == "去蚌埠处理"
    assert normalize("去蚌埠处理", glossary={"蚌埠": "beng4 bu4"}, keep_characters=True) == "去蚌埠处理"


@pytest.mark.parametrize(
    ("value", "language", "expected"),
    [
        ("4217", "en", "forty-two seventeen"),
        ("305", "en", "three oh five"),
        ("07", "en", "oh seven"),
        ("1000", "en", "one thousand"),
        ("123456", "en", "one two three four five six"),
        ("4217", "zh", "四二幺七"),
        ("1010", "zh", "幺零幺零"),
    ],
)
def test_identifiers(value: str, language: str, expected: str) -> None:
    assert identifier(value, language) == expected


def test_digits_and_language_detection() -> None:
    assert digits("90", "en") == "nine zero"
    assert detect_language("p99 延迟") == "zh"
    assert detect_language("p99 latency") == "en"
    assert normalize("事件 4217") == "事件四二幺七"  # language detected from the text
