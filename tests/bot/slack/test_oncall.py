"""`/oncall` and the on-call half of the permission rule, answered from the schedules domain."""

from __future__ import annotations

from tests.bot.slack.conftest import MARA, OUTSIDER, open_incident, state_of

WEEKLY = {
    "name": "mlops-primary",
    "time_zone": "Europe/Stockholm",
    "team": "mlops",
    "layers": [
        {
            "name": "weekly",
            "rotation": "1w",
            "start": "2025-11-17T09:00:00",
            "participants": ["olle.outsider@example.com", "mara.lindqvist@example.com"],
        }
    ],
}


def test_oncall_names_now_and_next_with_hand_off_times_for_each_reader(herald, slack) -> None:
    assert herald.client.put("/api/v1/schedules/mlops-primary", json=WEEKLY).is_success
    answer = slack.command("/oncall", "mlops").json()
    assert answer["response_type"] == "ephemeral"
    line = answer["text"].splitlines()[1]
    assert line.startswith("• *mlops-primary*: now Olle Outsider until ") and "; next " in line
    # the hand-off is a Slack date token (shown in each reader's zone) with the caller's zone as fallback
    assert "<!date^1763971200^{date_short_pretty} {time}|Mon 24 Nov 09:00 CET>" in line
    assert slack.command("/oncall", "mlops-primary").json()["text"].splitlines()[1] == line
    assert slack.command("/oncall").json()["text"].splitlines()[1] == line  # the caller's own teams
    assert "no team or schedule named 'nope'" in slack.command("/oncall", "nope").json()["text"]


def test_the_on_call_of_the_team_may_act_without_being_a_responder(herald, slack) -> None:
    assert herald.client.put("/api/v1/schedules/mlops-primary", json=WEEKLY).is_success
    number = open_incident(herald, assignee=None)
    assert "may not" in slack.command("/ack", str(number), user=MARA).json()["text"]  # in the team, not on call
    assert "acknowledged" in slack.command("/ack", str(number), user=OUTSIDER).json()["text"]  # on call this week
    assert state_of(herald, number) == "acknowledged"
