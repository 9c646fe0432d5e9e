"""The e-mail channel against a real SMTP server on loopback (aiosmtpd)."""

from __future__ import annotations

import pytest

from bot.notify.channels import DeliveryError, OutgoingMessage
from bot.notify.email import EmailChannel, message_id
from tests.fakes.smtp import smtp_server


def _message(key: str = "step:7:3:email") -> OutgoingMessage:
    return OutgoingMessage(
        notification_id=12,
        idempotency_key=key,
        channel="email",
        address="mara@company.com",
        recipient="Mara",
        kind="page",
        subject="[P1] #42 TTSInferenceP95LatencyHigh",
        text="Incident #42 (P1, tts-inference) is triggered.",
        incident_number=42,
    )


def test_a_page_arrives_with_a_stable_message_id() -> None:
    with smtp_server() as smtp:
        channel = EmailChannel(smtp.host, smtp.port, "herald@company.com")
        provider_id = channel.send(_message())
        [mail] = smtp.received()
    assert mail["To"] == "mara@company.com" and mail["From"] == "herald@company.com"
    assert mail["Subject"] == "[P1] #42 TTSInferenceP95LatencyHigh"
    assert mail["Message-ID"] == provider_id == message_id("step:7:3:email")
    assert mail["X-Herald-Incident"] == "42"
    assert "is triggered" in mail.get_payload()


def test_temporary_refusal_is_retryable_and_permanent_refusal_is_not() -> None:
    with smtp_server() as smtp:
        channel = EmailChannel(smtp.host, smtp.port, "herald@company.com")
        smtp.refuse_next.append("451 try again later")
        with pytest.raises(DeliveryError) as temporary:
            channel.send(_message())
        smtp.refuse_next.append("554 no such mailbox")
        with pytest.raises(DeliveryError) as permanent:
            channel.send(_message())
        assert smtp.received() == []
    assert not temporary.value.permanent and "451" in temporary.value.reason
    assert permanent.value.permanent


def test_unreachable_server_is_a_transient_failure() -> None:
    from tests.support.server import free_port

    with pytest.raises(DeliveryError) as failure:
        EmailChannel("127.0.0.1", free_port(), "herald@company.com", timeout=2).send(_message())
    assert not failure.value.permanent and "unreachable" in failure.value.reason
