"""offline sync

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 02:12:49.446829

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


# Triggers, not service-layer calls, write the change log: every writer (the API, the reminder
# scheduler, boundary imports, CLI commands, a manual fix in psql) is covered, and the log row is
# in the same transaction as the change by construction. One row per entity per transaction
# (ON CONFLICT DO NOTHING on txid + entity + entity_id) keeps sweeps that touch many reminders of
# one case cheap and makes "one transaction = one change" countable.
TRIGGERS = """
CREATE FUNCTION sync_log_dispute() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE r dispute%ROWTYPE;
BEGIN
    IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
    INSERT INTO sync_change (entity, entity_id, cell_code, village_code, township_code,
                             county_code, user_id)
    VALUES ('case', r.id::text, r.cell_code, r.village_code, r.township_code, r.county_code,
            r.registered_by)
    ON CONFLICT (txid, entity, entity_id) DO NOTHING;
    RETURN NULL;
END $$;

CREATE FUNCTION sync_log_reminder() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE case_id uuid;
BEGIN
    IF TG_OP = 'DELETE' THEN case_id := OLD.dispute_id; ELSE case_id := NEW.dispute_id; END IF;
    IF case_id IS NULL THEN RETURN NULL; END IF;
    -- A reminder is part of its case on the phone: log the case (skipped when the case itself
    -- is being deleted, which logs itself).
    INSERT INTO sync_change (entity, entity_id, cell_code, village_code, township_code,
                             county_code, user_id)
    SELECT 'case', d.id::text, d.cell_code, d.village_code, d.township_code, d.county_code,
           d.registered_by
    FROM dispute d WHERE d.id = case_id
    ON CONFLICT (txid, entity, entity_id) DO NOTHING;
    RETURN NULL;
END $$;

CREATE FUNCTION sync_log_cell() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE code text; village text; geom_changed boolean;
BEGIN
    IF TG_OP = 'DELETE' THEN code := OLD.code; village := OLD.village_code;
    ELSE code := NEW.code; village := NEW.village_code; END IF;
    geom_changed := TG_OP <> 'UPDATE' OR NEW.geom_hash IS DISTINCT FROM OLD.geom_hash;
    INSERT INTO sync_change (entity, entity_id, cell_code, village_code, township_code,
                             county_code, geometry_changed)
    VALUES ('cell', code, code, village, left(village, 9), left(village, 6), geom_changed)
    ON CONFLICT (txid, entity, entity_id)
    DO UPDATE SET geometry_changed = sync_change.geometry_changed OR EXCLUDED.geometry_changed;
    RETURN NULL;
END $$;

CREATE FUNCTION sync_log_assignment() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE r cell_assignment%ROWTYPE;
BEGIN
    IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
    INSERT INTO sync_change (entity, entity_id, cell_code, village_code, township_code,
                             county_code, user_id)
    VALUES ('assignment', r.user_id::text || ':' || r.cell_code, r.cell_code,
            left(r.cell_code, 12), left(r.cell_code, 9), left(r.cell_code, 6), r.user_id)
    ON CONFLICT (txid, entity, entity_id) DO NOTHING;
    RETURN NULL;
END $$;

CREATE FUNCTION sync_log_roles() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE uid integer;
BEGIN
    IF TG_OP = 'DELETE' THEN uid := OLD.user_id; ELSE uid := NEW.user_id; END IF;
    -- A user's roles or areas changed: their phone must sync from scratch.
    INSERT INTO sync_change (entity, entity_id, user_id)
    VALUES ('scope', uid::text, uid)
    ON CONFLICT (txid, entity, entity_id) DO NOTHING;
    RETURN NULL;
END $$;

CREATE TRIGGER user_role_sync_log AFTER INSERT OR UPDATE OR DELETE ON user_role
    FOR EACH ROW EXECUTE FUNCTION sync_log_roles();
CREATE TRIGGER dispute_sync_log AFTER INSERT OR UPDATE OR DELETE ON dispute
    FOR EACH ROW EXECUTE FUNCTION sync_log_dispute();
CREATE TRIGGER reminder_sync_log AFTER INSERT OR UPDATE OR DELETE ON reminder
    FOR EACH ROW EXECUTE FUNCTION sync_log_reminder();
CREATE TRIGGER grid_cell_sync_log AFTER INSERT OR UPDATE OR DELETE ON grid_cell
    FOR EACH ROW EXECUTE FUNCTION sync_log_cell();
CREATE TRIGGER cell_assignment_sync_log AFTER INSERT OR UPDATE OR DELETE ON cell_assignment
    FOR EACH ROW EXECUTE FUNCTION sync_log_assignment();
"""

DROP_TRIGGERS = """
DROP TRIGGER IF EXISTS user_role_sync_log ON user_role;
DROP TRIGGER IF EXISTS cell_assignment_sync_log ON cell_assignment;
DROP TRIGGER IF EXISTS grid_cell_sync_log ON grid_cell;
DROP TRIGGER IF EXISTS reminder_sync_log ON reminder;
DROP TRIGGER IF EXISTS dispute_sync_log ON dispute;
DROP FUNCTION IF EXISTS sync_log_roles();
DROP FUNCTION IF EXISTS sync_log_assignment();
DROP FUNCTION IF EXISTS sync_log_cell();
DROP FUNCTION IF EXISTS sync_log_reminder();
DROP FUNCTION IF EXISTS sync_log_dispute();
"""


def upgrade():
    # ### commands auto generated by Alembic - please adjust! ###
    op.create_table('sync_change',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('txid', sa.BigInteger(), server_default=sa.text('(pg_current_xact_id()::text)::bigint'), nullable=False),
    sa.Column('entity', sa.String(length=16), nullable=False),
    sa.Column('entity_id', sa.String(length=64), nullable=False),
    sa.Column('cell_code', sa.String(length=15), nullable=True),
    sa.Column('village_code', sa.String(length=12), nullable=True),
    sa.Column('township_code', sa.String(length=9), nullable=True),
    sa.Column('county_code', sa.String(length=6), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('geometry_changed', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), server_default=sa.text('clock_timestamp()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_change'))
    )
    with op.batch_alter_table('sync_change', schema=None) as batch_op:
        batch_op.create_index('ix_sync_change_position', ['txid', 'id'], unique=False)
        batch_op.create_index('uq_sync_change_tx_entity', ['txid', 'entity', 'entity_id'], unique=True)

    op.create_table('sync_operation',
    sa.Column('op_id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('case_id', sa.UUID(), nullable=True),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('result', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('device_time', sa.DateTime(timezone=True), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_sync_operation_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('op_id', name=op.f('pk_sync_operation'))
    )
    with op.batch_alter_table('sync_operation', schema=None) as batch_op:
        batch_op.create_index('ix_sync_operation_user_received', ['user_id', 'received_at'], unique=False)

    # ### end Alembic commands ###
    op.execute(TRIGGERS)


def downgrade():
    op.execute(DROP_TRIGGERS)
    # ### commands auto generated by Alembic - please adjust! ###
    with op.batch_alter_table('sync_operation', schema=None) as batch_op:
        batch_op.drop_index('ix_sync_operation_user_received')

    op.drop_table('sync_operation')
    with op.batch_alter_table('sync_change', schema=None) as batch_op:
        batch_op.drop_index('uq_sync_change_tx_entity')
        batch_op.drop_index('ix_sync_change_position')

    op.drop_table('sync_change')
    # ### end Alembic commands ###
