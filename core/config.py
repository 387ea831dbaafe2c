"""Configuration classes; each instance reads the environment when create_app builds it."""

from __future__ import annotations

import os
from datetime import timedelta

DEFAULT_SECRET = "dev-only-insecure-default-secret-change-me"  # noqa: S105 - refused in production (create_app)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the checkout


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


RED_ALERT_CHOICES = ("township", "county")


def _levels(name: str, default: str) -> list[str]:
    levels = [v.strip() for v in os.environ.get(name, default).split(",") if v.strip()]
    wrong = [v for v in levels if v not in RED_ALERT_CHOICES]
    if wrong or "township" not in levels:
        raise ValueError(
            f"{name} must list township, optionally county (comma-separated): {levels}"
        )
    return list(dict.fromkeys(levels))


class Config:
    """Settings shared by every environment; each value may be overridden by an env variable."""

    ENV_NAME = "development"
    DATABASE_ENV = "DATABASE_URL"

    def __init__(self) -> None:
        env = os.environ.get
        self.SECRET_KEY = env("SECRET_KEY", DEFAULT_SECRET)
        self.JWT_SECRET_KEY = env("JWT_SECRET_KEY", DEFAULT_SECRET)
        self.PII_KEY = env("PII_KEY", DEFAULT_SECRET)  # keyed hash + encryption of ID numbers
        self.SQLALCHEMY_DATABASE_URI = env(self.DATABASE_ENV, "")
        self.SQLALCHEMY_ENGINE_OPTIONS = {
            "pool_pre_ping": True,
            # As many kept connections as a gunicorn worker has threads: a smaller pool closes
            # and reopens connections under load (each new backend loads PostGIS and prepares
            # its statements again: tens of ms, the registration p99's worst spikes).
            "pool_size": _int("DB_POOL_SIZE", _int("WEB_THREADS", 8)),
            "max_overflow": _int("DB_MAX_OVERFLOW", 5),
            # JIT compilation costs a second per report aggregation and never pays back on
            # this workload (short OLTP queries, grouped reports over thousands of rows).
            "connect_args": {"connect_timeout": 5, "options": env("DB_OPTIONS", "-c jit=off")},
        }
        self.SQLALCHEMY_TRACK_MODIFICATIONS = False
        # A streaming replica for console reads (core/replica.py); empty: everything on the
        # primary. A replica further behind than REPLICA_MAX_LAG_SECONDS (checked at most every
        # REPLICA_CHECK_SECONDS) is skipped; a caller reads the primary for
        # REPLICA_STICKY_SECONDS after its own write.
        self.DATABASE_REPLICA_URL = env("DATABASE_REPLICA_URL", "")
        self.REPLICA_MAX_LAG_SECONDS = _float("REPLICA_MAX_LAG_SECONDS", 10.0)
        self.REPLICA_CHECK_SECONDS = _float("REPLICA_CHECK_SECONDS", 1.0)
        self.REPLICA_STICKY_SECONDS = _float("REPLICA_STICKY_SECONDS", 15.0)
        # Who may scrape /metrics (core/metrics.py): comma-separated networks.
        self.METRICS_ALLOW = env("METRICS_ALLOW", "127.0.0.0/8,::1/128")
        # Request bodies: any body (uploads, registrations with inline photos) at most
        # MAX_CONTENT_LENGTH; other JSON bodies at most MAX_JSON_BYTES, nested MAX_JSON_DEPTH deep.
        self.MAX_CONTENT_LENGTH = _int("MAX_CONTENT_LENGTH", 16 * 1024 * 1024)
        self.MAX_JSON_BYTES = _int("MAX_JSON_BYTES", 1024 * 1024)
        self.MAX_JSON_DEPTH = _int("MAX_JSON_DEPTH", 32)

        # Browsers: origins allowed to call the API cross-origin (comma-separated; none by
        # default) and HSTS (seconds; set it only when the API is served over TLS).
        self.CORS_ORIGINS = [o.strip() for o in env("CORS_ORIGINS", "").split(",") if o.strip()]
        self.HSTS_SECONDS = _int("HSTS_SECONDS", 0)

        # Business timezone: deadlines, report windows and "today"; storage is UTC.
        self.BUSINESS_TZ = env("BUSINESS_TZ", "Asia/Shanghai")

        # Geo
        self.LOCATE_TOLERANCE_M = _float("LOCATE_TOLERANCE_M", 150.0)
        self.CELL_TARGET_AREA_KM2 = _float("CELL_TARGET_AREA_KM2", 1.0)
        self.CELL_TARGET_HOUSEHOLDS = _int("CELL_TARGET_HOUSEHOLDS", 300)

        # Auth
        self.JWT_ACCESS_TOKEN_EXPIRES = timedelta(minutes=_int("JWT_ACCESS_MINUTES", 15))
        self.JWT_REFRESH_TOKEN_EXPIRES = timedelta(days=_int("JWT_REFRESH_DAYS", 30))
        self.JWT_ALGORITHM = "HS256"
        self.JWT_DECODE_ALGORITHMS = ["HS256"]
        self.JWT_TOKEN_LOCATION = ["headers"]
        self.RATELIMIT_STORAGE_URI = env("RATELIMIT_STORAGE_URI", "memory://")
        # Every key the limiter writes starts with this (a Redis shared with others stays tidy).
        self.RATELIMIT_KEY_PREFIX = env("RATELIMIT_KEY_PREFIX", "mediation")
        self.RATELIMIT_ENABLED = env("RATELIMIT_ENABLED", "1") == "1"
        self.LOGIN_RATE_LIMIT = env("LOGIN_RATE_LIMIT", "20 per minute")  # failed logins per IP
        # Per user: reveals of full ID numbers/phones (bounds what a stolen account can harvest)
        # and failed password changes (guessing the old password with a stolen access token).
        self.REVEAL_RATE_LIMIT = env("REVEAL_RATE_LIMIT", "60 per hour")
        self.PASSWORD_RATE_LIMIT = env("PASSWORD_RATE_LIMIT", "5 per 15 minutes")
        self.LOGIN_MAX_FAILURES = _int("LOGIN_MAX_FAILURES", 5)  # in a row, per account
        self.LOGIN_LOCK_MINUTES = _int("LOGIN_LOCK_MINUTES", 15)
        self.ARGON2_TIME_COST = _int("ARGON2_TIME_COST", 3)
        self.ARGON2_MEMORY_COST = _int("ARGON2_MEMORY_COST", 65536)  # KiB

        # Disputes: time limits (domain §3, product rules), group threshold, files
        self.DEADLINES = {
            "accept_days": _int("DEADLINE_ACCEPT_DAYS", 3),
            "mediation_days": _int("DEADLINE_MEDIATION_DAYS", 30),
            "first_visit_days_if_immediate": _int("DEADLINE_FIRST_VISIT_DAYS", 15),
            "second_visit_days": _int("DEADLINE_SECOND_VISIT_DAYS", 30),
            "judicial_window_days": _int("DEADLINE_JUDICIAL_DAYS", 30),
            "escalation_accept_days": _int("DEADLINE_ESCALATION_DAYS", 2),
            # a case registered without an assessment (未研判) is assessed within this many days
            "risk_assess_days": _int("DEADLINE_RISK_ASSESS_DAYS", 1),
        }
        # Rules counted in working days (others in calendar days): accept, escalation_accept,
        # risk_assess, mediation, first_visit, second_visit, judicial
        self.WORKING_DAY_RULES = [
            r
            for r in env("WORKING_DAY_RULES", "accept,escalation_accept,risk_assess").split(",")
            if r
        ]
        # Times users supply (visits, sessions, rights notices, occurrence, screening rounds,
        # device times of offline operations) may be this far ahead of the server's clock (a
        # phone's clock is rarely exact); anything later is refused as in the future.
        self.CLOCK_SKEW_SECONDS = _int("CLOCK_SKEW_SECONDS", 300)
        # Who is told of a RED case at once (mediation/disputes/reminders.py RED_ALERT_ROLES):
        # the township centre; "township,county" adds the county centre.
        self.RED_ALERT_LEVELS = _levels("RED_ALERT_LEVELS", "township")
        # Archiving (卷宗, 人民调解法 Art 27): a written agreement's file must hold the signed
        # agreement (an attachment of kind "agreement"); 0 lets a township archive without a scan.
        self.ARCHIVE_REQUIRE_SIGNED_AGREEMENT = env("ARCHIVE_REQUIRE_SIGNED_AGREEMENT", "1") == "1"
        # Reminders: overdue items go to the next level after this delay; webhook delivery
        self.SUPERVISION_DELAY_HOURS = _int("SUPERVISION_DELAY_HOURS", 24)
        self.WEBHOOK_URL = env("WEBHOOK_URL", "")
        self.WEBHOOK_SECRET = env("WEBHOOK_SECRET", self.SECRET_KEY)
        # Screening: a cell's grid worker is reminded this many days before a campaign's due date
        self.SCREENING_REMIND_DAYS = _int("SCREENING_REMIND_DAYS", 3)
        self.SCHEDULER_SWEEP_SECONDS = _int("SCHEDULER_SWEEP_SECONDS", 30)
        # On taking the lock the scheduler catches up the latest due run of every calendar job
        # (0 turns that off, e.g. for a process test that must not write a month of drafts).
        self.SCHEDULER_CATCH_UP = env("SCHEDULER_CATCH_UP", "1") == "1"
        # Monthly report: due before this day of the report month; drafts generated on that day
        # (02:00 Asia/Shanghai) for the month before.
        self.REPORT_DUE_DAY = _int("REPORT_DUE_DAY", 18)
        # A due day that is not a working day (weekend, holiday in the calendar) moves to the next
        # working day, as 期间届满日遇节假日顺延 (民事诉讼法 Art 85); 0 keeps the calendar day.
        self.REPORT_DUE_NEXT_WORKING_DAY = env("REPORT_DUE_NEXT_WORKING_DAY", "1") == "1"
        self.REPORT_DRAFT_DAY = _int("REPORT_DRAFT_DAY", 1)
        # A group dispute (群体性纠纷, forced RED): at least this many people on one side sharing a
        # claim (agents and third parties never count), or this many people affected.
        self.GROUP_MIN_ONE_SIDE = _int("GROUP_MIN_ONE_SIDE", 5)
        self.GROUP_MIN_PEOPLE = _int("GROUP_MIN_PEOPLE", 30)
        self.MAX_PHOTO_BYTES = _int("MAX_PHOTO_BYTES", 5 * 1024 * 1024)
        self.MAX_ATTACHMENT_BYTES = _int("MAX_ATTACHMENT_BYTES", 10 * 1024 * 1024)
        self.ATTACHMENT_DIR = env("ATTACHMENT_DIR", os.path.join(ROOT, "var", "attachments"))

        # OpenAPI (flask-smorest); Swagger UI assets are served locally (no internet needed).
        self.API_TITLE = "基层矛盾纠纷调解平台 API"
        self.API_VERSION = "v1"
        self.OPENAPI_VERSION = "3.0.3"
        self.OPENAPI_URL_PREFIX = "/api"
        self.OPENAPI_JSON_PATH = "openapi.json"
        self.OPENAPI_SWAGGER_UI_PATH = "/docs"
        self.OPENAPI_SWAGGER_UI_URL = "/api/docs/static/"
        # No outside validator badge: off localhost Swagger UI would send the document to
        # validator.swagger.io (an outside call from a government network).
        self.OPENAPI_SWAGGER_UI_CONFIG = {"validatorUrl": None}

        # Demo data: the real county, carried in the repository (data/zhuji, gzip GeoJSON)
        self.DEMO_DATA_DIR = env("DEMO_DATA_DIR", os.path.join(ROOT, "data", "zhuji"))


class DevelopmentConfig(Config):
    """Local development: the project's own cluster, default secrets allowed."""


class TestingConfig(Config):
    """Test suite: the test database."""

    ENV_NAME = "testing"
    DATABASE_ENV = "TEST_DATABASE_URL"
    TESTING = True

    def __init__(self) -> None:
        super().__init__()
        self.ATTACHMENT_DIR = os.environ.get(
            "TEST_ATTACHMENT_DIR", os.path.join(ROOT, "var", "test-attachments")
        )
        # Hashing cost low enough for hundreds of logins in the suite (production keeps 3 × 64 MiB).
        self.ARGON2_TIME_COST = 1
        self.ARGON2_MEMORY_COST = 1024
        # The suite's own replica URL only (a test passes it explicitly: tests/test_replica.py).
        self.DATABASE_REPLICA_URL = os.environ.get("TEST_DATABASE_REPLICA_URL", "")


class ProductionConfig(Config):
    """Production: refuses to start with default or short secrets (checked in create_app)."""

    ENV_NAME = "production"


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def get_config(name: str | None = None) -> Config:
    """A config object for APP_ENV (development by default), read from the environment now."""
    return CONFIGS[name or os.environ.get("APP_ENV", "development")]()
