"""OpenID Connect sign-in with Authlib: authorization-code flow with PKCE, state and nonce.

Authlib does every token check (ID-token signature against the provider's JWKS, issuer,
audience, expiry with a clock-skew leeway, nonce); this module only wires it to a provider row
and turns its errors into the French domain errors of app.services.identity. The caller keeps
the `Pending` data (in the user's session) between `begin` and `finish`."""

from __future__ import annotations

import hmac
from dataclasses import asdict, dataclass
from typing import Any

import requests
from authlib.integrations.base_client import (
    BaseApp,
    FrameworkIntegration,
    OAuth2Mixin,
    OAuthError,
    OpenIDMixin,
)
from authlib.integrations.requests_client import OAuth2Session
from joserfc.errors import JoseError

from app.models import IdentityProvider
from app.services.identity import (
    HTTP_TIMEOUT,
    Identity,
    ProviderUnavailable,
    SignInRejected,
)

# Seconds of clock difference tolerated between the provider and us (iat, exp, nbf).
CLOCK_SKEW = 120
SCOPE = "openid email profile"


class _Client(OAuth2Mixin, OpenIDMixin, BaseApp):
    client_cls = OAuth2Session


def _client(provider: IdentityProvider) -> _Client:
    return _Client(
        FrameworkIntegration(f"idp{provider.id}"),
        name=f"idp{provider.id}",
        client_id=provider.client_id,
        client_secret=provider.client_secret,
        server_metadata_url=f"{provider.server_url}/.well-known/openid-configuration",
        client_kwargs={
            "scope": SCOPE,
            "code_challenge_method": "S256",
            "default_timeout": HTTP_TIMEOUT,
        },
    )


@dataclass
class Pending:
    """One sign-in under way: what the callback must find again (kept in the session)."""

    provider_id: int
    state: str
    nonce: str
    code_verifier: str
    redirect_uri: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _unavailable(provider: IdentityProvider) -> ProviderUnavailable:
    return ProviderUnavailable(
        f"Le service de connexion « {provider.label} » ne répond pas pour le moment. "
        "Réessayez dans quelques minutes, ou connectez-vous avec votre adresse e-mail et votre "
        "mot de passe."
    )


def begin(provider: IdentityProvider, redirect_uri: str) -> tuple[str, Pending]:
    """The provider's authorization URL to send the browser to, and what to keep for later."""
    client = _client(provider)
    try:
        rv = client.create_authorization_url(redirect_uri)
    except (requests.RequestException, ValueError, RuntimeError) as error:
        raise _unavailable(provider) from error
    return rv["url"], Pending(
        provider_id=provider.id,
        state=rv["state"],
        nonce=rv["nonce"],
        code_verifier=rv["code_verifier"],
        redirect_uri=redirect_uri,
    )


def _rejected(detail: str) -> SignInRejected:
    return SignInRejected(
        f"La connexion par l'ENT n'a pas abouti : {detail} Recommencez depuis la page de "
        "connexion ; si le problème persiste, prévenez l'administrateur."
    )


def finish(provider: IdentityProvider, pending: Pending | None, args: dict[str, str]) -> Identity:
    """Check the callback's state, exchange the code (with the PKCE verifier), verify the ID
    token and read the claims. Raises SignInRejected or ProviderUnavailable."""
    if args.get("error"):
        raise _rejected("le fournisseur d'identité a refusé la demande.")
    state = args.get("state", "")
    if (
        pending is None
        or pending.provider_id != provider.id
        or not hmac.compare_digest(state.encode(), pending.state.encode())
    ):
        raise _rejected("la demande de connexion a expiré ou ne vient pas de ce navigateur.")
    code = args.get("code", "")
    if not code:
        raise _rejected("la réponse du fournisseur d'identité est incomplète.")
    client = _client(provider)
    try:
        token = client.fetch_access_token(
            redirect_uri=pending.redirect_uri, code=code, code_verifier=pending.code_verifier
        )
        claims: dict[str, Any] = dict(
            client.parse_id_token(token, nonce=pending.nonce, leeway=CLOCK_SKEW) or {}
        )
        if not claims:
            raise _rejected("le fournisseur d'identité n'a pas envoyé de jeton d'identité.")
        if client.load_server_metadata().get("userinfo_endpoint"):
            userinfo = client.userinfo(token=token)
            # OIDC Core 5.3.2: the UserInfo answer is about the ID token's subject, or ignored.
            if userinfo.get("sub") == claims.get("sub"):
                claims = {**userinfo, **claims}
    except OAuthError as error:
        raise _rejected("le code de connexion a expiré ou a déjà servi.") from error
    except JoseError as error:
        raise _rejected("le jeton d'identité reçu n'a pas pu être vérifié.") from error
    except (requests.RequestException, ValueError) as error:
        raise _unavailable(provider) from error
    return _identity(provider, claims)


def _identity(provider: IdentityProvider, claims: dict[str, Any]) -> Identity:
    email = claims.get(provider.email_claim) if provider.email_claim else None
    national = claims.get(provider.national_id_claim) if provider.national_id_claim else None
    return Identity(
        subject=str(claims.get("sub") or ""),
        email=str(email) if email else None,
        email_verified=claims.get("email_verified") is True,
        national_id=str(national) if national else None,
        display_name=str(claims.get("name") or ""),
    )
