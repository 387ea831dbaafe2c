"""The database handle and migrations, created unbound; create_app binds them."""

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with a naming convention so that migrations name constraints stably."""

    metadata = MetaData(naming_convention=NAMING)


class RoutingSession(FlaskSession):
    """Flask-SQLAlchemy's session, which a request may point at the read replica: when
    `info["read_engine"]` is set (core/replica.py, before the request's first query), every
    statement of the session runs there."""

    def get_bind(self, mapper=None, clause=None, bind=None, **kwargs):
        engine = self.info.get("read_engine")
        if engine is not None and bind is None:
            return engine
        return super().get_bind(mapper, clause=clause, bind=bind, **kwargs)


db = SQLAlchemy(model_class=Base, session_options={"class_": RoutingSession})
migrate = Migrate()
