"""provisional deadlines (a year whose official holiday notice is not loaded)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 17:15:00

"""
from alembic import op
import sqlalchemy as sa

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column(
        'dispute',
        sa.Column('next_due_provisional', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    )
    # Open deadlines to count again when an official calendar is loaded
    op.create_index(
        'ix_dispute_due_provisional', 'dispute', ['next_due_at'],
        postgresql_where=sa.text('next_due_provisional'),
    )


def downgrade():
    op.drop_index('ix_dispute_due_provisional', table_name='dispute')
    op.drop_column('dispute', 'next_due_provisional')
