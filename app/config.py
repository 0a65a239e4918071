"""Settings read from the environment. SQLite in instance/ by default."""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
INSTANCE_DIR = Path(os.environ.get("PASSERELLE_INSTANCE", BASE_DIR / "instance"))


def _secret_key() -> str:
    """Use SECRET_KEY when set; otherwise keep a random one in instance/ so sessions survive
    restarts and every worker process shares it."""
    if key := os.environ.get("SECRET_KEY"):
        return key
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    path = INSTANCE_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def _database_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        return url.replace("postgres://", "postgresql+psycopg://", 1)
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{INSTANCE_DIR / 'passerelle.sqlite'}"


class Config:
    """Production-leaning defaults; tests and the demo override a few keys."""

    def __init__(self, **overrides: Any) -> None:
        self.SECRET_KEY = _secret_key()
        self.SQLALCHEMY_DATABASE_URI = _database_url()
        self.SQLALCHEMY_ENGINE_OPTIONS: dict[str, Any] = {"pool_pre_ping": True}
        self.REDIS_URL = os.environ.get("REDIS_URL") or None
        # Live updates (SPEC F8): Redis channel prefix, so deployments can share one Redis.
        self.LIVE_REDIS_PREFIX = os.environ.get("LIVE_REDIS_PREFIX", "passerelle:")
        self.UPLOAD_DIR = str(INSTANCE_DIR / "uploads")
        self.MAX_UPLOAD_BYTES = int(os.environ.get("MAX_UPLOAD_BYTES", 10 * 1024 * 1024))
        # Werkzeug rejects larger bodies with 413 before any view runs.
        self.MAX_CONTENT_LENGTH = self.MAX_UPLOAD_BYTES + 512 * 1024
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.SESSION_COOKIE_SECURE = os.environ.get("SESSION_COOKIE_SECURE", "1") == "1"
        self.SESSION_COOKIE_NAME = "passerelle_session"
        self.REMEMBER_COOKIE_HTTPONLY = True
        self.PERMANENT_SESSION_LIFETIME = timedelta(hours=12)  # absolute timeout
        # The cookie is re-issued only when the session changes (the idle stamp, at most once a
        # minute: auth_session.py), so concurrent responses rarely race to overwrite it.
        self.SESSION_REFRESH_EACH_REQUEST = False
        self.SESSION_IDLE_TIMEOUT = timedelta(minutes=int(os.environ.get("SESSION_IDLE_MIN", 120)))
        self.WTF_CSRF_TIME_LIMIT = 3600 * 12
        self.WTF_CSRF_HEADERS = ["X-CSRFToken"]
        self.LOGIN_MAX_FAILURES = 10
        self.LOGIN_WINDOW = timedelta(minutes=15)
        self.INVITATION_TTL = timedelta(days=7)
        self.SMTP_HOST = os.environ.get("SMTP_HOST") or None
        self.SMTP_PORT = int(os.environ.get("SMTP_PORT", 25))
        self.SMTP_USER = os.environ.get("SMTP_USER") or None
        self.SMTP_PASSWORD = os.environ.get("SMTP_PASSWORD") or None
        self.SMTP_STARTTLS = os.environ.get("SMTP_STARTTLS", "0") == "1"
        self.MAIL_FROM = os.environ.get("MAIL_FROM", "passerelle@localhost")
        self.PUBLIC_URL = os.environ.get("PUBLIC_URL") or None
        # Web Push (issue 16): `flask reminders vapid-keys` prints a pair.
        self.VAPID_PRIVATE_KEY = os.environ.get("VAPID_PRIVATE_KEY") or None
        self.VAPID_PUBLIC_KEY = os.environ.get("VAPID_PUBLIC_KEY") or None
        self.VAPID_SUBJECT = os.environ.get("VAPID_SUBJECT", "mailto:passerelle@localhost")
        self.TIMEZONE = "Europe/Paris"
        self.TESTING = False
        for key, value in overrides.items():
            setattr(self, key, value)
