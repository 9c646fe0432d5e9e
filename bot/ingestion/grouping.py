"""Grouping rules: which open incident an alert joins.

Rules come from a YAML file (`HERALD_GROUPING_RULES_FILE`), a list of

    - name: tts-inference-critical
      match: {service: tts-inference, severity: critical}   # label → value; values are anchored regexes
      group_by: [service, env]                               # alerts with equal values share one incident

The first rule whose `match` holds decides; its group is the rule name plus the `group_by` values (a missing label
counts as empty, as in Alertmanager). `match` sees the alert's labels plus `routing_key` and `source`. Values are
matched like Prometheus `=~` matchers (the whole value must match), so a plain string matches itself. When no rule
matches, the source's own grouping applies: one Alertmanager group (`groupKey`) is one incident, and a VictorOps
`entity_id` within its routing key is one incident. Groups are always scoped to the alert's service.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.errors import InvalidInput
from bot.ingestion.event import AlertEvent, bounded


@dataclass(frozen=True)
class GroupingRule:
    name: str
    match: tuple[tuple[str, re.Pattern[str]], ...]
    group_by: tuple[str, ...]

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(pattern.fullmatch(labels.get(label, "")) for label, pattern in self.match)


def match_labels(event: AlertEvent) -> dict[str, str]:
    return {**event.labels, "routing_key": event.routing_key, "source": event.source}


def group_key(event: AlertEvent, rules: Sequence[GroupingRule]) -> str:
    labels = match_labels(event)
    for rule in rules:
        if rule.matches(labels):
            values = ",".join(f"{label}={labels.get(label, '')}" for label in rule.group_by)
            return bounded(f"rule:{rule.name}:{values}", 500)
    return event.default_group


def parse_rules(data: Any, origin: str = "grouping rules") -> list[GroupingRule]:
    """Rules from parsed YAML; a mistake names the rule and the field at fault."""
    if data is None:
        return []
    if isinstance(data, dict) and "rules" in data:
        data = data["rules"]
    if not isinstance(data, list):
        raise InvalidInput(f"{origin}: expected a list of rules")
    rules, names = [], set()
    for index, item in enumerate(data, start=1):
        where = f"{origin}: rule {index}"
        if not isinstance(item, dict):
            raise InvalidInput(f"{where}: expected a mapping with name, match and group_by")
        unknown = set(item) - {"name", "match", "group_by"}
        if unknown:
            raise InvalidInput(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            raise InvalidInput(f"{where}: 'name' must be a non-empty string")
        if name in names:
            raise InvalidInput(f"{where}: duplicate rule name {name!r}")
        names.add(name)
        match = item.get("match") or {}
        if not isinstance(match, dict) or not all(isinstance(k, str) for k in match):
            raise InvalidInput(f"{where} ({name}): 'match' must map label names to values")
        group_by = item.get("group_by") or []
        if not isinstance(group_by, list) or not all(isinstance(g, str) for g in group_by):
            raise InvalidInput(f"{where} ({name}): 'group_by' must be a list of label names")
        patterns = []
        for label, value in match.items():
            try:
                patterns.append((label, re.compile(str(value))))
            except re.error as exc:
                raise InvalidInput(f"{where} ({name}): match.{label}: bad regular expression: {exc}") from None
        rules.append(GroupingRule(name=name, match=tuple(patterns), group_by=tuple(group_by)))
    return rules


def load_rules(path: Path | None) -> list[GroupingRule]:
    if path is None:
        return []
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"HERALD_GROUPING_RULES_FILE {path}: cannot read it ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"HERALD_GROUPING_RULES_FILE {path}: not valid YAML: {exc}") from None
    return parse_rules(data, origin=str(path))
