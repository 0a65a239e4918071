"""Sign-in, throttling, CSRF, security headers, sessions, the create-admin command."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from app.extensions import db as _db
from app.models import Admin
from tests.factories import PASSWORD


def _login(client: Any, email: str, password: str, **kw: Any) -> Any:
    return client.post("/connexion", data={"email": email, "password": password}, **kw)


def test_good_login_lands_on_the_role_home(client: Any, f: Any) -> None:
    w = f.world()
    teacher = f.teacher([w.level], password=PASSWORD, email="Marc.Prof@Example.org".lower())
    response = _login(client, "MARC.PROF@example.org ", PASSWORD)
    assert response.status_code == 302
    assert response.headers["Location"] == "/enseignant"
    assert teacher.last_login_at is not None


def test_bad_login_keeps_the_email_and_says_why_in_french(client: Any, f: Any) -> None:
    user = f.teacher(password=PASSWORD)
    response = _login(client, user.email, "wrong password")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Adresse e-mail ou mot de passe incorrect." in page
    assert f'value="{user.email}"' in page


def test_empty_login_form_gets_messages_next_to_fields(client: Any, db: Any) -> None:
    page = _login(client, "", "").get_data(as_text=True)
    assert "Saisissez votre adresse e-mail." in page and "Saisissez votre mot de passe." in page


def test_unknown_account_and_inactive_account_are_refused(client: Any, f: Any) -> None:
    inactive = f.teacher(password=PASSWORD, is_active_account=False)
    assert _login(client, "nobody@example.org", PASSWORD).status_code == 422
    assert _login(client, inactive.email, PASSWORD).status_code == 422


def test_ten_failures_throttle_the_account_even_with_the_right_password(
    client: Any, f: Any
) -> None:
    user = f.teacher(password=PASSWORD)
    for _ in range(10):
        assert _login(client, user.email, "nope nope nope").status_code == 422
    response = _login(client, user.email, PASSWORD)
    assert response.status_code == 429
    assert "Trop de tentatives" in response.get_data(as_text=True)


def test_throttling_by_address_across_accounts(client: Any, f: Any) -> None:
    user = f.teacher(password=PASSWORD)
    for n in range(10):
        _login(client, f"guess{n}@example.org", "nope", environ_base={"REMOTE_ADDR": "10.9.8.7"})
    blocked = _login(client, user.email, PASSWORD, environ_base={"REMOTE_ADDR": "10.9.8.7"})
    assert blocked.status_code == 429
    other_address = _login(client, user.email, PASSWORD, environ_base={"REMOTE_ADDR": "10.1.1.1"})
    assert other_address.status_code == 302


def test_next_parameter_never_redirects_off_site(client: Any, f: Any) -> None:
    user = f.teacher(password=PASSWORD)
    response = client.post(
        "/connexion?next=//evil.example.org/x", data={"email": user.email, "password": PASSWORD}
    )
    assert response.headers["Location"] == "/enseignant"


def test_logout_ends_every_session_of_the_user(f: Any, login_as: Any) -> None:
    w = f.world()
    laptop, phone = login_as(w.teacher), login_as(w.teacher)
    assert phone.get(f"/periodes/{w.period.id}").status_code == 200
    assert laptop.post("/deconnexion").status_code == 302
    assert phone.get(f"/periodes/{w.period.id}").status_code == 302  # copied cookie is dead


def test_anonymous_is_sent_to_login_and_htmx_gets_a_redirect_header(client: Any, f: Any) -> None:
    w = f.world()
    response = client.get(f"/periodes/{w.period.id}")
    assert response.status_code == 302 and "/connexion" in response.headers["Location"]
    response = client.get(f"/periodes/{w.period.id}", headers={"HX-Request": "true"})
    assert response.status_code == 401 and "/connexion" in response.headers["HX-Redirect"]


def test_security_headers_on_pages(client: Any, db: Any) -> None:
    response = client.get("/connexion")
    csp = response.headers["Content-Security-Policy"]
    for directive in (
        "default-src 'self'",
        "script-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ):
        assert directive in csp
    assert "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_no_inline_script_in_pages(f: Any, login_as: Any) -> None:
    w = f.world()
    page = login_as(w.teacher).get(f"/periodes/{w.period.id}").get_data(as_text=True)
    assert "<script>" not in page and " onclick=" not in page and " style=" not in page


def test_unknown_id_is_a_french_404_not_a_500(f: Any, login_as: Any) -> None:
    w = f.world()
    response = login_as(w.teacher).get("/periodes/999999")
    assert response.status_code == 404
    assert "Cette page n&#39;existe pas" in response.get_data(as_text=True)


@pytest.fixture
def csrf_client(app: Flask, db: Any) -> Any:
    app.config["WTF_CSRF_ENABLED"] = True
    yield app.test_client()
    app.config["WTF_CSRF_ENABLED"] = False


def test_missing_csrf_token_is_refused_with_a_clear_message(csrf_client: Any, f: Any) -> None:
    user = f.teacher(password=PASSWORD)
    response = _login(csrf_client, user.email, PASSWORD)
    assert response.status_code == 400
    assert "jeton de sécurité" in response.get_data(as_text=True)


def test_login_with_csrf_token_from_the_form_works(csrf_client: Any, f: Any) -> None:
    import re

    user = f.teacher(password=PASSWORD)
    page = csrf_client.get("/connexion").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert token is not None
    response = csrf_client.post(
        "/connexion", data={"email": user.email, "password": PASSWORD, "csrf_token": token[1]}
    )
    assert response.status_code == 302


def test_password_change_ends_other_sessions(f: Any, login_as: Any) -> None:
    w = f.world()
    user = f.teacher([w.level], password=PASSWORD)
    here, elsewhere = login_as(user), login_as(user)
    response = here.post(
        "/compte/mot-de-passe",
        data={
            "current": PASSWORD,
            "new": "a brand new passphrase",
            "confirm": "a brand new passphrase",
        },
    )
    assert response.status_code == 302
    assert here.get(f"/periodes/{w.period.id}").status_code == 200
    assert elsewhere.get(f"/periodes/{w.period.id}").status_code == 302


def test_create_admin_command(app: Flask, db: Any) -> None:
    runner = app.test_cli_runner()
    args = ["users", "create-admin", "--email", "Chef@Lycee.fr", "--first-name", "Anne",
            "--last-name", "Roy", "--password", "une phrase de passe"]  # fmt: skip
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    admin = _db.session.query(Admin).filter_by(email="chef@lycee.fr").one()
    assert admin.password_hash and admin.password_hash.startswith("$argon2")
    again = runner.invoke(args=args)
    assert again.exit_code != 0 and "existe déjà" in again.output
    short = runner.invoke(args=[*args[:3], "autre@lycee.fr", *args[4:-1], "court"])
    assert short.exit_code != 0 and "10 caractères" in short.output


def test_anonymous_pages_leave_the_session_cookie_alone(csrf_client: Any, db: Any) -> None:
    """The service worker fetches the offline page while the user signs in: had that response
    set the anonymous cookie again, it could land after the sign-in and sign the user out."""
    assert csrf_client.get("/connexion").headers.get("Set-Cookie")  # the CSRF token
    for path in ("/hors-connexion", "/connexion", "/service-worker.js", "/manifest.json"):
        response = csrf_client.get(path)
        assert response.status_code == 200
        assert "Set-Cookie" not in response.headers, path


def test_signed_in_pages_reissue_the_cookie_at_most_once_a_minute(f: Any, login_as: Any) -> None:
    w = f.world()
    client = login_as(w.teacher)
    client.get(f"/periodes/{w.period.id}")  # stamps the session, adds the CSRF token
    for path in (f"/periodes/{w.period.id}", "/enseignant", "/hors-connexion"):
        response = client.get(path)
        assert response.status_code in (200, 302)
        assert "Set-Cookie" not in response.headers, path
