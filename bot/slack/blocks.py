"""Block Kit rendering of incidents, and the escaping that keeps text from outside harmless.

Alert titles and summaries come from monitoring tools, i.e. from anyone who can make an alert fire. Slack's mrkdwn
turns `<!channel>`, `<!here>`, `<@U123>`, `<#C123>` and `<https://x|label>` into pings and disguised links, so
every piece of outside text goes through `escape()` (Slack's own rule: `&`, `<`, `>` as entities) and loses the
bare `@channel`/`@here`/`@everyone` words to a zero-width joiner; text objects carrying it are `verbatim`, which
stops Slack from auto-linking names and URLs. Mentions Herald means (the assignee) are added by this module only,
from Slack ids it looked up itself.

Everything here is pure: an `IncidentView` snapshot in, a `(fallback_text, blocks)` pair out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.incidents.models import Incident, TimelineEntry

ACK = "herald_ack"
RESOLVE = "herald_resolve"
ESCALATE = "herald_escalate"
VOICE = "herald_voice_summary"

_BROADCAST = re.compile(r"@(channel|here|everyone)\b", re.IGNORECASE)
_SEVERITY_ICON = {"P1": ":rotating_light:", "P2": ":warning:", "P3": ":information_source:"}
_STATE_ICON = {"triggered": ":red_circle:", "acknowledged": ":large_yellow_circle:", "resolved": ":large_green_circle:"}
_SOURCE_LABEL = {
    "victorops": "VictorOps",
    "victorops-mirror": "VictorOps",
    "alertmanager": "Alertmanager",
    "manual": "manual",
    "slack": "Slack",
}
SUMMARY_CHARS = 600


def escape(text: str) -> str:
    """Outside text made inert for mrkdwn: no mentions, no broadcasts, no disguised links."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BROADCAST.sub(lambda m: "@\u2060" + m.group(1), text)


def clip(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


@dataclass(frozen=True)
class IncidentView:
    """What the incident message shows, read in one transaction and rendered outside it."""

    number: int
    title: str
    summary: str
    severity: str
    state: str
    source: str
    service: str | None
    created_at: datetime
    alert_count: int
    assignee: str | None = None
    assignee_slack_id: str | None = None
    external_id: str | None = None
    acknowledged_by: str | None = None
    resolved_by: str | None = None
    is_drill: bool = False

    @classmethod
    def of(cls, incident: Incident) -> IncidentView:
        """Read inside the session that loaded `incident` (service and assignee load lazily)."""
        assignee = incident.assignee
        return cls(
            number=incident.number,
            title=incident.title,
            summary=incident.summary,
            severity=incident.severity,
            state=incident.state,
            source=incident.source,
            service=incident.service.name if incident.service else None,
            created_at=incident.created_at,
            alert_count=incident.alert_count,
            assignee=assignee.name if assignee else None,
            assignee_slack_id=assignee.slack_id if assignee else None,
            external_id=incident.external_id,
            acknowledged_by=incident.acknowledged_by,
            resolved_by=incident.resolved_by,
            is_drill=incident.is_drill,
        )


def mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def button(label: str, action_id: str, number: int, style: str | None = None) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "button", "action_id": action_id, "text": plain(label), "value": str(number)}
    if style:
        element["style"] = style
    return element


def slack_date(when: datetime, token: str = "{date_short_pretty} {time}") -> str:
    """A date Slack renders in each reader's own time zone (`{ago}` keeps an age current without edits)."""
    return f"<!date^{int(when.timestamp())}^{token}|{when:%Y-%m-%d %H:%M} UTC>"


def incident_text(view: IncidentView) -> str:
    """The notification/fallback line: shown in push notifications and by clients without blocks."""
    state = view.state.upper()
    return f"{state} {view.severity} incident #{view.number}: {escape(clip(view.title, 200))}"


def incident_blocks(view: IncidentView) -> list[dict[str, Any]]:
    drill = " · _drill_" if view.is_drill else ""
    source = _SOURCE_LABEL.get(view.source, view.source)
    if view.external_id and view.source.startswith("victorops"):
        source += f" {escape(view.external_id)}"
    header = (
        f"{_SEVERITY_ICON.get(view.severity, '')} *{view.severity}* · {_STATE_ICON.get(view.state, '')} "
        f"*{view.state.upper()}* · incident #{view.number} ({source}){drill}\n*{escape(clip(view.title, 300))}*"
    )
    blocks: list[dict[str, Any]] = [{"type": "section", "block_id": "incident_header", "text": mrkdwn(header)}]
    if view.summary.strip():
        blocks.append(
            {
                "type": "section",
                "block_id": "incident_summary",
                "text": mrkdwn(escape(clip(view.summary, SUMMARY_CHARS))),
            }
        )
    blocks.append({"type": "section", "block_id": "incident_fields", "fields": _fields(view)})
    actions = _actions(view)
    if actions:
        blocks.append({"type": "actions", "block_id": "incident_actions", "elements": actions})
    return blocks


def _fields(view: IncidentView) -> list[dict[str, Any]]:
    if view.assignee_slack_id:
        assignee = f"<@{view.assignee_slack_id}>"
    else:
        assignee = escape(view.assignee) if view.assignee else "_unassigned_"
    fields = [
        mrkdwn(f"*Service*\n{escape(view.service) if view.service else '_none_'}"),
        mrkdwn(f"*Assignee*\n{assignee}"),
        mrkdwn(f"*Opened*\n{slack_date(view.created_at, '{ago}')}"),
        mrkdwn(f"*Alerts*\n{view.alert_count}"),
    ]
    if view.acknowledged_by:
        fields.append(mrkdwn(f"*Acknowledged by*\n{escape(view.acknowledged_by)}"))
    if view.resolved_by:
        fields.append(mrkdwn(f"*Resolved by*\n{escape(view.resolved_by)}"))
    return fields


def _actions(view: IncidentView) -> list[dict[str, Any]]:
    n = view.number
    if view.state == "resolved":
        return [button("Play voice summary", VOICE, n)]
    buttons = []
    if view.state == "triggered":
        buttons.append(button("Acknowledge", ACK, n, "primary"))
    buttons += [
        button("Resolve", RESOLVE, n, "danger" if view.state == "triggered" else "primary"),
        button("Escalate now", ESCALATE, n),
        button("Play voice summary", VOICE, n),
    ]
    return buttons


def timeline_text(entry: TimelineEntry) -> str:
    """One timeline entry as a thread reply."""
    return f"{slack_date(entry.at, '{time}')} *{escape(entry.kind.replace('_', ' '))}* · {escape(entry.message)}"


def alert_run_text(listed: Sequence[TimelineEntry], count: int) -> str:
    """`count` consecutive alert entries as one thread reply: a heading, the `listed` ones, and how many more."""
    lines = [f"*{count} alert changes*", *(timeline_text(entry) for entry in listed)]
    if count > len(listed):
        lines.append(f"… and {count - len(listed)} more on the incident's timeline")
    return "\n".join(lines)


def incident_list(views: Sequence[IncidentView], *, heading: str, action_id: str | None = None) -> list[dict]:
    """A compact list of incidents; with `action_id`, each line gets a button (the "which one?" answer)."""
    blocks: list[dict[str, Any]] = [{"type": "section", "text": mrkdwn(heading)}]
    for view in views[:20]:
        line = (
            f"{_STATE_ICON.get(view.state, '')} *#{view.number}* {view.severity} {view.state} · "
            f"{escape(clip(view.title, 120))}" + (f" · {escape(view.service)}" if view.service else "")
        )
        block: dict[str, Any] = {"type": "section", "text": mrkdwn(line)}
        if action_id:
            label = {ACK: "Acknowledge", RESOLVE: "Resolve"}.get(action_id, "Choose")
            block["accessory"] = button(label, action_id, view.number)
        blocks.append(block)
    if len(views) > 20:
        blocks.append({"type": "context", "elements": [mrkdwn(f"… and {len(views) - 20} more")]})
    return blocks


def incident_detail(view: IncidentView, entries: Iterable[TimelineEntry]) -> list[dict[str, Any]]:
    """`/incident show N`: the message itself followed by the last timeline entries."""
    recent = list(entries)[-10:]
    lines = "\n".join(timeline_text(e) for e in recent) or "_no timeline entries_"
    return [*incident_blocks(view), {"type": "section", "text": mrkdwn(f"*Timeline*\n{lines}")}]
