"""Sign-in through the school's identity provider (ENT): OpenID Connect or CAS.

An IdentityProvider is configured by an admin; an IdentityLink records, once, which account a
(provider, subject) pair signs in to, so later sign-ins never depend on e-mail or id again."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import UTCDateTime, utcnow
from app.models.user import User


class IdentityProtocol(StrEnum):
    OIDC = "oidc"
    CAS = "cas"


PROTOCOL_LABELS = {
    IdentityProtocol.OIDC: "OpenID Connect",
    IdentityProtocol.CAS: "CAS",
}


class IdentityProvider(db.Model):  # type: ignore[name-defined]
    __tablename__ = "identity_providers"
    __table_args__ = (
        CheckConstraint("protocol in ('oidc', 'cas')", name="protocol"),
        CheckConstraint("cas_version in (2, 3)", name="cas_version"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    protocol: Mapped[str] = mapped_column(String(10))
    # The button on the sign-in page, e.g. "Se connecter avec l'ENT".
    label: Mapped[str] = mapped_column(String(80))
    # OIDC: the issuer (its /.well-known/openid-configuration is read); CAS: the server's base
    # URL (…/login, …/serviceValidate, …/p3/serviceValidate).
    server_url: Mapped[str] = mapped_column(String(300))
    client_id: Mapped[str] = mapped_column(String(200), default="")
    # Needed in clear to authenticate to the token endpoint; never shown back in full.
    client_secret: Mapped[str] = mapped_column(String(300), default="")
    cas_version: Mapped[int] = mapped_column(default=3)
    # Claim (OIDC) or attribute (CAS) carrying the e-mail, and the national id (INE, STS id).
    email_claim: Mapped[str] = mapped_column(String(80), default="email")
    national_id_claim: Mapped[str] = mapped_column(String(80), default="")
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def protocol_label(self) -> str:
        return PROTOCOL_LABELS.get(IdentityProtocol(self.protocol), self.protocol)

    @property
    def secret_hint(self) -> str:
        """What the admin sees of the stored secret: its length and last two characters."""
        if not self.client_secret:
            return ""
        return "•" * 8 + self.client_secret[-2:]


class IdentityLink(db.Model):  # type: ignore[name-defined]
    """The provider's stable subject for one account, stored at the first sign-in."""

    __tablename__ = "identity_links"
    __table_args__ = (
        UniqueConstraint("provider_id", "subject"),
        UniqueConstraint("provider_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(
        ForeignKey("identity_providers.id", ondelete="CASCADE")
    )
    subject: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # How the first sign-in matched the account: "national_id" or "email".
    matched_by: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    provider: Mapped[IdentityProvider] = relationship()
    user: Mapped[User] = relationship()
