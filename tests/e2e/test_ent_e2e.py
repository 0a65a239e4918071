"""The README's path in a real browser: the admin declares the school's ENT (the real
oidc-provider the suite starts), then a teacher signs in by clicking "Se connecter avec l'ENT"
and typing their ENT login on the provider's own page — no Passerelle password."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from app.models import IdentityLink, IdentityProvider
from tests.identity_servers import (
    CLIENT_ID,
    CLIENT_SECRET,
    OidcServer,
    oidc_server_fixture,  # noqa: F401
)

SHOTS = os.environ.get("ENT_SCREENSHOTS")


def _shot(page: Any, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=f"{SHOTS}/{name}.png", full_page=True)


def test_admin_configures_the_ent_then_a_teacher_signs_in_through_it(
    page: Any, browser: Any, live_server: Any, e2e_world: Any, login: Any, oidc_server: OidcServer
) -> None:
    w = e2e_world
    oidc_server.set_mode("normal")
    w.teacher.external_id = "sts:STS-4821"  # as the STS-web import stores it
    w.session.commit()
    teacher_id, teacher_name = w.teacher.id, w.teacher.first_name

    page.set_viewport_size({"width": 1280, "height": 900})
    login(page, w.admin)
    page.goto(f"{live_server.url}/administration/identite")
    page.get_by_role("link", name="Ajouter un fournisseur").click()
    page.get_by_role("radio", name="OpenID Connect").check()
    page.get_by_label("Adresse du fournisseur d'identité").fill(oidc_server.issuer)
    page.get_by_label("Identifiant client (OpenID Connect)").fill(CLIENT_ID)
    page.get_by_label("Secret client (OpenID Connect)").fill(CLIENT_SECRET)
    page.get_by_label("Donnée portant l'identifiant national").fill("ent_id")
    page.get_by_role("button", name="Enregistrer").click()
    page.get_by_text("Fournisseur d'identité « Se connecter avec l'ENT » enregistré.").wait_for()
    callback = page.locator("#identity-callback-url").inner_text()
    assert callback.startswith(f"{live_server.url}/connexion/ent/")
    assert CLIENT_SECRET not in page.content()
    _shot(page, "admin-provider-1280")
    if SHOTS:
        page.set_viewport_size({"width": 360, "height": 740})
        page.goto(f"{live_server.url}/administration/identite")
        _shot(page, "admin-providers-360")
        page.goto(f"{live_server.url}/connexion/ent/1/retour?state=x")
        _shot(page, "refused-360")

    context = browser.new_context(locale="fr-FR", viewport={"width": 360, "height": 740})
    teacher = context.new_page()
    teacher.goto(f"{live_server.url}/connexion")
    _shot(teacher, "login-360")
    teacher.get_by_role("link", name="Se connecter avec l'ENT").click()
    teacher.wait_for_url(f"{oidc_server.issuer}/**")
    teacher.get_by_placeholder("Enter any login").fill("prof.martin")
    teacher.get_by_placeholder("and password").fill("mot de passe de l'ENT")
    teacher.get_by_role("button", name="Sign-in").click()
    teacher.wait_for_url(f"{live_server.url}/**")
    teacher.wait_for_load_state()
    assert "/connexion" not in teacher.url
    assert teacher_name in teacher.content()
    _shot(teacher, "teacher-home-360")

    w.session.rollback()
    link = w.session.query(IdentityLink).one()
    assert (link.user_id, link.subject, link.matched_by) == (
        teacher_id,
        "prof.martin",
        "national_id",
    )
    provider = w.session.query(IdentityProvider).one()
    assert provider.client_secret == CLIENT_SECRET

    # Someone the school never imported: a French page, and no account is created.
    other = browser.new_context(locale="fr-FR")
    stranger = other.new_page()
    stranger.goto(f"{live_server.url}/connexion")
    stranger.get_by_role("link", name="Se connecter avec l'ENT").click()
    stranger.get_by_placeholder("Enter any login").fill("inconnu")
    stranger.get_by_placeholder("and password").fill("x")
    stranger.get_by_role("button", name="Sign-in").click()
    stranger.get_by_role("heading", name="Compte introuvable").wait_for()
    _shot(stranger, "unknown-1280")
    other.close()
    context.close()
