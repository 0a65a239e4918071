"""Sign-in through the school's identity provider (ENT): providers, and linking an incoming
identity to an existing Passerelle account.

The protocols themselves live in identity_oidc (Authlib) and identity_cas; both end with an
`Identity`, which `resolve` turns into an account or a French refusal. An account is matched
once — on the national id imported from SIECLE/STS (`User.external_id`) or on a verified
e-mail, never on a display name — and the provider's subject is stored in an IdentityLink,
used alone from then on. Nobody is created on the fly; company tutors keep their password."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import select

from app.errors import DomainError, NotFound
from app.extensions import db
from app.models import IdentityLink, IdentityProtocol, IdentityProvider, LoginAttempt, Tutor, User
from app.models.base import utcnow
from app.services import audit
from app.services.periods import FieldError

# Prefixes the importers put before a national id in User.external_id (CSV/SIECLE: pupils'
# INE; STS-web: teachers' individual id). A claim may carry the bare id or the prefixed one.
EXTERNAL_ID_PREFIXES = ("", "ine:", "sts:")
# Seconds before an unanswering provider is reported as down.
HTTP_TIMEOUT = 5.0


class ProviderUnavailable(DomainError):
    """The provider did not answer (down, unreachable, or an unusable answer)."""

    status = 503


class SignInRejected(DomainError):
    """The provider's answer failed a check (state, code, ticket, token signature/claims)."""

    status = 400


class UnknownIdentity(DomainError):
    """A valid identity that matches no Passerelle account."""

    status = 403


class AccountRefused(DomainError):
    """The matched account may not sign in this way (deactivated, or a company tutor)."""

    status = 403


@dataclass
class Identity:
    """What a provider vouched for, once its answer was verified."""

    subject: str
    email: str | None = None
    email_verified: bool = False
    national_id: str | None = None
    display_name: str = ""


# --- providers ---------------------------------------------------------------------------------


def enabled_providers() -> list[IdentityProvider]:
    """The buttons of the sign-in page, in the order they were created."""
    return list(
        db.session.scalars(
            select(IdentityProvider)
            .where(IdentityProvider.enabled.is_(True))
            .order_by(IdentityProvider.id)
        )
    )


def all_providers() -> list[IdentityProvider]:
    return list(db.session.scalars(select(IdentityProvider).order_by(IdentityProvider.id)))


def get_enabled(provider_id: int) -> IdentityProvider:
    provider = db.session.get(IdentityProvider, provider_id)
    if provider is None or not provider.enabled:
        raise NotFound("Ce mode de connexion n'existe pas ou a été désactivé.")
    return provider


@dataclass
class ProviderInput:
    protocol: str
    label: str
    server_url: str
    client_id: str = ""
    # Empty on an edit: keep the stored secret (it is write-only).
    client_secret: str = ""
    cas_version: int = 3
    email_claim: str = "email"
    national_id_claim: str = ""
    enabled: bool = True


def _check(data: ProviderInput, existing: IdentityProvider | None) -> None:
    if data.protocol not in {p.value for p in IdentityProtocol}:
        raise FieldError("protocol", "Choisissez OpenID Connect ou CAS.")
    if not data.label.strip():
        raise FieldError(
            "label", "Saisissez le texte du bouton, par exemple « Se connecter avec l'ENT »."
        )
    url = urlsplit(data.server_url.strip())
    local = url.hostname in {"localhost", "127.0.0.1", "::1"}
    if (
        url.scheme not in {"https", "http"}
        or not url.hostname
        or (url.scheme == "http" and not local)
    ):
        raise FieldError("server_url", "Saisissez une adresse complète commençant par https://.")
    if url.query or url.fragment:
        raise FieldError("server_url", "L'adresse ne doit contenir ni « ? » ni « # ».")
    if data.protocol == IdentityProtocol.OIDC:
        if not data.client_id.strip():
            raise FieldError("client_id", "Saisissez l'identifiant client fourni par l'ENT.")
        has_secret = bool(data.client_secret) or bool(existing and existing.client_secret)
        if not has_secret:
            raise FieldError("client_secret", "Saisissez le secret client fourni par l'ENT.")
    if data.protocol == IdentityProtocol.CAS and data.cas_version not in (2, 3):
        raise FieldError("cas_version", "Choisissez la version 2 ou 3 du protocole CAS.")
    if not data.email_claim.strip() and not data.national_id_claim.strip():
        raise FieldError(
            "email_claim",
            "Indiquez au moins une donnée pour reconnaître les comptes : e-mail ou "
            "identifiant national.",
        )


def _apply(provider: IdentityProvider, data: ProviderInput) -> None:
    provider.protocol = data.protocol
    provider.label = data.label.strip()
    provider.server_url = data.server_url.strip().rstrip("/")
    provider.client_id = data.client_id.strip()
    if data.client_secret:
        provider.client_secret = data.client_secret
    provider.cas_version = data.cas_version
    provider.email_claim = data.email_claim.strip()
    provider.national_id_claim = data.national_id_claim.strip()
    provider.enabled = data.enabled


def create_provider(actor: User, data: ProviderInput) -> IdentityProvider:
    """A new provider (its button appears on the sign-in page when enabled)."""
    _check(data, None)
    provider = IdentityProvider()
    _apply(provider, data)
    db.session.add(provider)
    db.session.flush()
    audit.record(
        actor,
        "identity_provider.created",
        "identity_provider",
        provider.id,
        label=provider.label,
        protocol=provider.protocol,
    )
    return provider


def update_provider(actor: User, provider: IdentityProvider, data: ProviderInput) -> None:
    """Change a provider; an empty secret keeps the stored one. The secret is never audited."""
    _check(data, provider)
    _apply(provider, data)
    db.session.flush()
    audit.record(
        actor,
        "identity_provider.updated",
        "identity_provider",
        provider.id,
        label=provider.label,
        enabled=provider.enabled,
        secret_changed=bool(data.client_secret),
    )


def link_count(provider: IdentityProvider) -> int:
    from sqlalchemy import func

    return (
        db.session.scalar(
            select(func.count())
            .select_from(IdentityLink)
            .where(IdentityLink.provider_id == provider.id)
        )
        or 0
    )


# --- linking -----------------------------------------------------------------------------------


def _match_national_id(value: str) -> list[User]:
    value = value.strip()
    if not value:
        return []
    candidates = [f"{prefix}{value}" for prefix in EXTERNAL_ID_PREFIXES]
    return list(db.session.scalars(select(User).where(User.external_id.in_(candidates))))


def _match_email(identity: Identity) -> list[User]:
    if not identity.email or not identity.email_verified:
        return []
    email = identity.email.strip().lower()
    return list(db.session.scalars(select(User).where(User.email == email)))


def _refuse_unless_allowed(user: User) -> None:
    if isinstance(user, Tutor):
        raise AccountRefused(
            "Les tuteurs et maîtres d'apprentissage en entreprise se connectent avec leur "
            "adresse e-mail et leur mot de passe, pas avec l'ENT."
        )
    if not user.is_active:
        raise AccountRefused(
            "Votre compte Passerelle est désactivé. Adressez-vous à l'administrateur de "
            "l'établissement."
        )


def _unknown() -> UnknownIdentity:
    return UnknownIdentity(
        "Votre identité ENT a bien été vérifiée, mais elle ne correspond à aucun compte "
        "Passerelle. Aucun compte n'est créé automatiquement : demandez à l'administrateur de "
        "l'établissement de créer ou d'importer votre compte."
    )


def resolve(provider: IdentityProvider, identity: Identity) -> User:
    """The account this verified identity signs in to.

    Uses the stored link when there is one; otherwise matches once on the national id, then
    on a verified e-mail, and stores the link. Raises UnknownIdentity or AccountRefused."""
    if not identity.subject:
        raise SignInRejected("La réponse du fournisseur d'identité ne désigne aucun utilisateur.")
    link = db.session.scalar(
        select(IdentityLink).where(
            IdentityLink.provider_id == provider.id, IdentityLink.subject == identity.subject
        )
    )
    if link is not None:
        user = link.user
        _refuse_unless_allowed(user)
        link.last_used_at = utcnow()
        return user

    matched_by = "national_id"
    users = _match_national_id(identity.national_id or "")
    if not users:
        matched_by = "email"
        users = _match_email(identity)
    users = [u for u in users if u.anonymised_at is None]
    if len(users) != 1:
        raise _unknown()
    user = users[0]
    _refuse_unless_allowed(user)
    already = db.session.scalar(
        select(IdentityLink).where(
            IdentityLink.provider_id == provider.id, IdentityLink.user_id == user.id
        )
    )
    if already is not None:
        # The account is bound to another subject of this provider: the stored link wins.
        raise _unknown()
    db.session.add(
        IdentityLink(
            provider_id=provider.id,
            subject=identity.subject,
            user_id=user.id,
            matched_by=matched_by,
            last_used_at=utcnow(),
        )
    )
    audit.record(
        user, "identity.linked", "user", user.id, provider=provider.label, matched_by=matched_by
    )
    return user


def signed_in(user: User) -> None:
    """What a successful sign-in records, as the password sign-in does."""
    user.last_login_at = utcnow()


def record_failure(ip: str) -> None:
    """A provider answer that failed verification counts towards the address's throttle."""
    db.session.add(LoginAttempt(key=f"ip:{ip}"))
