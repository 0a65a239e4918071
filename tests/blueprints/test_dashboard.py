"""The dashboard page and interim reviews over HTTP: what each role sees, filters, the
review form (evidence, 422 with the input kept), query budgets."""

from __future__ import annotations

import re
import uuid
from datetime import date
from typing import Any

from sqlalchemy import func, select

from app.models import InterimReview, interim_review_assessments
from app.services import assessments as svc
from tests.services.test_dashboard import competencies, second_period

HX = {"HX-Request": "true"}


def rate(assessment: Any, user: Any, key: str, value: str) -> None:
    svc.record_change(assessment, user, key, value, device_time=None, change_uuid=str(uuid.uuid4()))


def _completed_world(f: Any) -> tuple[Any, list[Any]]:
    w = f.world()
    w.portfolio.liaison_sheet.company_name = "Électricité <Martin>"
    comps = competencies(f, w.level.framework_id)
    rate(w.assessment, w.teacher, f"competency:{comps[0].id}", "3")
    rate(w.assessment, w.tutor, "engagement", "4")
    svc.complete(w.assessment, w.teacher)
    return w, comps


def test_a_completed_assessment_appears_on_the_learners_dashboard(f: Any, login_as: Any) -> None:
    w = f.world()
    comps = competencies(f, w.level.framework_id)
    teacher = login_as(w.teacher)
    key = f"competency:{comps[0].id}"
    teacher.post(f"/portfolios/{w.portfolio.id}/bilan/items/{key}", data={"value": "4"}, headers=HX)
    page = teacher.get(f"/apprenants/{w.learner.id}/tableau-de-bord").get_data(as_text=True)
    assert "Aucun bilan entreprise complété" in page
    teacher.post(f"/portfolios/{w.portfolio.id}/bilan/completer")
    page = teacher.get(f"/apprenants/{w.learner.id}/tableau-de-bord").get_data(as_text=True)
    assert w.period.name in page and "4 – Très bien maîtrisé" in page
    assert "Nouveau bilan intermédiaire" in page
    learner_page = login_as(w.learner).get(f"/apprenants/{w.learner.id}/tableau-de-bord")
    assert learner_page.status_code == 200
    text = learner_page.get_data(as_text=True)
    assert "4 – Très bien maîtrisé" in text and "Nouveau bilan intermédiaire" not in text


def test_dashboard_shows_company_engagement_and_coverage(f: Any, login_as: Any) -> None:
    w, _ = _completed_world(f)
    page = (
        login_as(w.teacher)
        .get(f"/apprenants/{w.learner.id}/tableau-de-bord")
        .get_data(as_text=True)
    )
    assert "Électricité &lt;Martin&gt;" in page
    assert 'aria-label="Engagement : 4 sur 4"' in page
    assert "Couverture des critères" in page and "jamais observé" in page
    assert f'href="/portfolios/{w.portfolio.id}/bilan">Voir le bilan' in page


def test_dashboard_visibility(f: Any, login_as: Any) -> None:
    w, _ = _completed_world(f)
    url = f"/apprenants/{w.learner.id}/tableau-de-bord"
    for outsider in (w.classmate, w.tutor, w.master, w.other_teacher, w.admin):
        assert login_as(outsider).get(url).status_code == 404
    assert login_as(w.teacher).get("/apprenants/999999/tableau-de-bord").status_code == 404


def test_filters_and_bad_parameters(f: Any, login_as: Any) -> None:
    w, _ = _completed_world(f)
    portfolio2, assessment2 = second_period(f, w)
    svc.complete(assessment2, w.teacher)
    client = login_as(w.teacher)
    url = f"/apprenants/{w.learner.id}/tableau-de-bord"
    both = client.get(url).get_data(as_text=True)
    assert "PFMP 2" in both and w.period.name in both
    only = client.get(f"{url}?periode={portfolio2.period_id}", headers=HX)
    body = only.get_data(as_text=True)
    assert body.lstrip().startswith('<div id="dashboard"')
    assert "<strong>PFMP 2</strong>" in body and f"<strong>{w.period.name}</strong>" not in body
    school = client.get(f"{url}?source=ecole").get_data(as_text=True)
    assert "Aucun bilan entreprise complété ni bilan intermédiaire" in school
    for query in ("periode=abc", "source=%3Cscript%3E", "periode=999999", "periode="):
        assert client.get(f"{url}?{query}").status_code == 200


def test_dashboard_queries_do_not_grow_with_periods_and_ratings(
    f: Any, login_as: Any, count_queries: Any
) -> None:
    w, comps = _completed_world(f)
    client = login_as(w.teacher)
    url = f"/apprenants/{w.learner.id}/tableau-de-bord"
    client.get(url)
    with count_queries() as small:
        assert client.get(url).status_code == 200
    for index in range(3):
        period = f.period(w.level, [], start=date(2027, 1 + index * 2, 4), weeks=2)
        portfolio = f.portfolio(period, w.learner)
        assessment = f.assessment(portfolio)
        for competency in comps[:4]:
            svc.set_competency_mode(assessment, w.teacher, competency.id, "criteria")
            for criterion in competency.criteria[:3]:
                rate(assessment, w.teacher, f"criterion:{criterion.id}", "2")
        svc.complete(assessment, w.teacher)
    f.s.add(
        InterimReview(
            learner_id=w.learner.id, teacher_id=w.teacher.id, review_date=date(2027, 6, 1)
        )
    )
    f.s.flush()
    with count_queries() as large:
        assert client.get(url).status_code == 200
    assert large.count == small.count, large.statements


# --- interim reviews --------------------------------------------------------------------------


def test_interim_review_form_shows_the_evidence_and_saves(f: Any, login_as: Any) -> None:
    w, comps = _completed_world(f)
    client = login_as(w.teacher)
    base = f"/apprenants/{w.learner.id}/bilans-intermediaires"
    form = client.get(f"{base}/nouveau").get_data(as_text=True)
    assert f'{w.period.name} <span class="lvl s4">3 – Satisfaisant</span>' in form
    assert f'name="assessments" value="{w.assessment.id}" checked' in form
    response = client.post(
        f"{base}/nouveau",
        data={
            "review_date": "2026-12-15",
            "assessments": [str(w.assessment.id)],
            f"pos-{comps[0].id}": "3",
            f"note-{comps[0].id}": "<b>solide</b>",
            "comment": "Bon trimestre.",
        },
    )
    assert response.status_code == 303
    review = f.s.scalar(select(InterimReview).where(InterimReview.learner_id == w.learner.id))
    assert review is not None and response.headers["Location"].endswith(f"{base}/{review.id}")
    used = f.s.scalar(
        select(func.count())
        .select_from(interim_review_assessments)
        .where(interim_review_assessments.c.review_id == review.id)
    )
    assert used == 1  # the period of this assessment is now locked (periods area)
    page = client.get(f"{base}/{review.id}").get_data(as_text=True)
    assert "Bilan intermédiaire du 15/12/2026" in page and "&lt;b&gt;solide&lt;/b&gt;" in page
    listing = client.get(base).get_data(as_text=True)
    assert "Bilan du 15/12/2026" in listing
    board = client.get(f"/apprenants/{w.learner.id}/tableau-de-bord").get_data(as_text=True)
    assert "À l&#39;école" in board or "À l'école" in board
    learner = login_as(w.learner)
    assert learner.get(f"{base}/{review.id}").status_code == 200
    assert learner.get(f"{base}/nouveau").status_code == 403


def test_interim_review_bad_input_comes_back_with_what_was_typed(f: Any, login_as: Any) -> None:
    w, comps = _completed_world(f)
    client = login_as(w.teacher)
    url = f"/apprenants/{w.learner.id}/bilans-intermediaires/nouveau"
    response = client.post(
        url,
        data={
            "review_date": "2026-02-30",
            "assessments": ["abc"],
            f"pos-{comps[0].id}": "9",
            f"note-{comps[1].id}": "<script>x</script>",
            "comment": "Gardé",
        },
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Date invalide" in page and 'value="2026-02-30"' in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page and "<script>x" not in page
    assert ">Gardé</textarea>" in page
    response = client.post(
        url,
        data={
            "review_date": "2026-12-01",
            "assessments": [str(w.other_assessment.id)],
            f"pos-{comps[0].id}": "2",
        },
    )
    assert response.status_code == 422
    assert "Choisissez parmi les bilans entreprise complétés" in response.get_data(as_text=True)
    response = client.post(url, data={"review_date": "2026-12-01", "pos-abc": "2"})
    assert response.status_code == 422
    assert f.s.scalar(select(func.count(InterimReview.id))) == 0


def test_interim_review_rights(f: Any, login_as: Any) -> None:
    w, comps = _completed_world(f)
    url = f"/apprenants/{w.learner.id}/bilans-intermediaires/nouveau"
    data = {"review_date": "2026-12-01", f"pos-{comps[0].id}": "2"}
    assert login_as(w.other_teacher).post(url, data=data).status_code == 404
    assert login_as(w.tutor).post(url, data=data).status_code == 404
    assert login_as(w.learner).post(url, data=data).status_code == 403
    assert (
        login_as(w.teacher)
        .get(f"/apprenants/{w.learner.id}/bilans-intermediaires/999999")
        .status_code
        == 404
    )


def test_review_form_is_a_radio_group_per_competency(f: Any, login_as: Any) -> None:
    w, comps = _completed_world(f)
    form = login_as(w.teacher).get(f"/apprenants/{w.learner.id}/bilans-intermediaires/nouveau")
    page = form.get_data(as_text=True)
    assert len(re.findall(r"<fieldset class=\"rg", page)) == len(comps)
    assert page.count("type=radio") == 6 * len(comps)
