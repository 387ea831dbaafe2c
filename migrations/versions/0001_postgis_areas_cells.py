"""postgis extension, administrative areas and grid cells

Revision ID: 0001
Revises: 
Create Date: 2026-11-23 00:53:45.014280

"""
from alembic import op
import sqlalchemy as sa
from geoalchemy2 import Geometry

# revision identifiers, used by Alembic.
revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_geospatial_table('area',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=12), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('parent_code', sa.String(length=12), nullable=True),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('geom', Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('geom_hash', sa.String(length=64), nullable=False),
    sa.Column('households', sa.Integer(), nullable=True),
    sa.Column('population', sa.Integer(), nullable=True),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_area'))
    )
    with op.batch_alter_table('area', schema=None) as batch_op:
        batch_op.create_geospatial_index('ix_area_current_geom', ['geom'], unique=False, postgresql_using='gist', postgresql_where=sa.text('valid_to IS NULL'), postgresql_ops={})
        batch_op.create_index('ix_area_current_parent', ['parent_code'], unique=False, postgresql_where=sa.text('valid_to IS NULL'))
        batch_op.create_index('uq_area_current_code', ['code'], unique=True, postgresql_where=sa.text('valid_to IS NULL'))

    op.create_geospatial_table('grid_cell',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=15), nullable=False),
    sa.Column('village_code', sa.String(length=12), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('cell_type', sa.String(length=16), nullable=False),
    sa.Column('households', sa.Integer(), nullable=True),
    sa.Column('population', sa.Integer(), nullable=True),
    sa.Column('geom', Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('geom_hash', sa.String(length=64), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_grid_cell'))
    )
    with op.batch_alter_table('grid_cell', schema=None) as batch_op:
        batch_op.create_geospatial_index('ix_grid_cell_current_geom', ['geom'], unique=False, postgresql_using='gist', postgresql_where=sa.text('valid_to IS NULL'), postgresql_ops={})
        batch_op.create_index('ix_grid_cell_current_village', ['village_code'], unique=False, postgresql_where=sa.text('valid_to IS NULL'))
        batch_op.create_index('uq_grid_cell_current_code', ['code'], unique=True, postgresql_where=sa.text('valid_to IS NULL'))



def downgrade():
    with op.batch_alter_table('grid_cell', schema=None) as batch_op:
        batch_op.drop_index('uq_grid_cell_current_code', postgresql_where=sa.text('valid_to IS NULL'))
        batch_op.drop_index('ix_grid_cell_current_village', postgresql_where=sa.text('valid_to IS NULL'))
        batch_op.drop_geospatial_index('ix_grid_cell_current_geom', postgresql_using='gist', postgresql_where=sa.text('valid_to IS NULL'), column_name='geom')

    op.drop_geospatial_table('grid_cell')
    with op.batch_alter_table('area', schema=None) as batch_op:
        batch_op.drop_index('uq_area_current_code', postgresql_where=sa.text('valid_to IS NULL'))
        batch_op.drop_index('ix_area_current_parent', postgresql_where=sa.text('valid_to IS NULL'))
        batch_op.drop_geospatial_index('ix_area_current_geom', postgresql_using='gist', postgresql_where=sa.text('valid_to IS NULL'), column_name='geom')

    op.drop_geospatial_table('area')
