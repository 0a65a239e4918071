"""Company mentors' accounts and their one-time invitation links (SPEC F4).

The referent teacher creates an internship tutor (or reuses one by e-mail) from a liaison
sheet; the admin creates apprenticeship masters. Either gets an invitation: a random token
of which only the SHA-256 is stored, valid once, until INVITATION_TTL. Opening the link
(GET) changes nothing, so mail scanners cannot consume it; only the POST that sets the
password uses it.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import select, update
from sqlalchemy.engine import CursorResult

from app.errors import DomainError, InvalidInput, NotFound
from app.extensions import db
from app.models import Invitation, Portfolio, Tutor, TutorKind, User
from app.models.base import utcnow
from app.services import audit, auth
from app.services.liaison import normalize_email, normalize_phone
from app.services.periods import FieldError

TOKEN_BYTES = 32
MAX_TOKEN_LENGTH = 128


class InvitationGone(DomainError):
    """The link was used, revoked or has expired."""

    status = 410


@dataclass
class TutorInput:
    first_name: str
    last_name: str
    email: str
    phone: str = ""
    job_title: str = ""
    company_name: str = ""


@dataclass
class Issued:
    """The outcome of inviting a mentor; `token` is None when the account was already active
    (the mentor simply signs in and finds the new learner)."""

    tutor: Tutor
    token: str | None
    invitation: Invitation | None
    created: bool


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _clean(data: TutorInput) -> dict[str, str]:
    def required(value: str, field_name: str, message: str, max_length: int) -> str:
        text = (value or "").strip()
        if not text:
            raise FieldError(field_name, message)
        if len(text) > max_length:
            raise FieldError(field_name, f"Ce champ ne doit pas dépasser {max_length} caractères.")
        return text

    def optional(value: str, field_name: str, max_length: int) -> str:
        text = (value or "").strip()
        if len(text) > max_length:
            raise FieldError(field_name, f"Ce champ ne doit pas dépasser {max_length} caractères.")
        return text

    return {
        "first_name": required(data.first_name, "first_name", "Indiquez le prénom.", 80),
        "last_name": required(data.last_name, "last_name", "Indiquez le nom.", 80),
        "email": normalize_email(data.email, "email"),
        "phone": normalize_phone(data.phone, "phone", required=False),
        "job_title": optional(data.job_title, "job_title", 120),
        "company_name": optional(data.company_name, "company_name", 200),
    }


def _find_or_create_tutor(actor: User, data: TutorInput, kind: TutorKind) -> tuple[Tutor, bool]:
    values = _clean(data)
    existing = db.session.scalar(select(User).where(User.email == values["email"]))
    if existing is None:
        tutor = Tutor(tutor_kind=kind.value, created_by_id=actor.id, **values)
        db.session.add(tutor)
        db.session.flush()
        audit.record(actor, "tutor.created", "user", tutor.id, kind=kind.value)
        return tutor, True
    if not isinstance(existing, Tutor) or existing.tutor_kind != kind.value:
        label = (
            "un tuteur de stage" if kind == TutorKind.INTERNSHIP else "un maître d'apprentissage"
        )
        raise FieldError(
            "email",
            f"Cette adresse e-mail est déjà celle d'un compte qui n'est pas {label} : "
            "utilisez une autre adresse.",
        )
    if not existing.is_active_account or existing.anonymised_at is not None:
        raise FieldError("email", "Ce compte a été désactivé : contactez l'administrateur.")
    # Reusing an account never overwrites what its owner may have corrected; only blanks.
    for name in ("phone", "job_title", "company_name"):
        if not getattr(existing, name) and values[name]:
            setattr(existing, name, values[name])
    return existing, False


def issue_invitation(actor: User | None, user: User, ttl: timedelta) -> tuple[Invitation, str]:
    """A new one-time link for `user`; the previous unused links stop working."""
    now = utcnow()
    db.session.execute(
        update(Invitation)
        .where(
            Invitation.user_id == user.id,
            Invitation.used_at.is_(None),
            Invitation.revoked_at.is_(None),
        )
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    token = secrets.token_urlsafe(TOKEN_BYTES)
    invitation = Invitation(
        user_id=user.id,
        token_hash=hash_token(token),
        created_by_id=actor.id if actor is not None else None,
        created_at=now,
        expires_at=now + ttl,
    )
    db.session.add(invitation)
    db.session.flush()
    audit.record(actor, "invitation.issued", "user", user.id, invitation_id=invitation.id)
    return invitation, token


def invite_internship_tutor(
    actor: User, portfolio: Portfolio, data: TutorInput, ttl: timedelta
) -> Issued:
    """Create (or reuse by e-mail) the internship tutor of a portfolio, link them to it, and
    issue an invitation when the account has never been activated."""
    current = portfolio.tutor
    if current is not None and current.is_master:
        raise DomainError(
            "Cet apprenant est suivi par un maître d'apprentissage : son compte est géré par "
            "l'administrateur de l'établissement."
        )
    tutor, created = _find_or_create_tutor(actor, data, TutorKind.INTERNSHIP)
    assign_tutor(actor, portfolio, tutor)
    if tutor.password_hash:
        return Issued(tutor=tutor, token=None, invitation=None, created=created)
    invitation, token = issue_invitation(actor, tutor, ttl)
    return Issued(tutor=tutor, token=token, invitation=invitation, created=created)


def create_master(actor: User, data: TutorInput, ttl: timedelta) -> Issued:
    """An apprenticeship master's account, created by the admin, with its invitation. The
    admin area calls this (with access.can_administer checked by its route)."""
    tutor, created = _find_or_create_tutor(actor, data, TutorKind.APPRENTICESHIP)
    if tutor.password_hash:
        return Issued(tutor=tutor, token=None, invitation=None, created=created)
    invitation, token = issue_invitation(actor, tutor, ttl)
    return Issued(tutor=tutor, token=token, invitation=invitation, created=created)


def assign_tutor(actor: User, portfolio: Portfolio, tutor: Tutor | None) -> None:
    """Make `tutor` the company mentor of the portfolio (None removes the mentor)."""
    previous = portfolio.tutor_id
    portfolio.tutor = tutor
    db.session.flush()
    if previous != portfolio.tutor_id:
        audit.record(
            actor,
            "portfolio.tutor_assigned",
            "portfolio",
            portfolio.id,
            learner_id=portfolio.learner_id,
            tutor_id=portfolio.tutor_id,
            previous_tutor_id=previous,
        )


def assign_master(actor: User, portfolio: Portfolio, master: Tutor) -> None:
    """Make an apprenticeship master the mentor of a portfolio (admin area)."""
    if not master.is_master:
        raise InvalidInput("Ce compte n'est pas celui d'un maître d'apprentissage.")
    assign_tutor(actor, portfolio, master)


def latest_invitation(user: User) -> Invitation | None:
    return db.session.scalar(
        select(Invitation)
        .where(Invitation.user_id == user.id)
        .order_by(Invitation.created_at.desc(), Invitation.id.desc())
        .limit(1)
    )


def pending_invitation(user: User) -> Invitation | None:
    """The user's latest invitation if it can still be used."""
    invitation = latest_invitation(user)
    if (
        invitation is None
        or invitation.used_at is not None
        or invitation.revoked_at is not None
        or invitation.expires_at <= utcnow()
    ):
        return None
    return invitation


def find_invitation(token: str) -> Invitation:
    """The usable invitation behind a token; NotFound or InvitationGone with a French
    message otherwise. Reading never consumes it."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise NotFound("Ce lien d'invitation n'est pas valide. Vérifiez qu'il est complet.")
    invitation = db.session.scalar(
        select(Invitation).where(Invitation.token_hash == hash_token(token))
    )
    if invitation is None:
        raise NotFound("Ce lien d'invitation n'est pas valide. Vérifiez qu'il est complet.")
    if invitation.used_at is not None:
        raise InvitationGone(
            "Ce lien d'invitation a déjà été utilisé. Connectez-vous avec votre adresse "
            "e-mail et le mot de passe que vous avez choisi."
        )
    if invitation.revoked_at is not None:
        raise InvitationGone(
            "Ce lien d'invitation a été remplacé par un lien plus récent : utilisez le "
            "dernier lien reçu, ou demandez-en un nouveau à l'enseignant référent."
        )
    if invitation.expires_at <= utcnow():
        raise InvitationGone(
            "Ce lien d'invitation a expiré. Demandez un nouveau lien à l'enseignant référent."
        )
    user = invitation.user
    if not user.is_active:
        raise InvitationGone("Ce compte a été désactivé : contactez l'établissement.")
    return invitation


def accept_invitation(token: str, password: str) -> User:
    """Set the password of the invited account and use up the link. The caller signs the
    user in after the commit."""
    invitation = find_invitation(token)
    auth.check_password_strength(password)
    # Claim the link atomically: of two concurrent submissions only one updates the row.
    claimed = cast(
        "CursorResult[Any]",
        db.session.execute(
            update(Invitation)
            .where(Invitation.id == invitation.id, Invitation.used_at.is_(None))
            .values(used_at=utcnow())
            .execution_options(synchronize_session=False)
        ),
    )
    if claimed.rowcount != 1:
        raise InvitationGone("Ce lien d'invitation a déjà été utilisé.")
    db.session.refresh(invitation)
    user = invitation.user
    auth.set_password(user, password)
    user.last_login_at = utcnow()
    db.session.flush()
    audit.record(user, "invitation.accepted", "user", user.id, invitation_id=invitation.id)
    return user
