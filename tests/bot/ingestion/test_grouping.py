"""Grouping rules: YAML in, group keys out; mistakes in the file are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import InvalidInput
from bot.incidents.states import Severity
from bot.ingestion.event import AlertAction, AlertEvent
from bot.ingestion.grouping import group_key, load_rules, parse_rules

RULES = """
- name: tts-critical
  match: {service: tts-inference, severity: critical}
  group_by: [service, env]
- name: canaries
  match: {routing_key: 'index-tts-.*-staging'}
  group_by: []
"""


def event(labels: dict[str, str], routing_key: str = "rk", default: str = "am:g1") -> AlertEvent:
    return AlertEvent(
        source="alertmanager",
        action=AlertAction.TRIGGER,
        routing_key=routing_key,
        dedup_key="d",
        default_group=default,
        severity=Severity.P1,
        labels=labels,
    )


def test_first_matching_rule_groups_by_its_labels(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES)
    rules = load_rules(path)
    critical = {"service": "tts-inference", "severity": "critical", "env": "prod"}
    assert group_key(event({**critical, "pod": "a"}), rules) == group_key(event({**critical, "pod": "b"}), rules)
    assert group_key(event(critical), rules) == "rule:tts-critical:service=tts-inference,env=prod"
    assert group_key(event({**critical, "env": "staging"}), rules) != group_key(event(critical), rules)
    warning = {**critical, "severity": "warning"}
    assert group_key(event(warning, default="am:g7"), rules) == "am:g7"  # no rule: the source's grouping
    assert group_key(event({}, routing_key="index-tts-2.0-staging"), rules) == "rule:canaries:"
    assert group_key(event({"service": "tts-inference-2", "severity": "critical"}), rules) == "am:g1"  # anchored


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("name: x", "list of rules"),
        ("- {match: {a: b}}", "'name'"),
        ("- {name: a, match: {a: '('}}", "bad regular expression"),
        ("- {name: a, group_by: service}", "group_by"),
        ("- {name: a, matches: {}}", "unknown key"),
        ("- {name: a}\n- {name: a}", "duplicate"),
        ("- [unclosed", "not valid YAML"),
    ],
)
def test_bad_rule_files_are_refused_with_the_reason(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    with pytest.raises(InvalidInput, match=fragment):
        load_rules(path)


def test_missing_file_and_empty_rules(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="cannot read"):
        load_rules(tmp_path / "nope.yaml")
    assert load_rules(None) == [] and parse_rules(None) == []
