"""screening rounds and campaigns: screening_campaign, screening_round (+ disputes found, photos)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 02:11:21.132325

"""
from alembic import op
import sqlalchemy as sa
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('screening_campaign',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('area_code', sa.String(length=12), nullable=False),
    sa.Column('key_areas', postgresql.ARRAY(sa.String(length=32)), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=True),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind <> 'routine' OR month IS NOT NULL", name=op.f('ck_screening_campaign_routine_month')),
    sa.CheckConstraint('starts_on <= due_on', name=op.f('ck_screening_campaign_due_in_window')),
    sa.CheckConstraint('starts_on <= ends_on', name=op.f('ck_screening_campaign_window')),
    sa.ForeignKeyConstraint(['created_by'], ['user_account.id'], name=op.f('fk_screening_campaign_created_by_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_screening_campaign'))
    )
    with op.batch_alter_table('screening_campaign', schema=None) as batch_op:
        batch_op.create_index('ix_screening_campaign_area', ['area_code'], unique=False)
        batch_op.create_index('ix_screening_campaign_due', ['due_on'], unique=False)
        batch_op.create_index('uq_screening_campaign_routine', ['area_code', 'month'], unique=True, postgresql_where=sa.text("kind = 'routine'"))

    op.create_geospatial_table('screening_round',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('cell_code', sa.String(length=15), nullable=False),
    sa.Column('village_code', sa.String(length=12), nullable=False),
    sa.Column('township_code', sa.String(length=9), nullable=False),
    sa.Column('county_code', sa.String(length=6), nullable=False),
    sa.Column('worker_id', sa.Integer(), nullable=False),
    sa.Column('screened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('households_visited', sa.Integer(), nullable=False),
    sa.Column('key_areas', postgresql.ARRAY(sa.String(length=32)), nullable=False),
    sa.Column('zero_report', sa.Boolean(), nullable=False),
    sa.Column('found_count', sa.Integer(), nullable=False),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('track', Geometry(geometry_type='GEOMETRY', srid=4326, spatial_index=False), nullable=True),
    sa.CheckConstraint('households_visited >= 0', name=op.f('ck_screening_round_households')),
    sa.CheckConstraint('zero_report = (found_count = 0)', name=op.f('ck_screening_round_zero_report')),
    sa.ForeignKeyConstraint(['worker_id'], ['user_account.id'], name=op.f('fk_screening_round_worker_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_screening_round'))
    )
    with op.batch_alter_table('screening_round', schema=None) as batch_op:
        batch_op.create_index('ix_screening_round_cell_at', ['cell_code', 'screened_at'], unique=False)
        batch_op.create_index('ix_screening_round_county_at', ['county_code', 'screened_at'], unique=False)
        batch_op.create_index('ix_screening_round_township_at', ['township_code', 'screened_at'], unique=False)
        batch_op.create_index('ix_screening_round_village_at', ['village_code', 'screened_at'], unique=False)
        batch_op.create_index('ix_screening_round_worker', ['worker_id', 'screened_at'], unique=False)

    op.create_table('screening_photo',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('round_id', sa.UUID(), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('content_type', sa.String(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['round_id'], ['screening_round.id'], name=op.f('fk_screening_photo_round_id_screening_round'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_screening_photo')),
    sa.UniqueConstraint('round_id', 'sha256', name=op.f('uq_screening_photo_round_id'))
    )
    with op.batch_alter_table('screening_photo', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_screening_photo_round_id'), ['round_id'], unique=False)

    op.create_table('screening_round_dispute',
    sa.Column('round_id', sa.UUID(), nullable=False),
    sa.Column('dispute_id', sa.UUID(), nullable=False),
    sa.ForeignKeyConstraint(['dispute_id'], ['dispute.id'], name=op.f('fk_screening_round_dispute_dispute_id_dispute'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['round_id'], ['screening_round.id'], name=op.f('fk_screening_round_dispute_round_id_screening_round'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('round_id', 'dispute_id', name=op.f('pk_screening_round_dispute')),
    sa.UniqueConstraint('dispute_id', name='uq_screening_round_dispute_dispute')
    )


def downgrade():
    op.drop_table('screening_round_dispute')
    with op.batch_alter_table('screening_photo', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_screening_photo_round_id'))

    op.drop_table('screening_photo')
    with op.batch_alter_table('screening_round', schema=None) as batch_op:
        batch_op.drop_index('ix_screening_round_worker')
        batch_op.drop_index('ix_screening_round_village_at')
        batch_op.drop_index('ix_screening_round_township_at')
        batch_op.drop_index('ix_screening_round_county_at')
        batch_op.drop_index('ix_screening_round_cell_at')

    op.drop_geospatial_table('screening_round')
    with op.batch_alter_table('screening_campaign', schema=None) as batch_op:
        batch_op.drop_index('uq_screening_campaign_routine', postgresql_where=sa.text("kind = 'routine'"))
        batch_op.drop_index('ix_screening_campaign_due')
        batch_op.drop_index('ix_screening_campaign_area')

    op.drop_table('screening_campaign')
