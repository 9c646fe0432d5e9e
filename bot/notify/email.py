"""The e-mail channel: one plain-text message per notification over SMTP (smtplib, STARTTLS when offered).

The Message-ID is derived from the notification's idempotency key, so a message resent after a crash (the window
between the SMTP server's 250 and our commit) carries the same Message-ID and mail systems can fold the duplicate.
A recipient the server refuses (5xx) is a permanent failure (fall back at once); anything else is retried.
"""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import formatdate

from bot.notify.channels import ChannelName, DeliveryError, OutgoingMessage

__all__ = ["EmailChannel", "message_id"]


def message_id(key: str) -> str:
    safe = "".join(c if c.isalnum() or c in ".-" else "." for c in key)
    return f"<{safe}@herald>"


class EmailChannel:
    name = ChannelName.EMAIL.value

    def __init__(self, host: str, port: int, sender: str, *, timeout: float = 15.0) -> None:
        self._host = host
        self._port = port
        self._sender = sender
        self._timeout = timeout

    def compose(self, message: OutgoingMessage) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self._sender
        mail["To"] = message.address
        mail["Subject"] = message.subject
        mail["Message-ID"] = message_id(message.idempotency_key)
        mail["Date"] = formatdate(localtime=False)
        mail["X-Herald-Notification"] = str(message.notification_id)
        if message.incident_number is not None:
            mail["X-Herald-Incident"] = str(message.incident_number)
        mail.set_content(message.text)
        return mail

    def send(self, message: OutgoingMessage) -> str | None:
        mail = self.compose(message)
        try:
            with smtplib.SMTP(self._host, self._port, timeout=self._timeout) as smtp:
                smtp.ehlo()
                if smtp.has_extn("starttls"):
                    smtp.starttls()
                    smtp.ehlo()
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(f"recipient refused: {exc.recipients}", permanent=True) from None
        except smtplib.SMTPResponseException as exc:
            reason = f"SMTP {exc.smtp_code}: {exc.smtp_error!r}"
            raise DeliveryError(reason, permanent=500 <= exc.smtp_code < 600) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP {self._host}:{self._port} unreachable: {exc}") from None
        return mail["Message-ID"]
