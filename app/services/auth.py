"""Passwords (argon2), sign-in with throttling, and ending sessions."""

from __future__ import annotations

from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, or_, select

from app.errors import DomainError, InvalidInput
from app.extensions import db
from app.models import LoginAttempt, User
from app.models.base import utcnow

_hasher = PasswordHasher()
# A real hash to verify against when the account does not exist, so timing does not tell.
_DUMMY_HASH = _hasher.hash("passerelle-timing-guard")
MIN_PASSWORD_LENGTH = 10


class LoginThrottled(DomainError):
    status = 429


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(user: User | None, password: str) -> bool:
    stored = user.password_hash if user is not None and user.password_hash else _DUMMY_HASH
    try:
        ok = _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False
    return ok and user is not None and bool(user.password_hash)


def set_password(user: User, password: str) -> None:
    """Set a new password and end every other session of the user."""
    check_password_strength(password)
    user.password_hash = hash_password(password)
    user.session_version += 1


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            f"Le mot de passe doit contenir au moins {MIN_PASSWORD_LENGTH} caractères."
        )


def _keys(email: str, ip: str) -> list[str]:
    return [f"email:{email.strip().lower()}", f"ip:{ip}"]


def is_throttled(email: str, ip: str, max_failures: int, window: timedelta) -> bool:
    since = utcnow() - window
    counts = db.session.execute(
        select(LoginAttempt.key, func.count())
        .where(LoginAttempt.key.in_(_keys(email, ip)), LoginAttempt.at >= since)
        .group_by(LoginAttempt.key)
    ).all()
    return any(count >= max_failures for _key, count in counts)


def authenticate(
    email: str, password: str, ip: str, *, max_failures: int, window: timedelta
) -> User | None:
    """The active user with these credentials, or None (and the failure is counted).

    Raises LoginThrottled after `max_failures` failures for the account or the address within
    `window`; the counter lives in the database so it holds across worker processes."""
    if is_throttled(email, ip, max_failures, window):
        raise LoginThrottled(
            "Trop de tentatives de connexion. Réessayez dans une quinzaine de minutes."
        )
    user = db.session.scalar(select(User).where(User.email == email.strip().lower()))
    if verify_password(user, password) and user is not None and user.is_active:
        clear_failures(email, ip)
        user.last_login_at = utcnow()
        if _hasher.check_needs_rehash(user.password_hash or ""):
            user.password_hash = hash_password(password)
        return user
    for key in _keys(email, ip):
        db.session.add(LoginAttempt(key=key))
    return None


def clear_failures(email: str, ip: str) -> None:
    db.session.execute(delete(LoginAttempt).where(LoginAttempt.key == _keys(email, ip)[0]))


def purge_old_attempts(older_than: datetime) -> None:
    db.session.execute(delete(LoginAttempt).where(or_(LoginAttempt.at < older_than)))


def end_all_sessions(user: User) -> None:
    """Every cookie issued before this call stops working (logout everywhere)."""
    user.session_version += 1
