"""The VictorOps API client against the loopback fake: results, and which failures are worth retrying."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.victorops.client import VictorOpsClient, VictorOpsError
from tests.fakes.victorops import API_ID, API_KEY, FakeVictorOps, running_victorops
from tests.support.server import free_port


@pytest.fixture
def fake() -> Iterator[FakeVictorOps]:
    with running_victorops() as fake:
        fake.add_incident("42", entity_id="e-42", routing_key="rk")
        yield fake


def client_for(base_url: str, key: str = API_KEY) -> VictorOpsClient:
    return VictorOpsClient(base_url=base_url, api_id=API_ID, api_key=key, timeout=5)


def test_ack_and_resolve(fake: FakeVictorOps) -> None:
    client = client_for(fake.base_url)
    [result] = client.ack(["42"], user="herald", message="acked in Herald")
    assert (result.incident_number, result.entity_id, result.accepted) == ("42", "e-42", True)
    assert client.ack(["42"], user="herald", message="again")[0].accepted is False  # already acked
    assert client.resolve(["42"], user="herald", message="fixed")[0].accepted is True
    assert [i["currentPhase"] for i in client.incidents()] == ["RESOLVED"]
    assert fake.requests[0].body == {"userName": "herald", "incidentNames": ["42"], "message": "acked in Herald"}


def test_failures_say_whether_to_retry(fake: FakeVictorOps) -> None:
    fake.fail_next = 1
    with pytest.raises(VictorOpsError) as outage:
        client_for(fake.base_url).ack(["42"], user="herald", message="m")
    assert outage.value.retryable and outage.value.status == 503
    with pytest.raises(VictorOpsError) as refused:
        client_for(fake.base_url, key="wrong").ack(["42"], user="herald", message="m")
    assert not refused.value.retryable and refused.value.status == 401
    with pytest.raises(VictorOpsError) as unreachable:
        client_for(f"http://127.0.0.1:{free_port()}").incidents()
    assert unreachable.value.retryable
