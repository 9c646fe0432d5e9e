"""Imports every domain's models so that `Base.metadata` is complete (for Alembic and test fixtures)."""

from bot.directory import models as directory_models
from bot.incidents import models as incident_models
from bot.ingestion import models as ingestion_models
from bot.notify import outbox

__all__ = ["directory_models", "incident_models", "ingestion_models", "outbox"]
