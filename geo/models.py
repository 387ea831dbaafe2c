"""Administrative areas and grid cells, versioned by validity dates."""

from __future__ import annotations

from datetime import date, datetime

from geoalchemy2 import Geometry
from sqlalchemy import Date, DateTime, Index, Integer, String, func, text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import db


class Area(db.Model):
    """A county, township or village; one row per boundary version (valid_to NULL = current)."""

    __tablename__ = "area"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(12))
    level: Mapped[str] = mapped_column(String(16))
    parent_code: Mapped[str | None] = mapped_column(String(12))
    name: Mapped[str] = mapped_column(String(100))
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False)
    geom_hash: Mapped[str] = mapped_column(String(64))
    households: Mapped[int | None] = mapped_column(Integer)
    population: Mapped[int | None] = mapped_column(Integer)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )

    __table_args__ = (
        Index(
            "uq_area_current_code", "code", unique=True, postgresql_where=text("valid_to IS NULL")
        ),
        Index("ix_area_current_parent", "parent_code", postgresql_where=text("valid_to IS NULL")),
        Index(
            "ix_area_current_geom",
            "geom",
            postgresql_using="gist",
            postgresql_where=text("valid_to IS NULL"),
        ),
    )


class GridCell(db.Model):
    """A grid cell (网格) inside exactly one village; code = village code + 3-digit sequence."""

    __tablename__ = "grid_cell"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(15))
    village_code: Mapped[str] = mapped_column(String(12))
    name: Mapped[str] = mapped_column(String(100))
    cell_type: Mapped[str] = mapped_column(String(16))
    households: Mapped[int | None] = mapped_column(Integer)
    population: Mapped[int | None] = mapped_column(Integer)
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False)
    geom_hash: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )

    __table_args__ = (
        Index(
            "uq_grid_cell_current_code",
            "code",
            unique=True,
            postgresql_where=text("valid_to IS NULL"),
        ),
        Index(
            "ix_grid_cell_current_village",
            "village_code",
            postgresql_where=text("valid_to IS NULL"),
        ),
        Index(
            "ix_grid_cell_current_geom",
            "geom",
            postgresql_using="gist",
            postgresql_where=text("valid_to IS NULL"),
        ),
    )
