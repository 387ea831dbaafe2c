"""performance at province scale: the case's cell on its child rows, prefix indexes, autovacuum

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 13:20:00

Measured with `make bench` (100,663 cells, 1,000,000 cases):
- The report and dashboard aggregations over agreements, visits, escalations and events joined
  every case of the area (all time) to find the period's rows: ~2,000 index probes per township
  pass, ~20 ms each. A case never moves, so its cell code (of which every area code is a prefix)
  is copied onto the child rows and indexed with the row's time: one index range per pass.
- `code LIKE 'prefix%'` on grid_cell and area cannot use a btree under a non-C collation: every
  dashboard read all 100,663 cells twice (~45 ms). text_pattern_ops indexes serve prefixes.
- The report's active set (registered before the end, not closed before the start) read every
  case an area ever had; an index on (area code, closed_at or infinity) skips the closed ones.
- "The cell's grid worker today" (every registration and reminder plan) scanned all 100,663
  assignments: the partial unique index only covers open-ended ones.
- A reminder's supervision (督办) is found by parent_id when the reminder is cancelled, and the
  self-reference is checked on delete: without an index both scanned every reminder. Likewise
  reminder.dispute_id had only a partial (open reminders) index, so deleting a case scanned
  every reminder for the cascade.
- Hot tables (reminder, outbox, dispute, sync_change, case_counter) are vacuumed sooner than the
  20 % default so a day of state changes does not leave the sweep's partial index full of dead
  entries; case_counter (one row per village and year, updated by every registration) keeps room
  for HOT updates.
"""

from alembic import op
import sqlalchemy as sa

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

CHILDREN = {
    # table: (time column, index name, partial-index predicate)
    "agreement": ("created_at", "ix_agreement_cell_created", None),
    "follow_up_visit": ("visited_at", "ix_follow_up_visit_cell_visited", None),
    "escalation": ("requested_at", "ix_escalation_cell_requested", None),
    "dispute_event": (
        "at",
        "ix_dispute_event_cell_status_at",
        "to_status IN ('terminated', 'referred', 'reopened')",
    ),
}

OPEN_SINCE = {'county': 'county_code', 'township': 'township_code', 'village': 'village_code'}

AUTOVACUUM = {
    "reminder": "autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 1000, "
    "autovacuum_analyze_scale_factor = 0.02, autovacuum_vacuum_cost_delay = 1",
    "outbox": "autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 1000, "
    "autovacuum_vacuum_cost_delay = 1",
    "dispute": "autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02",
    "sync_change": "autovacuum_vacuum_insert_scale_factor = 0.02, "
    "autovacuum_analyze_scale_factor = 0.02",
    "case_counter": "fillfactor = 50, autovacuum_vacuum_scale_factor = 0, "
    "autovacuum_vacuum_threshold = 500",
}


def upgrade():
    op.execute("ALTER TABLE dispute_event DISABLE TRIGGER dispute_event_append_only")
    for table, (at, index, where) in CHILDREN.items():
        op.add_column(table, sa.Column("cell_code", sa.String(length=15), nullable=True))
        op.execute(
            f"UPDATE {table} c SET cell_code = d.cell_code FROM dispute d WHERE d.id = c.dispute_id"
        )
        op.alter_column(table, "cell_code", nullable=False)
        op.create_index(
            index,
            table,
            ["cell_code", at],
            unique=False,
            postgresql_where=sa.text(where) if where else None,
        )
    op.execute("ALTER TABLE dispute_event ENABLE TRIGGER dispute_event_append_only")
    op.execute(
        "CREATE INDEX ix_grid_cell_current_code_prefix ON grid_cell "
        "(code text_pattern_ops) WHERE valid_to IS NULL"
    )
    op.execute(
        "CREATE INDEX ix_area_current_code_prefix ON area "
        "(code text_pattern_ops) WHERE valid_to IS NULL"
    )
    op.create_index('ix_cell_assignment_cell', 'cell_assignment', ['cell_code', 'valid_from'])
    op.create_index('ix_reminder_dispute', 'reminder', ['dispute_id'])
    op.create_index('ix_reminder_parent', 'reminder', ['parent_id'],
                    postgresql_where=sa.text('parent_id IS NOT NULL'))
    for level, column in OPEN_SINCE.items():
        op.execute(f"CREATE INDEX ix_dispute_{level}_open_since ON dispute "
                   f"({column}, (coalesce(closed_at, 'infinity'::timestamptz)))")
    for table, options in AUTOVACUUM.items():
        op.execute(f"ALTER TABLE {table} SET ({options})")


def downgrade():
    for table, options in AUTOVACUUM.items():
        names = ", ".join(o.split("=")[0].strip() for o in options.split(","))
        op.execute(f"ALTER TABLE {table} RESET ({names})")
    for level in OPEN_SINCE:
        op.execute(f"DROP INDEX IF EXISTS ix_dispute_{level}_open_since")
    op.drop_index('ix_reminder_parent', table_name='reminder')
    op.drop_index('ix_reminder_dispute', table_name='reminder')
    op.drop_index('ix_cell_assignment_cell', table_name='cell_assignment')
    op.execute("DROP INDEX IF EXISTS ix_area_current_code_prefix")
    op.execute("DROP INDEX IF EXISTS ix_grid_cell_current_code_prefix")
    for table, (_at, index, _where) in CHILDREN.items():
        op.drop_index(index, table_name=table)
        op.drop_column(table, "cell_code")
