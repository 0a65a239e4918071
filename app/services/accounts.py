"""Accounts managed by the admin: list and search, create teachers, admins and
apprenticeship masters, edit, assign teachers to levels, deactivate and reactivate, and send
a password link (an invitation, see app/services/invitations.py).

Deactivation ends every session of the account at once (its session version is bumped, so a
copied cookie stops working) and revokes its pending invitations.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.orm import raiseload, with_polymorphic

from app.errors import DomainError
from app.extensions import db
from app.models import (
    Admin,
    ClassGroup,
    Invitation,
    Learner,
    LearnerStatus,
    Level,
    Role,
    Teacher,
    Tutor,
    TutorKind,
    User,
)
from app.models.base import utcnow
from app.models.school import teacher_levels
from app.services import audit, auth, invitations
from app.services.liaison import normalize_email, normalize_phone
from app.services.periods import FieldError

PER_PAGE = 50
NAME_MAX = 80

# The filter of the accounts list: role, or tutor kind for the two kinds of company mentor.
ROLE_FILTERS: dict[str, str] = {
    "": "Tous les comptes",
    "teacher": "Enseignants",
    "learner": "Apprenants",
    "master": "Maîtres d'apprentissage",
    "tutor": "Tuteurs de stage",
    "admin": "Administrateurs",
}
# What the admin may create here (learners come from the CSV import, internship tutors are
# created by the referent teacher from the liaison sheet).
CREATABLE: dict[str, str] = {
    "teacher": "Enseignant",
    "master": "Maître d'apprentissage",
    "admin": "Administrateur",
}


@dataclass
class AccountLine:
    user: User
    detail: str  # class of a learner, levels of a teacher, company of a mentor


@dataclass
class AccountPage:
    lines: list[AccountLine]
    total: int
    page: int
    per_page: int
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


# Single-table inheritance: role-specific columns are columns of the one `users` table.
_USERS = User.__table__.c


def _filtered(role: str, query: str, active: str) -> Select[User]:
    # All subclasses' columns in the one SELECT (a learner's class, a tutor's company…).
    stmt = select(with_polymorphic(User, "*"))
    if role == "master":
        stmt = stmt.where(User.role == Role.TUTOR, _USERS.tutor_kind == TutorKind.APPRENTICESHIP)
    elif role == "tutor":
        stmt = stmt.where(User.role == Role.TUTOR, _USERS.tutor_kind == TutorKind.INTERNSHIP)
    elif role in (Role.ADMIN, Role.TEACHER, Role.LEARNER):
        stmt = stmt.where(User.role == role)
    if active == "active":
        stmt = stmt.where(User.is_active_account.is_(True), User.anonymised_at.is_(None))
    elif active == "inactive":
        stmt = stmt.where(or_(User.is_active_account.is_(False), User.anonymised_at.isnot(None)))
    words = query.split()[:5]
    for word in words:
        pattern = f"%{_escape_like(word)}%"
        stmt = stmt.where(
            or_(
                User.last_name.ilike(pattern, escape="\\"),
                User.first_name.ilike(pattern, escape="\\"),
                User.email.ilike(pattern, escape="\\"),
            )
        )
    return stmt


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_accounts(
    role: str = "", query: str = "", active: str = "", page: int = 1, per_page: int = PER_PAGE
) -> AccountPage:
    """One page of accounts, sorted by name, with what identifies each (4 queries)."""
    role = role if role in ROLE_FILTERS else ""
    query = query.replace("\x00", "").strip()[:100]  # PostgreSQL refuses NUL in text
    base = _filtered(role, query, active)
    total = db.session.scalar(select(func.count()).select_from(base.subquery())) or 0
    page = max(1, min(page, max(1, -(-total // per_page))))
    users = list(
        db.session.scalars(
            base.options(raiseload("*"))
            .order_by(User.last_name, User.first_name, User.id)
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
    )
    class_ids = {u.class_group_id for u in users if isinstance(u, Learner) and u.class_group_id}
    class_names = dict(
        db.session.execute(
            select(ClassGroup.id, ClassGroup.name).where(ClassGroup.id.in_(class_ids or {-1}))
        ).all()
    )
    teacher_ids = [u.id for u in users if isinstance(u, Teacher)]
    levels: dict[int, list[str]] = {}
    for teacher_id, name in db.session.execute(
        select(teacher_levels.c.teacher_id, Level.name)
        .join(Level, Level.id == teacher_levels.c.level_id)
        .where(teacher_levels.c.teacher_id.in_(teacher_ids or [-1]))
        .order_by(Level.position, Level.name)
    ):
        levels.setdefault(teacher_id, []).append(name)
    lines = []
    for user in users:
        if isinstance(user, Learner):
            detail = class_names.get(user.class_group_id or -1, "")
        elif isinstance(user, Teacher):
            detail = ", ".join(levels.get(user.id, []))
        elif isinstance(user, Tutor):
            detail = user.company_name or ""
        else:
            detail = ""
        lines.append(AccountLine(user=user, detail=detail))
    return AccountPage(lines=lines, total=total, page=page, per_page=per_page)


def role_counts() -> dict[str, int]:
    """How many accounts of each filter (one query), for the tabs of the list."""
    rows = db.session.execute(
        select(_USERS.role, _USERS.tutor_kind, func.count()).group_by(
            _USERS.role, _USERS.tutor_kind
        )
    ).all()
    counts = dict.fromkeys(ROLE_FILTERS, 0)
    for role, kind, count in rows:
        key = role
        if role == Role.TUTOR:
            key = "master" if kind == TutorKind.APPRENTICESHIP else "tutor"
        counts[key] = counts.get(key, 0) + count
        counts[""] += count
    return counts


# --- creating and editing ----------------------------------------------------------------------


@dataclass
class AccountInput:
    first_name: str
    last_name: str
    email: str
    phone: str = ""
    level_ids: list[int] = field(default_factory=list)
    company_name: str = ""
    job_title: str = ""
    # Learners only
    birth_date: date | None = None
    class_group_id: int | None = None
    learner_status: str | None = None


def _name(value: str, field_name: str, message: str) -> str:
    text = " ".join((value or "").split())
    if not text:
        raise FieldError(field_name, message)
    if len(text) > NAME_MAX:
        raise FieldError(field_name, f"{NAME_MAX} caractères au maximum.")
    return text


def _optional(value: str, field_name: str, max_length: int) -> str:
    text = " ".join((value or "").split())
    if len(text) > max_length:
        raise FieldError(field_name, f"{max_length} caractères au maximum.")
    return text


def _unique_email(email: str, user: User | None) -> None:
    owner = db.session.scalar(select(User).where(User.email == email))
    if owner is not None and (user is None or owner.id != user.id):
        raise FieldError(
            "email", f"Cette adresse e-mail est déjà celle d'un autre compte ({owner.role_label})."
        )


def _levels(level_ids: Iterable[int]) -> list[Level]:
    ids = sorted(set(level_ids))
    if not ids:
        return []
    levels = list(db.session.scalars(select(Level).where(Level.id.in_(ids))))
    if len(levels) != len(ids):
        raise FieldError("level_ids", "Niveau inconnu.")
    return levels


def create_account(
    actor: User, kind: str, data: AccountInput, invitation_ttl: timedelta
) -> tuple[User, str | None]:
    """Create a teacher, an admin or an apprenticeship master, with a one-time link to choose
    a password (returned as a token, None when no link was issued)."""
    if kind not in CREATABLE:
        raise FieldError("kind", "Type de compte inconnu.")
    if kind == "master":
        issued = invitations.create_master(
            actor,
            invitations.TutorInput(
                first_name=data.first_name,
                last_name=data.last_name,
                email=data.email,
                phone=data.phone,
                job_title=data.job_title,
                company_name=data.company_name,
            ),
            invitation_ttl,
        )
        if not issued.created:
            raise FieldError(
                "email", "Un maître d'apprentissage existe déjà avec cette adresse e-mail."
            )
        return issued.tutor, issued.token
    email = normalize_email(data.email, "email")
    _unique_email(email, None)
    user: User
    common = {
        "first_name": _name(data.first_name, "first_name", "Indiquez le prénom."),
        "last_name": _name(data.last_name, "last_name", "Indiquez le nom."),
        "email": email,
        "phone": normalize_phone(data.phone, "phone", required=False),
    }
    if kind == "teacher":
        user = Teacher(**common, levels=_levels(data.level_ids))
    else:
        user = Admin(**common)
    db.session.add(user)
    db.session.flush()
    audit.record(actor, "account.created", "user", user.id, role=user.role)
    _invitation, token = invitations.issue_invitation(actor, user, invitation_ttl)
    return user, token


def update_account(actor: User, user: User, data: AccountInput) -> list[str]:
    """Change an account's identity and role-specific fields; returns what changed."""
    values: dict[str, object] = {
        "first_name": _name(data.first_name, "first_name", "Indiquez le prénom."),
        "last_name": _name(data.last_name, "last_name", "Indiquez le nom."),
        "phone": normalize_phone(data.phone, "phone", required=False),
    }
    # A learner may have no e-mail (imported without one); everyone else signs in with it.
    email = normalize_email(data.email, "email", required=not isinstance(user, Learner))
    if email:
        _unique_email(email, user)
    values["email"] = email or None
    if isinstance(user, Tutor):
        values["company_name"] = _optional(data.company_name, "company_name", 200)
        values["job_title"] = _optional(data.job_title, "job_title", 120)
    if isinstance(user, Learner):
        group_id = data.class_group_id
        if group_id is not None and db.session.get(ClassGroup, group_id) is None:
            raise FieldError("class_group_id", "Classe inconnue.")
        values["class_group_id"] = data.class_group_id
        if data.learner_status not in (LearnerStatus.PUPIL, LearnerStatus.APPRENTICE):
            raise FieldError("learner_status", "Choisissez élève ou apprenti.")
        values["learner_status"] = data.learner_status
        if data.birth_date is not None and not date(1900, 1, 1) <= data.birth_date <= date.today():
            raise FieldError("birth_date", "Date de naissance impossible.")
        values["birth_date"] = data.birth_date
    wanted = _levels(data.level_ids) if isinstance(user, Teacher) else []
    # Everything is checked: now change (a FieldError above leaves the account untouched).
    changed = [name for name, value in values.items() if getattr(user, name) != value]
    for name in changed:
        setattr(user, name, values[name])
    if isinstance(user, Teacher) and {lv.id for lv in wanted} != {lv.id for lv in user.levels}:
        user.levels = wanted
        changed.append("levels")
    if "email" in changed:
        # The sign-in identifier changed: sessions opened with the old one end.
        auth.end_all_sessions(user)
    db.session.flush()
    if changed:
        audit.record(
            actor,
            "account.updated",
            "user",
            user.id,
            learner_id=user.id if isinstance(user, Learner) else None,
            fields=changed,
        )
    return changed


def set_active(actor: User, user: User, active: bool) -> None:
    """Deactivate (every session ends, pending links are revoked) or reactivate an account."""
    if user.anonymised_at is not None:
        raise DomainError("Ce compte a été anonymisé : il ne peut pas être réactivé.")
    if not active and user.id == actor.id:
        raise DomainError("Vous ne pouvez pas désactiver votre propre compte.")
    if user.is_active_account == active:
        return
    user.is_active_account = active
    if not active:
        auth.end_all_sessions(user)
        revoke_invitations(user)
    db.session.flush()
    audit.record(
        actor,
        "account.reactivated" if active else "account.deactivated",
        "user",
        user.id,
        learner_id=user.id if isinstance(user, Learner) else None,
    )


def revoke_invitations(user: User) -> int:
    """Unused links of this account stop working; returns how many."""
    result = db.session.execute(
        update(Invitation)
        .where(
            Invitation.user_id == user.id,
            Invitation.used_at.is_(None),
            Invitation.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def send_password_link(actor: User, user: User, ttl: timedelta) -> str:
    """A new one-time link for the account to choose a (new) password; older links stop
    working. The current password keeps working until the link is used."""
    if not user.is_active:
        raise DomainError("Ce compte est désactivé : réactivez-le avant d'envoyer un lien.")
    if not user.email:
        raise DomainError(
            "Ce compte n'a pas d'adresse e-mail : ajoutez-en une pour qu'il puisse se connecter."
        )
    _invitation, token = invitations.issue_invitation(actor, user, ttl)
    return token


def classes_for_select() -> list[tuple[int, str]]:
    rows = db.session.execute(
        select(ClassGroup.id, ClassGroup.name, Level.name)
        .join(Level, Level.id == ClassGroup.level_id)
        .order_by(Level.position, Level.name, ClassGroup.name)
    )
    return [(class_id, f"{name} ({level})") for class_id, name, level in rows]


def levels_for_select() -> list[tuple[int, str]]:
    rows = db.session.execute(select(Level.id, Level.name).order_by(Level.position, Level.name))
    return [(level_id, name) for level_id, name in rows]
