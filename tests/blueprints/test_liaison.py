"""Liaison sheet pages, the tutor invitation and its one-time link (SPEC F4)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from app.models import Invitation, LiaisonSheet, Tutor
from app.models.base import utcnow
from app.services import auth, invitations
from tests.services.test_invitations import SMTPRecorder, smtp_server  # noqa: F401

XSS = "<script>alert(1)</script>"
PLACE = {
    "company_name": "Électricité Martin",
    "company_siret": "732 829 320 00074",
    "company_address": "3 rue des Lilas\n35000 Rennes",
    "company_phone": "02 99 12 34 56",
    "tutor_name": "Paul Martin",
    "tutor_role": "Chef d'équipe",
    "tutor_email": "paul.martin@example.org",
    "tutor_phone": "",
}
TUTOR = {
    "first_name": "Paul",
    "last_name": "Martin",
    "email": "paul.martin@example.org",
    "phone": "06 12 34 56 78",
    "job_title": "Chef d'équipe",
    "company_name": "Électricité Martin",
}
PASSWORD = "une phrase assez longue"


def _text(response: Any) -> str:
    return str(response.get_data(as_text=True))


def _liaison(db: Any, portfolio_id: int) -> LiaisonSheet:
    sheet = db.session.scalar(select(LiaisonSheet).where(LiaisonSheet.portfolio_id == portfolio_id))
    assert sheet is not None
    return sheet


# --- the three pages -----------------------------------------------------------------------------


def test_three_pages_as_tabs(f: Any, login_as: Any) -> None:
    w = f.world()
    client = login_as(w.teacher)
    pid = w.portfolio.id
    for url, current in [
        (f"/portfolios/{pid}/liaison", "Lieu de réalisation"),
        (f"/portfolios/{pid}/liaison/objectifs", "Objectifs"),
        (f"/portfolios/{pid}/liaison/activites", "Activités"),
    ]:
        page = _text(client.get(url))
        assert 'class="pagetabs"' in page
        assert re.search(rf'aria-current="page">{current}', page), url
        assert "Fiche de liaison entreprise" in page and w.learner.full_name in page
        assert f'href="/periodes/{w.period.id}"' in page  # back to the period


def test_learner_fills_the_place_and_the_teacher_may_correct(
    f: Any, login_as: Any, db: Any
) -> None:
    w = f.world()
    learner = login_as(w.learner)
    page = _text(learner.get(f"/portfolios/{w.portfolio.id}/liaison"))
    assert "Renseignez l'entreprise qui vous accueille" in page
    response = learner.post(f"/portfolios/{w.portfolio.id}/liaison", data=PLACE)
    assert response.status_code == 303
    sheet = _liaison(db, w.portfolio.id)
    assert sheet.company_siret == "73282932000074" and sheet.company_name == "Électricité Martin"
    teacher = login_as(w.teacher)
    fixed = {**PLACE, "company_phone": "02 99 00 00 00"}
    assert teacher.post(f"/portfolios/{w.portfolio.id}/liaison", data=fixed).status_code == 303
    f.s.expire_all()
    assert _liaison(db, w.portfolio.id).company_phone == "02 99 00 00 00"


def test_bad_place_input_gets_messages_in_the_form(f: Any, login_as: Any, db: Any) -> None:
    w = f.world()
    client = login_as(w.learner)
    data = {
        **PLACE,
        "company_name": XSS,
        "company_siret": "732 829 320 00075",
        "tutor_email": "paul.martin@",
        "company_phone": "abc",
        "tutor_role": "",
    }
    response = client.post(f"/portfolios/{w.portfolio.id}/liaison", data=data)
    assert response.status_code == 422
    page = _text(response)
    assert "Ce numéro SIRET n&#39;est pas valide" in page
    assert "Adresse e-mail invalide" in page
    assert "Numéro de téléphone invalide" in page
    assert "Indiquez la fonction du tuteur." in page
    assert 'value="732 829 320 00075"' in page  # what was typed is kept
    assert XSS not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert _liaison(db, w.portfolio.id).company_name == ""
    short = client.post(
        f"/portfolios/{w.portfolio.id}/liaison", data={**PLACE, "company_siret": "123"}
    )
    assert short.status_code == 422 and "exactement 14 chiffres" in _text(short)


def test_place_content_is_escaped_when_read(f: Any, login_as: Any, db: Any) -> None:
    w = f.world()
    sheet = _liaison(db, w.portfolio.id)
    sheet.company_address = XSS
    f.s.flush()
    page = _text(login_as(w.tutor).get(f"/portfolios/{w.portfolio.id}/liaison"))
    assert XSS not in page and "&lt;script&gt;" in page


def test_tutor_reads_but_cannot_edit(f: Any, login_as: Any, db: Any) -> None:
    w = f.world()
    sheet = _liaison(db, w.portfolio.id)
    sheet.company_name = "Électricité Martin"
    f.s.flush()
    client = login_as(w.tutor)
    page = _text(client.get(f"/portfolios/{w.portfolio.id}/liaison"))
    assert "Électricité Martin" in page and "<form" not in page.split('id="liaison-sheet"')[1]
    objectives = _text(client.get(f"/portfolios/{w.portfolio.id}/liaison/objectifs"))
    assert w.period.objectives.replace("'", "&#39;") in objectives
    assert 'name="text"' not in objectives
    assert client.post(f"/portfolios/{w.portfolio.id}/liaison", data=PLACE).status_code == 403
    assert client.get(f"/portfolios/{w.classmate_portfolio.id}/liaison").status_code == 404
    assert client.get(f"/portfolios/{w.other_portfolio.id}/liaison").status_code == 404


def test_teacher_individualises_then_resets(f: Any, login_as: Any, db: Any) -> None:
    w = f.world()
    client = login_as(w.teacher)
    url = f"/portfolios/{w.portfolio.id}/liaison/activites"
    page = _text(client.get(url))
    assert "Contenu de la période" in page and "Revenir au contenu de la période" not in page
    response = client.post(url, data={"text": "Activités d'Inès"}, follow_redirects=True)
    page = _text(response)
    assert f"Activités individualisées pour {w.learner.full_name}" in page
    assert "Individualisé pour" in page
    assert "Revenir au contenu de la période" in page
    assert _liaison(db, w.portfolio.id).activities_individual
    response = client.post(url, data={"action": "reset"}, follow_redirects=True)
    assert "contenu de la période rétabli" in _text(response)
    f.s.expire_all()
    sheet = _liaison(db, w.portfolio.id)
    assert not sheet.activities_individual and sheet.activities == w.period.activities


def test_master_edits_their_mentees_plan_only(f: Any, login_as: Any, db: Any) -> None:
    w = f.world()
    client = login_as(w.master)
    url = f"/portfolios/{w.classmate_portfolio.id}/liaison/objectifs"
    assert 'name="text"' in _text(client.get(url))
    assert client.post(url, data={"text": "Objectifs du maître"}).status_code == 303
    assert _liaison(db, w.classmate_portfolio.id).objectives == "Objectifs du maître"
    # The place is the learner's: the master reads it.
    assert 'name="company_name"' not in _text(
        client.get(f"/portfolios/{w.classmate_portfolio.id}/liaison")
    )
    assert (
        client.post(
            f"/portfolios/{w.portfolio.id}/liaison/objectifs", data={"text": "x"}
        ).status_code
        == 404
    )


def test_plan_text_is_escaped(f: Any, login_as: Any) -> None:
    w = f.world()
    client = login_as(w.teacher)
    url = f"/portfolios/{w.portfolio.id}/liaison/objectifs"
    client.post(url, data={"text": XSS})
    page = _text(login_as(w.learner).get(url))
    assert XSS not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


# --- tutor invitation ----------------------------------------------------------------------------


def _invite(client: Any, portfolio_id: int, **data: Any) -> Any:
    """Submit the tutor form and follow the redirect to the page that shows the link."""
    return client.post(
        f"/portfolios/{portfolio_id}/tuteur", data={**TUTOR, **data}, follow_redirects=True
    )


def _link(page: str) -> str:
    match = re.search(r'id="invite-url" type="text" readonly value="([^"]+)"', page)
    assert match, "invitation link not shown"
    return match.group(1)


def test_invite_form_is_prefilled_from_the_liaison_sheet(f: Any, login_as: Any, db: Any) -> None:
    w = f.world()
    sheet = _liaison(db, w.portfolio.id)
    sheet.tutor_name, sheet.tutor_email, sheet.tutor_role = "Paul Martin", "p@example.org", "Chef"
    f.s.flush()
    page = _text(login_as(w.teacher).get(f"/portfolios/{w.portfolio.id}/tuteur"))
    assert 'value="Paul"' in page and 'value="Martin"' in page and 'value="p@example.org"' in page


def test_full_invitation_flow(f: Any, login_as: Any, app: Flask, db: Any) -> None:
    w = f.world()
    teacher = login_as(w.teacher)
    response = _invite(teacher, w.portfolio.id)
    assert response.status_code == 200
    page = _text(response)
    url = _link(page)
    assert url.startswith("http://localhost/invitation/")
    assert '<svg role="img"' in page and "qr" in page  # server-side QR code, inline SVG
    assert "<script" not in page.split("<body")[1].split("</main>")[0]
    assert "L'envoi d'e-mails n'est pas configuré" in page
    tutor = db.session.scalar(select(Tutor).where(Tutor.email == "paul.martin@example.org"))
    assert tutor is not None and tutor.password_hash is None
    liaison_page = _text(teacher.get(f"/portfolios/{w.portfolio.id}/liaison"))
    assert "Invitation en attente" in liaison_page and "Paul MARTIN" in liaison_page

    path = url.removeprefix("http://localhost")
    anonymous = app.test_client()
    for _ in range(2):  # a mail scanner following the link does not use it
        confirm = anonymous.get(path)
        assert confirm.status_code == 200
        assert "Activer mon compte" in _text(confirm) and "paul.martin@example.org" in _text(
            confirm
        )
    short = anonymous.post(path, data={"password": "court", "confirm": "court"})
    assert short.status_code == 422 and "Au moins 10 caractères." in _text(short)
    mismatch = anonymous.post(path, data={"password": PASSWORD, "confirm": "autre chose encore"})
    assert mismatch.status_code == 422 and "ne correspondent pas" in _text(mismatch)
    done = anonymous.post(path, data={"password": PASSWORD, "confirm": PASSWORD})
    assert done.status_code == 303
    home = anonymous.get("/", follow_redirects=True)
    assert "Mes apprenants" in _text(home) and w.learner.full_name in _text(home)
    assert w.classmate.full_name not in _text(home)
    assert anonymous.get(f"/portfolios/{w.portfolio.id}/liaison").status_code == 200
    assert anonymous.get(f"/portfolios/{w.classmate_portfolio.id}/liaison").status_code == 404
    f.s.expire_all()
    assert auth.verify_password(tutor, PASSWORD)

    again = app.test_client().get(path)
    assert again.status_code == 410
    assert "déjà été utilisé" in _text(again)
    assert (
        app.test_client().post(path, data={"password": PASSWORD, "confirm": PASSWORD}).status_code
        == 410
    )


def test_reloading_the_link_page_neither_shows_nor_replaces_the_link(
    f: Any, login_as: Any, db: Any
) -> None:
    w = f.world()
    teacher = login_as(w.teacher)
    sent = teacher.post(f"/portfolios/{w.portfolio.id}/tuteur", data=TUTOR)
    assert sent.status_code == 303
    assert sent.headers["Location"] == f"/portfolios/{w.portfolio.id}/tuteur/lien"
    url = _link(_text(teacher.get(sent.headers["Location"])))
    again = teacher.get(f"/portfolios/{w.portfolio.id}/tuteur/lien", follow_redirects=True)
    page = _text(again)
    assert "Pour en obtenir un nouveau" in page and 'id="invite-url"' not in page
    assert "Invitation en attente" in page  # the liaison sheet, with the link still pending
    invitation = invitations.find_invitation(url.rsplit("/", 1)[1])
    assert invitation.revoked_at is None and invitation.used_at is None
    assert db.session.scalar(select(func.count()).select_from(Invitation)) == 1


def test_expired_and_unknown_links_answer_clearly(
    f: Any, login_as: Any, app: Flask, db: Any
) -> None:
    w = f.world()
    url = _link(_text(_invite(login_as(w.teacher), w.portfolio.id)))
    invitation = db.session.scalar(select(Invitation).order_by(Invitation.id.desc()).limit(1))
    invitation.expires_at = utcnow() - timedelta(minutes=1)
    f.s.flush()
    client = app.test_client()
    expired = client.get(url.removeprefix("http://localhost"))
    assert expired.status_code == 410 and "a expiré" in _text(expired)
    unknown = client.get("/invitation/nimporte-quoi")
    assert unknown.status_code == 404 and "n&#39;est pas valide" in _text(unknown)
    assert client.get("/invitation/" + "x" * 300).status_code == 404


def test_invitation_is_mailed_when_smtp_is_configured(
    f: Any,
    login_as: Any,
    smtp_server: SMTPRecorder,  # noqa: F811
) -> None:
    w = f.world()
    page = _text(_invite(login_as(w.teacher), w.portfolio.id))
    assert "Le lien a été envoyé par e-mail à paul.martin@example.org" in page
    url = _link(page)  # still shown to the teacher
    assert len(smtp_server.messages) == 1
    message = smtp_server.messages[0]
    assert message["To"] == "paul.martin@example.org"
    body = message.get_content()
    assert url in body and w.learner.full_name in body and w.period.name in body


def test_invite_bad_input_and_refusals(f: Any, login_as: Any) -> None:
    w = f.world()
    teacher = login_as(w.teacher)
    response = _invite(teacher, w.portfolio.id, email="pas-une-adresse", first_name=XSS)
    assert response.status_code == 422
    page = _text(response)
    assert "Adresse e-mail invalide" in page and 'value="pas-une-adresse"' in page
    assert XSS not in page
    taken = _invite(teacher, w.portfolio.id, email=w.learner.email)
    assert taken.status_code == 422 and "déjà celle d&#39;un compte" in _text(taken)
    master = _invite(teacher, w.classmate_portfolio.id)
    assert master.status_code == 409 and "maître d&#39;apprentissage" in _text(master)
    assert _invite(login_as(w.learner), w.portfolio.id).status_code == 403
    assert _invite(login_as(w.tutor), w.portfolio.id).status_code == 403


def test_an_already_active_tutor_is_just_linked(f: Any, login_as: Any, db: Any) -> None:
    w = f.world()
    auth.set_password(w.tutor, PASSWORD)
    f.s.flush()
    response = _invite(login_as(w.teacher), w.classmate_portfolio.id, email=w.tutor.email)
    # The classmate is mentored by a master: refused. Use a fresh learner's portfolio.
    assert response.status_code == 409
    learner = f.learner(w.class_group)
    portfolio = f.period(w.level, [learner], start=w.period.start_date).portfolios[0]
    teacher = login_as(w.teacher)
    response = teacher.post(
        f"/portfolios/{portfolio.id}/tuteur", data={**TUTOR, "email": w.tutor.email}
    )
    assert response.status_code == 303
    page = _text(teacher.get(response.headers["Location"]))
    assert "a déjà un compte" in page
    assert (
        db.session.scalars(select(Invitation).where(Invitation.user_id == w.tutor.id)).all() == []
    )
