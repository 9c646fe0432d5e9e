"""The incident's timeline as a picture (PNG and SVG, matplotlib): alerts, escalation levels, notifications,
acknowledgement and resolution on one time axis, with the SLA deadline.

Lanes from top to bottom: Alerts (each alert from first to last seen, a mark where it resolved), Escalation (one mark
per level fired), Notifications (one mark per attempt, shaped by channel, coloured by outcome) and Response
(acknowledged, resolved). Vertical lines carry the acknowledgement, the resolution and the SLA deadline across all
lanes, so "paged at 14:03:05, answered at 14:03:42, deadline 14:07:47" reads at a glance.

Uses matplotlib's object API (`Figure`, no pyplot state), so it is safe in the server's worker threads, with the
Agg/SVG backends only. SVG output is made reproducible (fixed hash salt, no date) so the same incident gives the
same file.
"""

from __future__ import annotations

import io
from datetime import datetime, timedelta

import matplotlib
import matplotlib.dates as mdates
from matplotlib.figure import Figure

from bot.postmortem.build import CHANNEL_LABELS, Facts

LANES = ("Response", "Notifications", "Escalation", "Alerts")
Y = {name: index for index, name in enumerate(LANES)}
COLOURS = {
    "alert": "#d62728",
    "alert_resolved": "#2ca02c",
    "level": "#9467bd",
    "acknowledged": "#e6a700",
    "resolved": "#2ca02c",
    "sla": "#d62728",
}
OUTCOME_COLOURS = {
    "sent": "#1f77b4",
    "acknowledged": "#e6a700",
    "failed": "#d62728",
    "cancelled": "#7f7f7f",
    "pending": "#bcbd22",
}
CHANNEL_MARKERS = {"voice": "P", "slack_dm": "o", "slack_channel": "s", "email": "v"}


def png(facts: Facts, *, dpi: int = 110) -> bytes:
    return _save(_figure(facts), "png", dpi=dpi)


def svg(facts: Facts) -> bytes:
    return _save(_figure(facts), "svg")


def _figure(facts: Facts) -> Figure:
    start, end = _span(facts)
    figure = Figure(figsize=(10, 3.6), layout="constrained")
    axes = figure.add_subplot()
    axes.set_title(f"Incident #{facts.number}: {_clip(facts.title, 90)}", loc="left", fontsize=10)
    axes.set_yticks(range(len(LANES)), LANES)
    axes.set_ylim(-0.6, len(LANES) - 0.4)
    axes.set_xlim(start, end)
    axes.grid(axis="x", color="#dddddd", linewidth=0.6)
    axes.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=start.tzinfo))
    axes.set_xlabel(f"UTC, {start:%Y-%m-%d}")
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)

    for alert in facts.alerts:
        until = alert.resolved_at or alert.last_seen
        axes.plot([alert.first_seen, until], [Y["Alerts"]] * 2, color=COLOURS["alert"], linewidth=4, alpha=0.35)
        axes.plot(alert.first_seen, Y["Alerts"], marker="^", color=COLOURS["alert"], markersize=8)
        if alert.resolved_at is not None:
            axes.plot(alert.resolved_at, Y["Alerts"], marker="^", color=COLOURS["alert_resolved"], markersize=8)
    for level in facts.levels:
        axes.plot(level.at, Y["Escalation"], marker="D", color=COLOURS["level"], markersize=7)
        label = f"L{level.level}" + (f"·r{level.round}" if level.round else "")
        axes.annotate(label, (level.at, Y["Escalation"]), textcoords="offset points", xytext=(0, 8), fontsize=7)
    labelled: set[str] = set()
    for page, offset in zip(facts.pages, _stack([p.at for p in facts.pages]), strict=True):
        label = f"{CHANNEL_LABELS.get(page.channel, page.channel)}: {page.status}"
        axes.plot(
            page.at,
            Y["Notifications"] + offset,
            marker=CHANNEL_MARKERS.get(page.channel, "o"),
            color=OUTCOME_COLOURS.get(page.status, "#1f77b4"),
            markersize=7,
            linestyle="none",
            label=None if label in labelled else label,
        )
        labelled.add(label)
    if labelled:
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False, title="Notifications")
    for when, what in ((facts.acknowledged_at, "acknowledged"), (facts.resolved_at, "resolved")):
        if when is None:
            continue
        axes.axvline(when, color=COLOURS[what], linewidth=1.2)
        axes.plot(when, Y["Response"], marker="*", color=COLOURS[what], markersize=12)
        axes.annotate(what, (when, Y["Response"]), textcoords="offset points", xytext=(4, -12), fontsize=7)
    if facts.sla and facts.sla.due_at:
        axes.axvline(facts.sla.due_at, color=COLOURS["sla"], linewidth=1, linestyle="--")
        axes.annotate(
            "SLA " + ("breached" if facts.sla.breached else "deadline"),
            (facts.sla.due_at, len(LANES) - 0.5),
            textcoords="offset points",
            xytext=(3, 0),
            fontsize=7,
            color=COLOURS["sla"],
        )
    return figure


def _stack(times: list[datetime]) -> list[float]:
    """Vertical offsets that spread marks sharing a second (phone and Slack DM of one level) within their lane."""
    seen: dict[datetime, int] = {}
    ranks = []
    for moment in times:
        key = moment.replace(microsecond=0)
        ranks.append(seen.get(key, 0))
        seen[key] = ranks[-1] + 1
    return [0.15 * (rank - (seen[t.replace(microsecond=0)] - 1) / 2) for rank, t in zip(ranks, times, strict=True)]


def _span(facts: Facts) -> tuple[datetime, datetime]:
    times = [facts.created_at, facts.generated_at if facts.resolved_at is None else facts.resolved_at]
    times += [t for a in facts.alerts for t in (a.first_seen, a.last_seen)]
    times += [p.at for p in facts.pages] + [lv.at for lv in facts.levels]
    if facts.sla and facts.sla.due_at:
        times.append(facts.sla.due_at)
    start, end = min(times), max(times)
    margin = max((end - start) * 0.04, timedelta(seconds=30))
    return start - margin, end + margin


def _save(figure: Figure, fmt: str, **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    metadata = {"Date": None} if fmt == "svg" else {"Software": "Herald"}
    with matplotlib.rc_context({"svg.hashsalt": "herald", "svg.fonttype": "path"}):
        figure.savefig(buffer, format=fmt, metadata=metadata, **kwargs)
    return buffer.getvalue()


def _clip(text: str, limit: int) -> str:
    """Clipped, with `$` escaped (matplotlib would read `$...$` in an alert title as mathtext)."""
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return text.replace("$", r"\$")
