"""the device time of an offline action on its audit event

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 17:00:00

An action made offline reaches the server later: `at` stays the server time (the order of the
audit trail, and what the reports count), `device_at` is when the phone recorded it (NULL for an
action taken online). The append-only trigger on dispute_event is not touched: adding a nullable
column rewrites no row.
"""

from alembic import op
import sqlalchemy as sa

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("dispute_event", sa.Column("device_at", sa.DateTime(timezone=True)))


def downgrade():
    op.drop_column("dispute_event", "device_at")
