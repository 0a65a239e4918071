"""Convention and attestation pages (issue 13 §3), as the teacher, the tutor and the learner
see them: the states on the period view, the forms and their French messages, the downloads."""

from __future__ import annotations

import html
import io
import re
from datetime import timedelta
from typing import Any

import docx

from app.models import Attestation, Convention, ConventionState, Period
from app.services import conventions

EXE = b"MZ\x90\x00" + b"\x00" * 60


def _text(response: Any) -> str:
    return html.unescape(" ".join(str(response.get_data(as_text=True)).split()))


def _started(f: Any, period: Period) -> None:
    period.start_date = conventions.today() - timedelta(days=32)
    period.end_date = period.start_date + timedelta(days=18)
    f.s.flush()


def _future(f: Any, period: Period) -> None:
    period.start_date = conventions.today() + timedelta(days=30)
    period.end_date = period.start_date + timedelta(days=18)
    f.s.flush()


def test_period_view_shows_each_convention_state_and_what_is_missing_before_the_start(
    f: Any, login_as: Any
) -> None:
    w = f.world()
    _future(f, w.period)
    f.s.add(Convention(portfolio_id=w.portfolio.id, state=ConventionState.SIGNED_BY_HEAD))
    f.s.flush()
    page = _text(login_as(w.teacher).get(f"/periodes/{w.period.id}"))
    assert "Avant le début de la période : 1 convention non signée sur 2." in page
    folder = page[page.index(f'id="folder-{w.portfolio.id}"') :]
    assert "Convention signée" in folder[: folder.index("</summary>")]
    classmate = page[page.index(f'id="folder-{w.classmate_portfolio.id}"') :]
    assert "Convention à signer" in classmate[: classmate.index("</summary>")]
    _started(f, w.period)
    page = _text(login_as(w.teacher).get(f"/periodes/{w.period.id}"))
    assert "1 convention non signée sur 2 alors que la période a commencé." in page


def test_period_view_loads_convention_states_in_a_fixed_number_of_queries(
    f: Any, login_as: Any, count_queries: Any
) -> None:
    w = f.world()
    client = login_as(w.teacher)

    def count() -> int:
        with count_queries() as q:
            assert client.get(f"/periodes/{w.period.id}").status_code == 200
        return int(q.count)

    small = count()
    for _ in range(6):
        portfolio = f.portfolio(w.period, f.learner(w.class_group))
        f.s.add(Convention(portfolio_id=portfolio.id, state=ConventionState.SIGNED_BY_COMPANY))
    f.s.flush()
    assert count() == small


def test_teacher_records_signatures_and_a_wrong_date_comes_back_in_french(
    f: Any, login_as: Any
) -> None:
    w = f.world()
    client = login_as(w.teacher)
    url = f"/portfolios/{w.portfolio.id}/convention"
    future = (conventions.today() + timedelta(days=3)).isoformat()
    response = client.post(
        f"{url}/signature", data={"state": "signed_by_company", "signed_on": future}
    )
    assert response.status_code == 422
    assert "La date de signature ne peut pas être dans le futur." in _text(response)
    assert f'value="{future}"' in _text(response)  # what was typed is kept
    today = conventions.today().isoformat()
    response = client.post(
        f"{url}/signature", data={"state": "signed_by_company", "signed_on": today}
    )
    assert response.status_code == 303
    page = _text(client.get(url))
    assert "Signée par l'entreprise" in page
    assert f"enregistrée par {w.teacher.full_name}" in page
    assert "Enregistrer la signature de l'apprenant ou de son représentant légal" in page
    # A stale page posting the same step again does not record it twice.
    response = client.post(
        f"{url}/signature", data={"state": "signed_by_company", "signed_on": today}
    )
    assert response.status_code == 422 and "rechargez la page" in _text(response)


def test_convention_details_keep_what_was_typed_next_to_the_error(f: Any, login_as: Any) -> None:
    w = f.world()
    client = login_as(w.teacher)
    url = f"/portfolios/{w.portfolio.id}/convention"
    response = client.post(
        url, data={"company_representative": "Hélène Martin", "weekly_hours": "soixante"}
    )
    assert response.status_code == 422
    page = _text(response)
    assert "Indiquez un nombre d'heures par semaine, par exemple 35." in page
    assert 'value="Hélène Martin"' in page and 'value="soixante"' in page
    response = client.post(
        url,
        data={"company_representative": "Hélène Martin", "weekly_hours": "35", "meals": "Cantine"},
    )
    assert response.status_code == 303
    data = client.get(f"{url}.docx")
    assert data.headers["Content-Disposition"].startswith("attachment;")
    text = "\n".join(
        cell.text
        for table in docx.Document(io.BytesIO(data.data)).tables
        for row in table.rows
        for cell in row.cells
    )
    assert "Hélène Martin" in text and "Cantine" in text and "35 heures" in text


def test_a_program_sent_as_the_scan_is_refused_with_a_french_message(f: Any, login_as: Any) -> None:
    w = f.world()
    response = login_as(w.teacher).post(
        f"/portfolios/{w.portfolio.id}/convention/scan",
        data={"file": (io.BytesIO(EXE), "convention.pdf"), "signed_on": "2026-01-05"},
    )
    assert response.status_code == 422
    assert "Ce fichier est un programme ou un script" in _text(response)
    assert f.s.query(Convention).filter_by(portfolio_id=w.portfolio.id).count() == 0


def test_tutor_records_the_attendance_of_their_mentee_and_the_pdf_shows_it(
    f: Any, login_as: Any
) -> None:
    w = f.world()
    _started(f, w.period)
    client = login_as(w.tutor)
    url = f"/portfolios/{w.portfolio.id}/attestation"
    form = client.get(url)
    assert form.status_code == 200 and f'value="{w.tutor.full_name}' in _text(form)
    bad = client.post(url, data={"days_done": "40", "signer_name": "Jean Martin"})
    assert bad.status_code == 422
    assert "La période compte 19 jours du premier au dernier jour" in _text(bad)
    assert 'value="40"' in _text(bad)
    response = client.post(
        url,
        data={
            "days_done": "14",
            "absence_days": "1",
            "absence_reason": "Malade",
            "signer_name": "Jean Martin, chef d'équipe",
            "sign": "y",
        },
    )
    assert response.status_code == 303
    page = _text(client.get(url))
    assert "<strong>2 semaines et 4 jours</strong> effectués" in page
    assert "signée par Jean Martin" in page
    attestation = f.s.query(Attestation).filter_by(portfolio_id=w.portfolio.id).one()
    assert attestation.signed_by_id == w.tutor.id
    pdf = client.get(f"{url}.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    # The same tutor cannot record for a learner they do not mentor.
    other = client.post(
        f"/portfolios/{w.classmate_portfolio.id}/attestation", data={"days_done": "5"}
    )
    assert other.status_code == 404


def test_attendance_before_the_period_starts_is_refused_in_french(f: Any, login_as: Any) -> None:
    w = f.world()
    _future(f, w.period)
    client = login_as(w.teacher)
    url = f"/portfolios/{w.portfolio.id}/attestation"
    assert "l'attestation se remplit à la fin de la période" in _text(client.get(url))
    response = client.post(url, data={"days_done": "5"})
    assert response.status_code == 422 and "pas encore commencé" in _text(response)


def test_learner_view_shows_the_weeks_done_out_of_what_the_diploma_requires(
    f: Any, login_as: Any
) -> None:
    w = f.world()
    w.level.framework.required_placement_weeks = 22
    f.s.add(Attestation(portfolio_id=w.portfolio.id, days_done=19))
    f.s.flush()
    page = _text(login_as(w.teacher).get(f"/apprenants/{w.learner.id}"))
    match = re.search(r'id="placement-progress"><strong>([^<]*)</strong>', page)
    assert match and match.group(1) == "3,8 semaines effectuées sur 22"
    mine = _text(login_as(w.learner).get("/mes-portfolios"))
    assert "3,8 semaines effectuées sur 22" in mine


def test_the_head_of_school_set_by_the_admin_signs_the_conventions(f: Any, login_as: Any) -> None:
    w = f.world()
    response = login_as(w.admin).post(
        "/administration/etablissement",
        data={"name": w.school.name, "head_name": "  Mme Anne   Le Goff "},
    )
    assert response.status_code in (302, 303)
    data = login_as(w.teacher).get(f"/portfolios/{w.portfolio.id}/convention.docx").data
    text = "\n".join(
        cell.text
        for table in docx.Document(io.BytesIO(data)).tables
        for row in table.rows
        for cell in row.cells
    )
    assert "Mme Anne Le Goff, chef d'établissement" in text
