"""reminder keys: a case's reminder is unique among live rows only (issue 16, M1)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 17:00:00

The key (case + kind + deadline + recipient) was unique across cancelled rows too, so a case that
came back to a level or deadline it had before (return_down, return_escalation …) could not get
its reminder again: the insert met the cancelled row and did nothing, and the case was in nobody's
task list. Now:

- a case's reminders (dispute_id set) are unique by key among live rows (not cancelled): a
  cancelled one stays as history and a new row (with its own outbox message) takes its place;
- reminders of no case (daily digest, monthly report, screening and its supervision) stay unique
  by key for ever: a report reminder cancelled by the submission is not made again by a later run
  of the monthly job.
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    op.execute(
        "CREATE UNIQUE INDEX uq_reminder_case_key_live ON reminder (key) "
        "WHERE dispute_id IS NOT NULL AND state <> 'cancelled'"
    )
    op.execute("CREATE UNIQUE INDEX uq_reminder_key_no_case ON reminder (key) WHERE dispute_id IS NULL")
    op.execute("ALTER TABLE reminder DROP CONSTRAINT uq_reminder_key")
    # Lookups by key (cancel_keys, the report's reminder) keep a plain index.
    op.execute("CREATE INDEX ix_reminder_key ON reminder (key)")


def downgrade():
    # Keeps the newest row of each key (older cancelled duplicates would break the constraint).
    op.execute(
        "DELETE FROM reminder r USING reminder n WHERE n.key = r.key AND n.id > r.id "
        "AND r.state = 'cancelled'"
    )
    op.execute("DROP INDEX ix_reminder_key")
    op.execute("ALTER TABLE reminder ADD CONSTRAINT uq_reminder_key UNIQUE (key)")
    op.execute("DROP INDEX uq_reminder_key_no_case")
    op.execute("DROP INDEX uq_reminder_case_key_live")
