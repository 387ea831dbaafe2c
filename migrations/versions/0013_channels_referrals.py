"""channels and referrals (issue 20): partners, signed intake, dispatch, referral loop

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 09:30:00

- partner systems (12345, 信访, 110, courts) with revocable, expiring, scoped credentials (the
  HMAC secret is kept encrypted: the server must recompute the signature), and a call log that
  holds no personal data;
- a dispute may come "not located": an address and a village instead of a point. It then has no
  location, `located` is false and its `cell_code` holds the village code (the finest area it
  was routed to), so every range query over cell codes still counts it. A check constraint keeps
  "located with a point in a cell, or not located and routed to its village";
- one case per (partner, reference) — the database's unique index, not a lock;
- the outbox carries results going back to a partner (no reminder, a destination, a dedupe key);
- the registry of mediation bodies, dispatch (派单), referrals as a loop, 挂牌督办/批示, 包案 progress.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade():
    op.create_table(
        "partner",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.String(40), nullable=False, unique=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("area_code", sa.String(12), nullable=False),
        sa.Column("result_url", sa.String(500)),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("user_account.id"), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.text("true")),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "partner_credential",
        sa.Column("key_id", sa.String(40), primary_key=True),
        sa.Column("partner_id", sa.Integer, sa.ForeignKey("partner.id"), nullable=False),
        sa.Column("secret_enc", sa.LargeBinary, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("revoked_at", TS),
    )
    op.create_table(
        "partner_call",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("partner_id", sa.Integer, sa.ForeignKey("partner.id")),
        sa.Column("key_id", sa.String(40)),
        sa.Column("at", TS, nullable=False),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("path", sa.String(200), nullable=False),
        sa.Column("reference", sa.String(64)),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("result", sa.String(40), nullable=False),
        sa.Column("dispute_id", UUID(as_uuid=True)),
    )
    op.create_index("ix_partner_call_partner_at", "partner_call", ["partner_id", "at"])

    op.add_column(
        "dispute", sa.Column("located", sa.Boolean, nullable=False, server_default=sa.text("true"))
    )
    op.add_column("dispute", sa.Column("address", sa.String(300)))
    op.add_column(
        "dispute", sa.Column("channel", sa.String(16), nullable=False, server_default="app")
    )
    op.add_column("dispute", sa.Column("partner_id", sa.Integer, sa.ForeignKey("partner.id")))
    op.add_column("dispute", sa.Column("partner_reference", sa.String(64)))
    op.add_column("dispute", sa.Column("external_due_on", sa.Date))
    op.alter_column("dispute", "location", nullable=True)
    op.create_check_constraint(
        "ck_dispute_located_or_village",
        "dispute",
        "(located AND location IS NOT NULL AND length(cell_code) = 15)"
        " OR (NOT located AND location IS NULL AND cell_code = village_code)",
    )
    op.create_index(
        "uq_dispute_partner_reference",
        "dispute",
        ["partner_id", "partner_reference"],
        unique=True,
        postgresql_where=sa.text("partner_id IS NOT NULL"),
    )

    op.alter_column("outbox", "reminder_id", nullable=True)
    op.add_column("outbox", sa.Column("destination", sa.String(40)))
    op.add_column("outbox", sa.Column("dedupe_key", sa.String(200), unique=True))
    op.add_column(
        "outbox",
        sa.Column(
            "dispute_id", UUID(as_uuid=True), sa.ForeignKey("dispute.id", ondelete="CASCADE")
        ),
    )
    op.create_index(
        "ix_outbox_dispute",
        "outbox",
        ["dispute_id"],
        postgresql_where=sa.text("dispute_id IS NOT NULL"),
    )

    op.create_table(
        "mediation_body",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("area_code", sa.String(12), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("partner_id", sa.Integer, sa.ForeignKey("partner.id")),
        sa.Column("member_ids", sa.ARRAY(sa.Integer), nullable=False, server_default="{}"),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.text("true")),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("area_code", "name", name="uq_mediation_body_area_name"),
    )
    op.create_table(
        "dispatch",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "dispute_id",
            UUID(as_uuid=True),
            sa.ForeignKey("dispute.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("assignee_user_id", sa.Integer, sa.ForeignKey("user_account.id")),
        sa.Column("body_id", sa.Integer, sa.ForeignKey("mediation_body.id")),
        sa.Column("due_on", sa.Date, nullable=False),
        sa.Column("accept_due_at", TS, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("requested_by", sa.Integer, sa.ForeignKey("user_account.id"), nullable=False),
        sa.Column("requested_at", TS, nullable=False),
        sa.Column("decided_by", sa.Integer, sa.ForeignKey("user_account.id")),
        sa.Column("decided_at", TS),
        sa.Column("decision_reason", sa.Text),
        sa.CheckConstraint(
            "(assignee_user_id IS NULL) <> (body_id IS NULL)", name="ck_dispatch_one_assignee"
        ),
    )
    op.create_index(
        "uq_dispatch_pending",
        "dispatch",
        ["dispute_id"],
        unique=True,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_table(
        "referral",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "dispute_id",
            UUID(as_uuid=True),
            sa.ForeignKey("dispute.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("target", sa.String(16), nullable=False),
        sa.Column("body_id", sa.Integer, sa.ForeignKey("mediation_body.id")),
        sa.Column("organisation", sa.String(100)),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("from_level", sa.String(16), nullable=False),
        sa.Column("referred_by", sa.Integer, sa.ForeignKey("user_account.id"), nullable=False),
        sa.Column("referred_at", TS, nullable=False),
        sa.Column("due_on", sa.Date, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16)),
        sa.Column("result_on", sa.Date),
        sa.Column("summary", sa.Text),
        sa.Column("mediator", sa.String(100)),
        sa.Column("recorded_by", sa.Integer, sa.ForeignKey("user_account.id")),
        sa.Column("recorded_via", sa.String(16)),
        sa.Column("recorded_at", TS),
    )
    op.create_index(
        "uq_referral_open",
        "referral",
        ["dispute_id"],
        unique=True,
        postgresql_where=sa.text("status = 'open'"),
    )
    op.create_table(
        "supervision_order",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "dispute_id",
            UUID(as_uuid=True),
            sa.ForeignKey("dispute.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("instruction", sa.Text, nullable=False),
        sa.Column("due_on", sa.Date, nullable=False),
        sa.Column("unit_role", sa.String(32), nullable=False),
        sa.Column("unit_area", sa.String(15), nullable=False),
        sa.Column("ordered_by", sa.Integer, sa.ForeignKey("user_account.id"), nullable=False),
        sa.Column("ordered_at", TS, nullable=False),
        sa.Column("answer", sa.Text),
        sa.Column("answered_by", sa.Integer, sa.ForeignKey("user_account.id")),
        sa.Column("answered_at", TS),
    )
    op.create_table(
        "leader_progress",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "dispute_id",
            UUID(as_uuid=True),
            sa.ForeignKey("dispute.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("leader_id", sa.Integer, sa.ForeignKey("user_account.id"), nullable=False),
        sa.Column("at", TS, nullable=False),
    )
    op.create_index(
        "uq_leader_progress_sign_off",
        "leader_progress",
        ["dispute_id"],
        unique=True,
        postgresql_where=sa.text("kind = 'sign_off'"),
    )


def downgrade():
    for table in ("leader_progress", "supervision_order", "referral", "dispatch", "mediation_body"):
        op.drop_table(table)
    op.drop_index("ix_outbox_dispute", "outbox")
    for col in ("dispute_id", "dedupe_key", "destination"):
        op.drop_column("outbox", col)
    op.execute("DELETE FROM outbox WHERE reminder_id IS NULL")
    op.alter_column("outbox", "reminder_id", nullable=False)
    op.drop_index("uq_dispute_partner_reference", "dispute")
    op.drop_constraint("ck_dispute_located_or_village", "dispute")
    op.alter_column("dispute", "location", nullable=False)
    for col in (
        "external_due_on",
        "partner_reference",
        "partner_id",
        "channel",
        "address",
        "located",
    ):
        op.drop_column("dispute", col)
    op.drop_table("partner_call")
    op.drop_table("partner_credential")
    op.drop_table("partner")
