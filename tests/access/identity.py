"""Sign-in through the ENT (issue 13): the sign-in routes are public (a CAS provider, so no
network is needed to start); the providers' admin pages are the admin's only (403 for the
other roles, as the rest of the admin area)."""

from __future__ import annotations

from typing import Any

from app.models import IdentityProvider
from tests.access import ROLES, Case, only

ADMIN = only({"admin": 200}, 403)


def with_provider(w: Any, f: Any) -> None:
    w.idp = f._add(
        IdentityProvider(
            protocol="cas",
            label="ENT",
            server_url="https://cas.ent.example.fr/cas",
            email_claim="mail",
        )
    )


def public(status: int) -> dict[str, int | set[int]]:
    return dict.fromkeys(ROLES, status)


CASES = [
    Case(
        "identity.start",
        "GET",
        lambda w: f"/connexion/ent/{w.idp.id}",
        public(302),  # to the CAS server, or a signed-in user to their home page
        setup=with_provider,
    ),
    Case(
        "identity.callback",
        "GET",
        lambda w: f"/connexion/ent/{w.idp.id}/retour?ticket=ST-1",
        public(400),  # no sign-in was started from this browser
        setup=with_provider,
    ),
    Case("identity.providers", "GET", lambda w: "/administration/identite", ADMIN),
    Case("identity.provider_new", "GET", lambda w: "/administration/identite/nouveau", ADMIN),
    Case(
        "identity.provider_new",
        "POST",
        lambda w: "/administration/identite/nouveau",
        only({"admin": 422}, 403),
        data=lambda w: {"protocol": "oidc", "label": "ENT", "server_url": "ftp://x"},
    ),
    Case(
        "identity.provider_edit",
        "GET",
        lambda w: f"/administration/identite/{w.idp.id}",
        ADMIN,
        setup=with_provider,
    ),
    Case(
        "identity.provider_edit",
        "POST",
        lambda w: f"/administration/identite/{w.idp.id}",
        only({"admin": 303}, 403),
        data=lambda w: {
            "protocol": "cas",
            "label": "ENT du lycée",
            "server_url": "https://cas.ent.example.fr/cas",
            "cas_version": "3",
            "email_claim": "mail",
            "enabled": "y",
        },
        setup=with_provider,
    ),
]
