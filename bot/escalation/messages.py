"""The words of each notification, rendered when the notification is created (so retries send the same text)."""

from __future__ import annotations

from datetime import datetime

from bot.incidents.models import Incident

DRILL = "[DRILL] This is a drill: no real incident. "


def page(incident: Incident, *, level: int, round_: int) -> tuple[str, str]:
    drill = DRILL if incident.is_drill else ""
    service = incident.service.name if incident.service else "no service"
    subject = f"{'[DRILL] ' if incident.is_drill else ''}[{incident.severity}] #{incident.number} {incident.title}"
    repeat = f", repeat {round_}" if round_ else ""
    body = (
        f"{drill}Incident #{incident.number} ({incident.severity}, {service}) is {incident.state}: {incident.title}.\n"
        f"{incident.summary}\n".lstrip("\n")
        + f"You are paged at escalation level {level + 1}{repeat}. Acknowledge to stop the escalation."
    )
    return subject, body


def nobody(incident: Incident, *, level: int, problems: list[str]) -> tuple[str, str]:
    subject = f"Escalation of #{incident.number} reached nobody at level {level + 1}"
    body = (
        f"Incident #{incident.number} ({incident.severity}) {incident.title}: level {level + 1} of its escalation "
        f"policy reached nobody ({'; '.join(problems) or 'no targets'}). Moving on to the next level now."
    )
    return subject, body


def exhausted(incident: Incident) -> tuple[str, str]:
    subject = f"Nobody acknowledged #{incident.number}"
    body = (
        f"Incident #{incident.number} ({incident.severity}) {incident.title}: the escalation policy is spent and "
        "nobody acknowledged. Someone please take it."
    )
    return subject, body


def channel_post(incident: Incident, *, level: int) -> tuple[str, str]:
    subject, body = page(incident, level=level, round_=0)
    return subject, body.replace("You are paged", "Paging")


def ack_reminder(incident: Incident, *, since: datetime, grace_minutes: int) -> tuple[str, str]:
    subject = f"Still on it? #{incident.number} acknowledged but not resolved"
    body = (
        f"You acknowledged incident #{incident.number} ({incident.title}) at {since:%H:%M} UTC and it is still open. "
        f"Resolve it, or it returns to triggered and escalates again in {grace_minutes} min."
    )
    return subject, body


def fallback(incident: Incident | None, *, person: str, failed_channel: str, error: str) -> tuple[str, str]:
    about = f" about #{incident.number} {incident.title}" if incident else ""
    subject = f"Could not reach {person} by {failed_channel}{about}"
    return subject, f"{subject}: {error}."


def shift_reminder(*, schedule: str, start: datetime, end: datetime) -> tuple[str, str]:
    subject = f"Your on-call shift for {schedule} starts at {start:%Y-%m-%d %H:%M} UTC"
    return subject, f"{subject} and ends at {end:%Y-%m-%d %H:%M} UTC."


def digest(team: str, incidents: list[Incident], *, day: str) -> tuple[str, str]:
    subject = f"P3 digest for {team}, {day}: {len(incidents)} incident(s)"
    lines = [f"• #{i.number} {i.title} ({i.state})" for i in incidents]
    return subject, "\n".join([subject, *lines])
