"""Sign-in through the ENT against real providers started on 127.0.0.1: oidc-provider (npm,
a certified OpenID Provider) and a CAS 2/3 server. What a user notices: they land on their
home page signed in, or they read a French message and stay signed out."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask.testing import FlaskClient

from app.extensions import db as _db
from app.models import IdentityLink, IdentityProvider
from tests.factories import PASSWORD
from tests.identity_servers import (  # noqa: F401
    CLIENT_ID,
    CLIENT_SECRET,
    CasServer,
    OidcServer,
    cas_server_fixture,
    oidc_server_fixture,
)


def _oidc(f: Any, issuer: str, **kw: Any) -> IdentityProvider:
    provider = IdentityProvider(
        protocol="oidc",
        label=kw.pop("label", "Se connecter avec l'ENT"),
        server_url=issuer,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        email_claim="email",
        national_id_claim=kw.pop("national_id_claim", "ent_id"),
        **kw,
    )
    return f._add(provider)


def _cas(f: Any, url: str, version: int = 3) -> IdentityProvider:
    provider = IdentityProvider(
        protocol="cas",
        label="ENT (CAS)",
        server_url=url,
        cas_version=version,
        email_claim="mail",
        national_id_claim="ENTEleveINE",
    )
    return f._add(provider)


@pytest.fixture
def op(oidc_server: OidcServer) -> Iterator[OidcServer]:
    oidc_server.set_mode("normal")
    yield oidc_server
    oidc_server.set_mode("normal")


def _start(client: FlaskClient, provider: IdentityProvider) -> str:
    response = client.get(f"/connexion/ent/{provider.id}")
    assert response.status_code == 302, response.text
    return str(response.headers["Location"])


def _back(client: FlaskClient, url: str) -> Any:
    parts = urlsplit(url)
    return client.get(f"{parts.path}?{parts.query}")


def _signed_in_home(client: FlaskClient) -> str:
    page = client.get("/", follow_redirects=True)
    return page.get_data(as_text=True)


def test_sign_in_page_shows_the_enabled_providers_only(client: FlaskClient, f: Any) -> None:
    _oidc(f, "https://ent.example.fr", label="Se connecter avec l'ENT")
    _oidc(f, "https://old.example.fr", label="Ancien ENT", enabled=False)
    page = client.get("/connexion").get_data(as_text=True)
    assert "Se connecter avec l&#39;ENT" in page
    assert "Ancien ENT" not in page
    assert 'name="password"' in page  # the password form stays


def test_teacher_signs_in_by_national_id_then_by_the_stored_link(
    client: FlaskClient, f: Any, op: OidcServer
) -> None:
    teacher = f.teacher(email="c.martin@lycee.example.fr", external_id="sts:STS-4821")
    provider = _oidc(f, op.issuer)
    authorize = _start(client, provider)
    query = parse_qs(urlsplit(authorize).query)
    assert query["code_challenge_method"] == ["S256"] and query["nonce"] and query["state"]

    response = _back(client, op.sign_in(authorize, "prof.martin"))
    assert response.status_code == 302
    assert teacher.first_name in _signed_in_home(client)
    link = _db.session.query(IdentityLink).filter_by(provider_id=provider.id).one()
    assert (link.subject, link.user_id, link.matched_by) == (
        "prof.martin",
        teacher.id,
        "national_id",
    )
    assert teacher.last_login_at is not None

    # The stored link is what counts from now on, even if the id changes at the school.
    teacher.external_id = None
    _db.session.flush()
    client.post("/deconnexion")
    response = _back(client, op.sign_in(_start(client, provider), "prof.martin"))
    assert response.status_code == 302
    assert client.get("/compte/mot-de-passe").status_code == 200  # signed in


def test_verified_email_matches_an_account(client: FlaskClient, f: Any, op: OidcServer) -> None:
    teacher = f.teacher(email="paul.durand@lycee.example.fr")
    provider = _oidc(f, op.issuer)
    response = _back(client, op.sign_in(_start(client, provider), "prof.email"))
    assert response.status_code == 302
    assert _db.session.query(IdentityLink).filter_by(user_id=teacher.id).one().matched_by == "email"


def test_unverified_email_and_unknown_identity_get_a_french_page(
    client: FlaskClient, f: Any, op: OidcServer
) -> None:
    f.teacher(email="paul.durand@lycee.example.fr", first_name="Paul", last_name="Durand")
    provider = _oidc(f, op.issuer)
    for login in ("email.non.verifie", "inconnu"):  # "Paul Durand" by name: never matched
        response = _back(client, op.sign_in(_start(client, provider), login))
        assert response.status_code == 403
        page = response.get_data(as_text=True)
        assert "Compte introuvable" in page and "ne correspond à aucun compte" in page
        assert client.get("/compte/mot-de-passe").status_code == 302  # still signed out
    assert _db.session.query(IdentityLink).count() == 0


def test_learner_matches_on_the_ine_of_the_import(
    client: FlaskClient, f: Any, op: OidcServer
) -> None:
    learner = f.learner(email=None, external_id="ine:070123456AB")
    provider = _oidc(f, op.issuer, national_id_claim="ine")
    response = _back(client, op.sign_in(_start(client, provider), "eleve.ines"))
    assert response.status_code == 302
    assert (
        _db.session.query(IdentityLink).filter_by(user_id=learner.id).one().subject == "eleve.ines"
    )


def test_tutor_and_deactivated_account_are_refused(
    client: FlaskClient, f: Any, op: OidcServer
) -> None:
    f.tutor(email="tuteur@entreprise.example.fr")
    f.teacher(email="paul.durand@lycee.example.fr", is_active_account=False)
    provider = _oidc(f, op.issuer)
    response = _back(client, op.sign_in(_start(client, provider), "tuteur"))
    assert response.status_code == 403
    assert "mot de passe, pas avec l&#39;ENT" in response.get_data(as_text=True)
    response = _back(client, op.sign_in(_start(client, provider), "prof.email"))
    assert response.status_code == 403
    assert "compte Passerelle est désactivé" in response.get_data(as_text=True)
    assert client.get("/compte/mot-de-passe").status_code == 302


def test_wrong_state_is_refused(client: FlaskClient, f: Any, op: OidcServer) -> None:
    f.teacher(external_id="sts:STS-4821")
    provider = _oidc(f, op.issuer)
    callback = op.sign_in(_start(client, provider), "prof.martin")
    tampered = callback.replace("state=", "state=x")
    response = _back(client, tampered)
    assert response.status_code == 400
    assert "ne vient pas de ce navigateur" in response.get_data(as_text=True)
    assert client.get("/compte/mot-de-passe").status_code == 302


def test_replayed_code_is_refused(client: FlaskClient, f: Any, op: OidcServer) -> None:
    f.teacher(external_id="sts:STS-4821")
    provider = _oidc(f, op.issuer)
    callback = op.sign_in(_start(client, provider), "prof.martin")
    assert _back(client, callback).status_code == 302
    client.post("/deconnexion")
    # Same URL again: its state was used up.
    assert _back(client, callback).status_code == 400
    # The old code with a fresh, valid state: the provider refuses the used code.
    fresh = parse_qs(urlsplit(_start(client, provider)).query)["state"][0]
    code = parse_qs(urlsplit(callback).query)["code"][0]
    response = client.get(f"/connexion/ent/{provider.id}/retour?code={code}&state={fresh}")
    assert response.status_code == 400
    assert "a expiré ou a déjà servi" in response.get_data(as_text=True)
    assert client.get("/compte/mot-de-passe").status_code == 302


@pytest.mark.parametrize("mode", ["expired", "forged", "wrong_aud"])
def test_bad_id_tokens_are_refused(client: FlaskClient, f: Any, op: OidcServer, mode: str) -> None:
    f.teacher(external_id="sts:STS-4821")
    provider = _oidc(f, op.issuer)
    callback = op.sign_in(_start(client, provider), "prof.martin")
    op.set_mode(mode)
    response = _back(client, callback)
    assert response.status_code == 400
    assert "jeton d&#39;identité reçu n&#39;a pas pu être vérifié" in response.get_data(
        as_text=True
    )
    assert client.get("/compte/mot-de-passe").status_code == 302
    assert _db.session.query(IdentityLink).count() == 0


def test_provider_down_shows_a_message_and_password_sign_in_works(
    client: FlaskClient, f: Any
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    teacher = f.teacher(password=PASSWORD)
    provider = _oidc(f, f"http://127.0.0.1:{closed}")
    response = client.get(f"/connexion/ent/{provider.id}", follow_redirects=True)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "ne répond pas pour le moment" in page and 'name="password"' in page
    response = client.post("/connexion", data={"email": teacher.email, "password": PASSWORD})
    assert response.status_code == 302


def test_cas3_sign_in_with_attributes(client: FlaskClient, f: Any, cas_server: CasServer) -> None:
    teacher = f.teacher(email="claire.martin@ent.example.fr")
    provider = _cas(f, cas_server.url)
    login = _start(client, provider)
    assert login.startswith(f"{cas_server.url}/login?service=")
    callback = cas_server.sign_in(login, "cas.prof")
    assert _back(client, callback).status_code == 302
    assert _db.session.query(IdentityLink).filter_by(user_id=teacher.id).one().subject == "cas.prof"

    # Replaying the ticket: the server answers authenticationFailure (single use).
    client.post("/deconnexion")
    _start(client, provider)
    response = _back(client, callback)
    assert response.status_code == 400
    assert "ticket de connexion a expiré ou a déjà servi" in response.get_data(as_text=True)


def test_cas_bad_ticket_and_unknown_user(
    client: FlaskClient, f: Any, cas_server: CasServer
) -> None:
    provider = _cas(f, cas_server.url)
    _start(client, provider)
    response = client.get(f"/connexion/ent/{provider.id}/retour?ticket=ST-invente")
    assert response.status_code == 400
    callback = cas_server.sign_in(_start(client, provider), "cas.inconnu")
    response = _back(client, callback)
    assert response.status_code == 403
    assert "Compte introuvable" in response.get_data(as_text=True)


def test_cas2_matches_the_subject_link_only(
    client: FlaskClient, f: Any, cas_server: CasServer
) -> None:
    learner = f.learner(external_id="ine:070123456AB")
    provider = _cas(f, cas_server.url, version=2)
    # CAS 2 sends no attributes: an unlinked user is unknown…
    response = _back(client, cas_server.sign_in(_start(client, provider), "cas.eleve"))
    assert response.status_code == 403
    # …and once the link exists (e.g. made through CAS 3), the subject alone signs in.
    f._add(
        IdentityLink(
            provider_id=provider.id,
            subject="cas.eleve",
            user_id=learner.id,
            matched_by="national_id",
        )
    )
    response = _back(client, cas_server.sign_in(_start(client, provider), "cas.eleve"))
    assert response.status_code == 302


def test_the_page_asked_before_signing_in_is_kept(
    client: FlaskClient, f: Any, cas_server: CasServer
) -> None:
    f.teacher(email="claire.martin@ent.example.fr")
    provider = _cas(f, cas_server.url)
    page = client.get("/connexion?next=/compte/mot-de-passe").get_data(as_text=True)
    assert f"/connexion/ent/{provider.id}?next=/compte/mot-de-passe" in page
    login = client.get(f"/connexion/ent/{provider.id}?next=/compte/mot-de-passe")
    response = _back(client, cas_server.sign_in(login.headers["Location"], "cas.prof"))
    assert response.headers["Location"] == "/compte/mot-de-passe"


BOMB = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
    b'<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas"><cas:authenticationSuccess>'
    b"<cas:user>&lol3;</cas:user></cas:authenticationSuccess></cas:serviceResponse>"
)


@pytest.mark.parametrize("body", [BOMB, b"<html>erreur</html>", b"pas du XML"])
def test_a_hostile_or_broken_cas_answer_gives_a_french_message(
    client: FlaskClient, f: Any, cas_server: CasServer, body: bytes
) -> None:
    provider = _cas(f, cas_server.url)
    callback = cas_server.sign_in(_start(client, provider), "cas.prof")
    cas_server.override = body
    try:
        response = _back(client, callback)
    finally:
        cas_server.override = None
    assert response.status_code == 303
    page = client.get("/connexion").get_data(as_text=True)
    assert "ne répond pas pour le moment" in page
    assert client.get("/compte/mot-de-passe").status_code == 302
