"""Form errors are tied to their fields (RGAA 11.10, WCAG 3.3.1): every error message sits next
to its field with an id, the field (or its group and the group's inputs) carries
aria-invalid="true" and aria-describedby naming that message, so a screen reader reads it when
the field takes the focus. Checked on the forms of each area, with a wrong input each."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import lxml.html

from tests.blueprints.test_dashboard import _completed_world
from tests.factories import PASSWORD

FIELDS = ("input", "select", "textarea")


def assert_errors_tied(response: Any, *messages: str) -> None:
    assert response.status_code == 422, response.status_code
    doc = lxml.html.fromstring(response.get_data(as_text=True))
    errors = doc.xpath('//*[contains(concat(" ", @class, " "), " field-error ")]')
    assert errors, "no error next to any field"
    texts = " ".join(e.text_content() for e in errors)
    for message in messages:
        assert message in texts, f"{message!r} not next to a field: {texts!r}"
    ids = [e.get("id") for e in errors]
    assert all(ids), f"an error without id: {texts!r}"
    assert len(ids) == len(set(ids)), f"duplicate error ids: {ids}"
    for error_id in ids:
        owners = [
            el
            for el in doc.xpath("//*[@aria-describedby]")
            if error_id in el.get("aria-describedby", "").split()
        ]
        assert owners, f"nothing is described by #{error_id}"
        for owner in owners:
            fields = [owner] if owner.tag in FIELDS else owner.xpath(".//input | .//select")
            visible = [f for f in fields if f.get("type") != "hidden"]
            assert visible, f"#{error_id} describes {owner.tag} without fields"
            assert all(f.get("aria-invalid") == "true" for f in visible), (
                f"fields described by #{error_id} not aria-invalid"
            )
    for invalid in doc.xpath('//*[@aria-invalid="true"]'):
        described = invalid.get("aria-describedby", "").split()
        group = invalid.xpath("ancestor::fieldset[@aria-describedby][1]")
        if group:
            described += group[0].get("aria-describedby", "").split()
        assert any(i in ids for i in described), f"invalid field {invalid.get('name')} unexplained"


def test_sign_in_error(client: Any, f: Any) -> None:
    user = f.teacher(password=PASSWORD)
    response = client.post("/connexion", data={"email": user.email, "password": "mauvais"})
    assert_errors_tied(response, "Adresse e-mail ou mot de passe incorrect.")


def test_journal_errors(f: Any, login_as: Any) -> None:
    w = f.world()
    day = (w.period.start_date + timedelta(days=1)).isoformat()
    response = login_as(w.learner).post(
        f"/portfolios/{w.portfolio.id}/journal",
        data={"entry_date": day, "hours": "30", "description": ""},
    )
    assert_errors_tied(response, "entre 0 et 24", "Décrivez ce que vous avez fait")
    other_task = f.framework("BACPRO-MEE").activities[0].tasks[0]
    response = login_as(w.learner).post(
        f"/portfolios/{w.portfolio.id}/journal",
        data={"entry_date": day, "hours": "7", "description": "X", "tasks": [other_task.id]},
    )
    assert_errors_tied(response)
    assert 'aria-describedby="tasks-err"' in response.get_data(as_text=True)


def test_annex_errors_on_a_field_and_on_a_group(f: Any, login_as: Any) -> None:
    w = f.world()
    response = login_as(w.teacher).post(
        f"/niveaux/{w.level.id}/annexes/nouvelle", data={"name": "", "task_ids": ["abc"]}
    )
    assert_errors_tied(response, "Donnez un nom à l'annexe pédagogique.")


def test_account_form_errors(f: Any, login_as: Any) -> None:
    w = f.world()
    response = login_as(w.admin).post(
        "/administration/comptes/nouveau",
        data={"role": "teacher", "first_name": "", "last_name": "X", "email": "pas-une-adresse"},
    )
    assert_errors_tied(response)


def test_period_form_without_learners(f: Any, login_as: Any) -> None:
    w = f.world()
    response = login_as(w.teacher).post(
        f"/niveaux/{w.level.id}/periodes/nouvelle",
        data={"name": "PFMP 9", "start_date": "2027-03-01", "end_date": "2027-02-01"},
    )
    assert_errors_tied(response)


def test_interim_review_errors_on_fields_and_groups(f: Any, login_as: Any) -> None:
    w, _comps = _completed_world(f)
    response = login_as(w.teacher).post(
        f"/apprenants/{w.learner.id}/bilans-intermediaires/nouveau",
        data={
            "review_date": "2026-02-30",
            "assessments": ["abc"],
            "comment": "Gardé",
        },
    )
    assert_errors_tied(response, "Date invalide")
    html = response.get_data(as_text=True)
    assert 'aria-describedby="assessments-err"' in html


def test_assessment_meeting_date_error(f: Any, login_as: Any) -> None:
    w = f.world()
    client = login_as(w.teacher)
    one_item = client.post(
        f"/portfolios/{w.portfolio.id}/bilan/items/meeting_date",
        data={"value": "2026-13-45"},
        headers={"HX-Request": "true"},
    )
    assert_errors_tied(one_item)
    whole_form = client.post(  # without JavaScript, the whole grid is posted
        f"/portfolios/{w.portfolio.id}/bilan",
        data={"meeting_date": "2026-13-45", "comment": "Gardé"},
    )
    assert_errors_tied(whole_form)
