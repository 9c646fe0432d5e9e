"""ingestion: indexes for open-alert counts per incident and VictorOps incident numbers

Revision ID: 0002_ingestion
Revises: 0001_core
Create Date: 2026-11-25 14:05:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002_ingestion"
down_revision: str | Sequence[str] | None = "0001_core"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index("ix_alerts_incident_status", ["incident_id", "status"], unique=False)
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.create_index("ix_incidents_external_id", ["external_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_index("ix_incidents_external_id")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_incident_status")
