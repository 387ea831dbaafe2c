"""case file rules (issue 19, part B): parties' sex, ethnicity and address; the agreement's facts;
the court's outcome of a judicial confirmation

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 09:30:00

- party: sex, ethnicity, address (encrypted, with its masked form), as the 受理登记表 asks;
- agreement: facts (纠纷主要事实、争议事项, 人民调解法 Art 29);
- court_outcome: applied / filed / confirmed / refused, one row per step of a 司法确认 of a
  written agreement (Art 33), counted once per case in the monthly report.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("party", sa.Column("sex", sa.String(8)))
    op.add_column("party", sa.Column("ethnicity", sa.String(16)))
    op.add_column("party", sa.Column("address_enc", sa.LargeBinary()))
    op.add_column("party", sa.Column("address_masked", sa.String(120)))
    op.add_column("agreement", sa.Column("facts", sa.Text()))
    op.create_table(
        "court_outcome",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "dispute_id",
            UUID(as_uuid=True),
            sa.ForeignKey("dispute.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "agreement_id",
            sa.Integer(),
            sa.ForeignKey("agreement.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("court", sa.String(200)),
        sa.Column("decided_on", sa.Date(), nullable=False),
        sa.Column("note", sa.Text()),
        sa.Column("recorded_by", sa.Integer(), sa.ForeignKey("user_account.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cell_code", sa.String(15), nullable=False),
    )
    op.create_index("ix_court_outcome_dispute_id", "court_outcome", ["dispute_id"])
    op.create_index("ix_court_outcome_cell_decided", "court_outcome", ["cell_code", "decided_on"])


def downgrade():
    op.drop_table("court_outcome")
    op.drop_column("agreement", "facts")
    for col in ("address_masked", "address_enc", "ethnicity", "sex"):
        op.drop_column("party", col)
