"""The admin configures the ENT's identity providers: French errors next to the field with
what was typed kept, a write-only secret, a disabled provider's button gone."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from app.extensions import db as _db
from app.models import AuditLog, IdentityProvider

SECRET = "tres-secret-0123456789abcdef"


def _form(**kw: str) -> dict[str, str]:
    data = {
        "protocol": "oidc",
        "label": "Se connecter avec l'ENT",
        "server_url": "https://ent.example.fr/oidc",
        "client_id": "passerelle-lycee",
        "client_secret": SECRET,
        "cas_version": "3",
        "email_claim": "email",
        "national_id_claim": "ine",
        "enabled": "y",
    }
    data.update(kw)
    if not data["enabled"]:
        del data["enabled"]  # an unticked checkbox is not sent
    return data


def test_admin_creates_a_provider_whose_secret_is_never_shown(
    f: Any, login_as: Any, client: FlaskClient
) -> None:
    admin = login_as(f.admin())
    response = admin.post("/administration/identite/nouveau", data=_form())
    assert response.status_code == 303
    provider = _db.session.query(IdentityProvider).one()
    assert (provider.client_secret, provider.server_url) == (SECRET, "https://ent.example.fr/oidc")
    page = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert SECRET not in page and SECRET[:6] not in page
    assert "••••••••ef" in page  # only a hint of it
    assert f"/connexion/ent/{provider.id}/retour" in page  # the redirect URI to declare
    audit = _db.session.query(AuditLog).filter_by(action="identity_provider.created").one()
    assert SECRET not in str(audit.details)
    assert "Se connecter avec l&#39;ENT" in client.get("/connexion").get_data(as_text=True)

    # An edit with the secret left empty keeps it; disabling removes the button.
    response = admin.post(
        f"/administration/identite/{provider.id}", data=_form(client_secret="", enabled="")
    )
    assert response.status_code == 303
    _db.session.refresh(provider)
    assert provider.client_secret == SECRET and provider.enabled is False
    assert "Se connecter avec l&#39;ENT" not in client.get("/connexion").get_data(as_text=True)
    assert client.get(f"/connexion/ent/{provider.id}", follow_redirects=True).status_code == 200


def test_errors_are_french_next_to_the_field_and_keep_the_input(f: Any, login_as: Any) -> None:
    admin = login_as(f.admin())
    response = admin.post(
        "/administration/identite/nouveau",
        data=_form(server_url="http://ent.example.fr/oidc", client_secret=""),
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "commençant par https://" in page
    assert 'value="http://ent.example.fr/oidc"' in page and 'value="passerelle-lycee"' in page
    response = admin.post("/administration/identite/nouveau", data=_form(client_secret=""))
    assert response.status_code == 422
    assert "Saisissez le secret client" in response.get_data(as_text=True)
    response = admin.post(
        "/administration/identite/nouveau",
        data=_form(
            protocol="cas", client_id="", client_secret="", email_claim="", national_id_claim=""
        ),
    )
    assert response.status_code == 422
    assert "au moins une donnée" in response.get_data(as_text=True)
    assert _db.session.query(IdentityProvider).count() == 0


def test_a_cas_provider_needs_no_client(f: Any, login_as: Any) -> None:
    admin = login_as(f.admin())
    response = admin.post(
        "/administration/identite/nouveau",
        data=_form(
            protocol="cas",
            server_url="https://cas.ent.example.fr/cas/",
            client_id="",
            client_secret="",
            email_claim="mail",
            cas_version="2",
        ),
    )
    assert response.status_code == 303
    provider = _db.session.query(IdentityProvider).one()
    assert (provider.protocol, provider.cas_version) == ("cas", 2)
    assert provider.server_url == "https://cas.ent.example.fr/cas"
    listing = admin.get("/administration/identite").get_data(as_text=True)
    assert "CAS" in listing and "https://cas.ent.example.fr/cas" in listing
