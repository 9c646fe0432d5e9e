"""Imports every domain's models so that `Base.metadata` is complete (for Alembic and test fixtures)."""

from bot.directory import models as directory_models
from bot.escalation import models as escalation_models
from bot.incidents import models as incident_models
from bot.ingestion import models as ingestion_models
from bot.notify import outbox
from bot.schedules import models as schedule_models
from bot.slack import models as slack_models
from bot.voice import models as voice_models

__all__ = [
    "directory_models",
    "escalation_models",
    "incident_models",
    "ingestion_models",
    "outbox",
    "schedule_models",
    "slack_models",
    "voice_models",
]
