"""CAS 2/3 sign-in: send the browser to the server's /login, then validate the service ticket
against /serviceValidate (CAS 2) or /p3/serviceValidate (CAS 3, with attributes).

The XML answer is parsed with defusedxml (no entity expansion, no external DTDs)."""

from __future__ import annotations

from urllib.parse import urlencode
from xml.etree.ElementTree import Element  # type only; parsing uses defusedxml

import requests
from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException

from app.models import IdentityProvider
from app.services.identity import (
    HTTP_TIMEOUT,
    Identity,
    ProviderUnavailable,
    SignInRejected,
)

NS = {"cas": "http://www.yale.edu/tp/cas"}
# CAS 1.0 answers "no" + newline; 3.0 §2.5: tickets start with "ST-".
TICKET_MAX = 256


def login_url(provider: IdentityProvider, service: str) -> str:
    return f"{provider.server_url}/login?{urlencode({'service': service})}"


def _unavailable(provider: IdentityProvider) -> ProviderUnavailable:
    return ProviderUnavailable(
        f"Le service de connexion « {provider.label} » ne répond pas pour le moment. "
        "Réessayez dans quelques minutes, ou connectez-vous avec votre adresse e-mail et votre "
        "mot de passe."
    )


def _rejected(detail: str) -> SignInRejected:
    return SignInRejected(
        f"La connexion par l'ENT n'a pas abouti : {detail} Recommencez depuis la page de "
        "connexion ; si le problème persiste, prévenez l'administrateur."
    )


def validate(provider: IdentityProvider, service: str, ticket: str) -> Identity:
    """Ask the CAS server whether `ticket` was issued for `service` (single use)."""
    if not ticket or len(ticket) > TICKET_MAX:
        raise _rejected("le ticket de connexion est absent ou invalide.")
    path = "/p3/serviceValidate" if provider.cas_version == 3 else "/serviceValidate"
    try:
        response = requests.get(
            f"{provider.server_url}{path}",
            params={"service": service, "ticket": ticket},
            timeout=HTTP_TIMEOUT,
        )
        response.raise_for_status()
        root = ElementTree.fromstring(response.content)
    except requests.RequestException as error:
        raise _unavailable(provider) from error
    except (ElementTree.ParseError, DefusedXmlException) as error:
        raise _unavailable(provider) from error
    if root.find("cas:authenticationFailure", NS) is not None:
        raise _rejected("le ticket de connexion a expiré ou a déjà servi.")
    success = root.find("cas:authenticationSuccess", NS)
    user = success.findtext("cas:user", default="", namespaces=NS) if success is not None else ""
    if success is None or not user.strip():
        raise _unavailable(provider)
    return _identity(provider, user.strip(), success.find("cas:attributes", NS))


def _identity(provider: IdentityProvider, user: str, attributes: Element | None) -> Identity:
    values: dict[str, str] = {}
    if attributes is not None:
        for child in attributes:
            name = child.tag.rpartition("}")[2]
            values.setdefault(name, (child.text or "").strip())
    email = values.get(provider.email_claim) if provider.email_claim else None
    national = values.get(provider.national_id_claim) if provider.national_id_claim else None
    return Identity(
        subject=user,
        email=email or None,
        # The school's CAS releases the directory's e-mail, which users cannot edit.
        email_verified=bool(email),
        national_id=national or None,
        display_name=values.get("displayName", ""),
    )
