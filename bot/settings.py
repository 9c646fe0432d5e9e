"""Herald's settings: every knob is a `HERALD_*` environment variable (or a line in `.env`).

Nothing else in `bot/` reads `os.environ`; `create_app(settings)` passes a `Settings` down, so a test can build one
app on SQLite and another on PostgreSQL side by side. Every field is documented in the README's settings table.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_API_TOKEN = "herald-dev-token"
DEV_INTEGRATION_KEY = "herald-dev-key"


class Settings(BaseSettings):
    """Herald configuration; defaults give a working single-host install with no accounts."""

    model_config = SettingsConfigDict(env_prefix="HERALD_", env_file=".env", env_ignore_empty=True, extra="ignore")

    environment: Literal["development", "production"] = "development"
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = Field(default="", description="Base URL that phones and browsers reach Herald at")
    data_dir: Path = Path("var")
    database_url: str = ""
    auto_migrate: bool = True
    api_token: SecretStr = SecretStr(DEV_API_TOKEN)
    integration_key: SecretStr = SecretStr(DEV_INTEGRATION_KEY)
    max_body_bytes: int = 1024 * 1024
    log_level: str = "INFO"

    # Incident policy.
    sla_ack_minutes_p1: int = 5
    sla_ack_minutes_p2: int = 30
    sla_ack_minutes_p3: int = 0

    # Escalation engine (bot/escalation).
    escalation_poll_seconds: float = 1.0
    escalation_sweep_seconds: float = 60.0
    ack_timeout_minutes: int = 30
    ack_reminder_grace_minutes: int = 5
    notify_throttle: str = "voice=3/15m,slack_dm=10/15m,email=10/15m"
    p3_digest_time: str = "09:00"
    default_escalation_policy: str = ""
    clock_file: Path | None = Field(default=None, description="Testing aid: read the current time from this file")
    grouping_rules_file: Path | None = None

    # Outbox (durable retries of everything that leaves Herald).
    outbox_poll_seconds: float = 1.0
    outbox_max_attempts: int = 12
    outbox_backoff_base_seconds: float = 2.0
    outbox_backoff_max_seconds: float = 600.0

    # VictorOps / Splunk On-Call public API (two-way sync).
    victorops_api_id: str = ""
    victorops_api_key: SecretStr = SecretStr("")
    victorops_api_url: str = "https://api.victorops.com"
    victorops_user: str = "herald"

    # Slack.
    slack_bot_token: SecretStr = SecretStr("")
    slack_signing_secret: SecretStr = SecretStr("")
    slack_app_token: SecretStr = SecretStr("")
    slack_api_url: str = "https://slack.com/api/"
    slack_default_channel: str = "#incidents"

    # Telephony.
    telephony: Literal["simulated", "twilio"] = "simulated"
    twilio_account_sid: str = ""
    twilio_auth_token: SecretStr = SecretStr("")
    twilio_from_number: str = ""
    twilio_api_url: str = "https://api.twilio.com"
    telephony_simulated_script: str = "listen"  # what simulated callees do: `listen;+15550100=press:1;+1555...=busy`

    # Voice callouts (bot/voice).
    voice_max_seconds: float = 20.0
    voice_group_seconds: int = 60
    voice_ring_seconds: int = 30
    voice_audio_ttl_seconds: int = 900
    voice_templates_dir: Path | None = None

    # Speech.
    tts_model_dir: Path | None = None
    tts_url: str = ""
    tts_timeout_seconds: float = 120.0
    tts_max_concurrency: int = 1
    tts_queue_limit: int = 8

    # Post-mortems (bot/postmortem): a folder of jinja2 templates overriding the built-in ones, per team in <team>/.
    postmortem_templates_dir: Path | None = None

    # E-mail.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_from: str = "herald@localhost"

    # Web console (bot/web): signed session cookies; an empty secret is derived from HERALD_API_TOKEN.
    session_secret: SecretStr = SecretStr("")
    session_hours: int = 168

    @field_validator("database_url")
    @classmethod
    def _normalise_driver(cls, value: str) -> str:
        """Accept the URLs people paste (`postgres://`, `postgresql://`) and pick the psycopg 3 driver."""
        for prefix in ("postgres://", "postgresql://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value[len(prefix) :]
        return value

    @property
    def effective_database_url(self) -> str:
        """The configured URL, or a SQLite file under `data_dir`."""
        return self.database_url or f"sqlite:///{(self.data_dir / 'herald.db').as_posix()}"

    @property
    def effective_public_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    @property
    def slack_configured(self) -> bool:
        return bool(self.slack_bot_token.get_secret_value())

    def insecure_defaults(self) -> list[str]:
        """Names of secrets still at their development values (refused in production)."""
        found = []
        if self.api_token.get_secret_value() == DEV_API_TOKEN:
            found.append("HERALD_API_TOKEN")
        if self.integration_key.get_secret_value() == DEV_INTEGRATION_KEY:
            found.append("HERALD_INTEGRATION_KEY")
        return found


@lru_cache
def get_settings() -> Settings:
    """Settings from the process environment (the CLI's entry point; tests build `Settings(...)` directly)."""
    return Settings()
