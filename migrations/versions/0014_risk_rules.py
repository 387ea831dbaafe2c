"""risk rules of issue 19: group decision, ORANGE time, categories as data

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 09:30:00

- `dispute.group_decision`: a township officer's confirmation or lifting of the group flag
  (NULL: the flag follows the count of people on one side / people affected);
- `dispute.risk_assess_due_at`: a case registered without an assessment is 未研判 (its own
  risk level) and is to be assessed by then (a reminder to its handling level);
- `dispute.orange_since`: when the case became ORANGE, however it did (registration or
  reassessment): the township centre must know within 24 h;
- `dispute_category`: the categories of domain §4 as data a deployment can extend (seeded with
  the codes in use); a trigger refuses to delete a row or change its code, so codes are never
  reused — a category no longer offered is retired.

Existing cases keep their risk level: a 1×1 assessment written by an older registration cannot
be told from one a worker made.
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

SEED = [
    ("01", "婚姻家庭"),
    ("02", "邻里"),
    ("03", "房屋宅基地"),
    ("04", "合同"),
    ("05", "生产经营"),
    ("06", "损害赔偿"),
    ("07", "山林土地"),
    ("08", "征地拆迁"),
    ("09", "环境污染"),
    ("10", "劳动争议"),
    ("11", "消费"),
    ("12", "医疗"),
    ("13", "道路交通事故"),
    ("14", "物业"),
    ("20", "村务管理"),
    ("99", "其他"),
]


def upgrade():
    # 'unassessed' (未研判) is longer than the colours; widening a varchar rewrites nothing.
    op.alter_column("dispute", "risk_level", type_=sa.String(length=16))
    op.add_column("dispute", sa.Column("group_decision", sa.String(length=16), nullable=True))
    op.add_column("dispute", sa.Column("orange_since", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "dispute", sa.Column("risk_assess_due_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_table(
        "dispute_category",
        sa.Column("code", sa.String(length=8), primary_key=True),
        sa.Column("label", sa.String(length=50), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    )
    table = sa.table(
        "dispute_category",
        sa.column("code", sa.String),
        sa.column("label", sa.String),
        sa.column("position", sa.Integer),
    )
    op.bulk_insert(
        table, [{"code": c, "label": label, "position": i} for i, (c, label) in enumerate(SEED, 1)]
    )
    op.execute(
        """CREATE FUNCTION dispute_category_keep() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP = 'DELETE' OR NEW.code <> OLD.code THEN
            RAISE EXCEPTION 'dispute categories are never deleted and their codes never change';
          END IF;
          RETURN NEW;
        END $$"""
    )
    op.execute(
        "CREATE TRIGGER dispute_category_keep BEFORE UPDATE OR DELETE ON dispute_category "
        "FOR EACH ROW EXECUTE FUNCTION dispute_category_keep()"
    )


def downgrade():
    op.execute("DROP TRIGGER dispute_category_keep ON dispute_category")
    op.execute("DROP FUNCTION dispute_category_keep()")
    op.drop_table("dispute_category")
    op.drop_column("dispute", "risk_assess_due_at")
    op.drop_column("dispute", "orange_since")
    op.drop_column("dispute", "group_decision")
    op.execute("UPDATE dispute SET risk_level = 'blue' WHERE risk_level = 'unassessed'")
    op.alter_column("dispute", "risk_level", type_=sa.String(length=8))
