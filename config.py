"""Configuration classes, read from the environment at app creation time."""

from __future__ import annotations

import os
from datetime import timedelta

DEFAULT_SECRET = "dev-insecure-change-me"


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


class Config:
    """Settings shared by every environment; each value may be overridden by an env variable."""

    ENV_NAME = "development"
    SECRET_KEY = os.environ.get("SECRET_KEY", DEFAULT_SECRET)
    JWT_SECRET_KEY = os.environ.get("JWT_SECRET_KEY", DEFAULT_SECRET)
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL", "")
    SQLALCHEMY_ENGINE_OPTIONS = {
        "pool_pre_ping": True,
        "pool_size": _env_int("DB_POOL_SIZE", 5),
        "max_overflow": _env_int("DB_MAX_OVERFLOW", 5),
        "connect_args": {"connect_timeout": 5},
    }
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    MAX_CONTENT_LENGTH = _env_int("MAX_CONTENT_LENGTH", 16 * 1024 * 1024)
    JSON_SORT_KEYS = False

    # Business timezone: deadlines, report windows and "today" are computed here; storage is UTC.
    BUSINESS_TZ = os.environ.get("BUSINESS_TZ", "Asia/Shanghai")

    # Geo
    LOCATE_TOLERANCE_M = _env_float("LOCATE_TOLERANCE_M", 150.0)
    CELL_TARGET_AREA_KM2 = _env_float("CELL_TARGET_AREA_KM2", 1.0)
    CELL_TARGET_HOUSEHOLDS = _env_int("CELL_TARGET_HOUSEHOLDS", 300)

    # Auth
    JWT_ACCESS_TOKEN_EXPIRES = timedelta(minutes=_env_int("JWT_ACCESS_MINUTES", 15))
    JWT_REFRESH_TOKEN_EXPIRES = timedelta(days=_env_int("JWT_REFRESH_DAYS", 30))
    JWT_ALGORITHM = "HS256"
    JWT_DECODE_ALGORITHMS = ["HS256"]
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", "memory://")

    # Personal data: key for the keyed hash and for encryption at rest (see mediation/pii.py).
    PII_KEY = os.environ.get("PII_KEY", DEFAULT_SECRET)

    # OpenAPI (flask-smorest); Swagger UI assets are served locally (no internet needed).
    API_TITLE = "基层矛盾纠纷调解平台 API"
    API_VERSION = "v1"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/api"
    OPENAPI_JSON_PATH = "openapi.json"
    OPENAPI_SWAGGER_UI_PATH = "/docs"
    OPENAPI_SWAGGER_UI_URL = "/api/docs/static/"

    # Demo data
    DEMO_DATA_DIR = os.environ.get(
        "DEMO_DATA_DIR",
        os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "shared", "data", "zhuji"),
    )


class DevelopmentConfig(Config):
    """Local development: the project's own cluster, default secrets allowed."""


class TestingConfig(Config):
    """Test suite: the test database, fast password hashing, no rate limit storage sharing."""

    ENV_NAME = "testing"
    TESTING = True
    SQLALCHEMY_DATABASE_URI = os.environ.get("TEST_DATABASE_URL", "")


class ProductionConfig(Config):
    """Production: refuses to start with default secrets (checked in create_app)."""

    ENV_NAME = "production"


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def get_config(name: str | None = None) -> type[Config]:
    """Pick the config class named by APP_ENV (development by default)."""
    return CONFIGS[name or os.environ.get("APP_ENV", "development")]
