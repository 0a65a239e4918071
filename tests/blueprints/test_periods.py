"""Periods pages: annexes, create / edit / delete a period, the shell's action hooks."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from sqlalchemy import select

from app.models import (
    ActivitySheet,
    Assessment,
    InterimReview,
    LiaisonSheet,
    PedagogicalAnnex,
    Period,
    Portfolio,
)

XSS = "<script>alert(1)</script>"


def _form(w: Any, **kw: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "PFMP 2",
        "start_date": "2026-09-07",
        "end_date": "2026-09-25",
        "learner_ids": [w.learner.id],
        "objectives": "Objectifs",
        "activities": "Activités",
    }
    data.update(kw)
    return data


def _edit_form(w: Any, **kw: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "PFMP world",
        "start_date": "2026-06-08",
        "end_date": "2026-06-26",
        "learner_ids": [w.learner.id, w.classmate.id],
        "objectives": "Découvrir l'entreprise et ses métiers.",
        "activities": "Câblage, raccordement, mise en service.",
    }
    data.update(kw)
    return data


def _text(response: Any) -> str:
    return str(response.get_data(as_text=True))


def _sheets(db: Any, portfolio_id: int) -> list[ActivitySheet]:
    """Fresh rows: the test client shares this session, whose objects may carry the shell's
    raiseload options, so tests read through queries rather than relationships."""
    return list(
        db.session.scalars(
            select(ActivitySheet)
            .where(ActivitySheet.portfolio_id == portfolio_id)
            .order_by(ActivitySheet.position)
        )
    )


def _liaison(db: Any, portfolio_id: int) -> LiaisonSheet:
    sheet = db.session.scalar(select(LiaisonSheet).where(LiaisonSheet.portfolio_id == portfolio_id))
    assert sheet is not None
    return sheet


# --- hooks in the shell ------------------------------------------------------------------------


def test_menu_and_period_view_offer_the_period_actions(f: Any, login_as: Any) -> None:
    w = f.world()
    page = _text(login_as(w.teacher).get(f"/periodes/{w.period.id}"))
    assert f'href="/niveaux/{w.level.id}/periodes/nouvelle">Créer une période' in page
    assert f'href="/niveaux/{w.level.id}/annexes">Annexes pédagogiques' in page
    assert (
        f'href="/periodes/{w.period.id}/parametres">Modifier les paramètres de la période' in page
    )
    assert f'href="/periodes/{w.period.id}/pre-conventions"' in page
    assert "Ouvrir pour imprimer la pré-convention pour tous" in page
    assert f'href="/periodes/{w.period.id}/supprimer"' in page
    pid = w.portfolio.id
    for url, label in [
        (f"/portfolios/{pid}/liaison", "Éditer la fiche de liaison entreprise"),
        (f"/portfolios/{pid}/pre-convention.docx", "Ouvrir pour imprimer la pré-convention"),
        (f"/portfolios/{pid}/bilan", "Éditer le bilan entreprise"),
        (f"/portfolios/{pid}/preparer-la-rencontre.pdf", "Préparer la rencontre"),
        (f"/portfolios/{pid}/fiches/nouvelle", "Créer une fiche activité complémentaire"),
        (f"/portfolios/{pid}/journal", "Journal"),
    ]:
        assert f'href="{url}">{label}<' in page


def test_locked_period_menu_says_why_and_edits_are_refused(f: Any, login_as: Any, db: Any) -> None:
    w = f.world()
    review = InterimReview(learner_id=w.learner.id, review_date=date(2026, 7, 10))
    review.assessments = [w.assessment]
    f.s.add(review)
    f.s.flush()
    client = login_as(w.teacher)
    page = _text(client.get(f"/periodes/{w.period.id}"))
    assert f'href="/periodes/{w.period.id}/parametres"' not in page
    assert "disabled" in page and "bilan intermédiaire de compétences" in page
    edit = client.get(f"/periodes/{w.period.id}/parametres")
    assert edit.status_code == 200 and "Paramètres verrouillés" in _text(edit)
    refused = client.post(f"/periodes/{w.period.id}/parametres", data=_edit_form(w, name="X"))
    assert refused.status_code == 409
    assert "Paramètres verrouillés" in _text(refused)
    f.s.expire_all()
    assert db.session.scalar(select(Period.name).where(Period.id == w.period.id)) != "X"


# --- annexes -------------------------------------------------------------------------------------


def test_annex_crud(f: Any, login_as: Any, db: Any) -> None:
    w = f.world()
    client = login_as(w.teacher)
    empty = _text(client.get(f"/niveaux/{w.level.id}/annexes"))
    assert "Aucune annexe pédagogique" in empty
    task = w.level.framework.activities[0].tasks[0]
    response = client.post(
        f"/niveaux/{w.level.id}/annexes/nouvelle",
        data={"name": "Annexe PFMP 1", "objectives": "Découvrir", "task_ids": [task.id]},
    )
    assert response.status_code == 303
    annex = db.session.scalar(
        select(PedagogicalAnnex).where(PedagogicalAnnex.name == "Annexe PFMP 1")
    )
    assert annex is not None and [t.id for t in annex.tasks] == [task.id]
    listing = _text(client.get(f"/niveaux/{w.level.id}/annexes"))
    assert "Annexe PFMP 1" in listing and f"periodes/nouvelle?annexe={annex.id}" in listing
    edit = _text(client.get(f"/annexes/{annex.id}"))
    assert f'value="{task.id}" checked' in edit
    assert client.post(f"/annexes/{annex.id}", data={"name": "Renommée"}).status_code == 303
    assert annex.name == "Renommée" and annex.tasks == []
    assert client.post(f"/annexes/{annex.id}/supprimer").status_code == 303
    assert db.session.get(PedagogicalAnnex, annex.id) is None


def test_annex_bad_input_keeps_what_was_typed(f: Any, login_as: Any) -> None:
    w = f.world()
    client = login_as(w.teacher)
    response = client.post(
        f"/niveaux/{w.level.id}/annexes/nouvelle",
        data={"name": "", "objectives": XSS, "task_ids": ["abc"]},
    )
    assert response.status_code == 422
    page = _text(response)
    assert "Donnez un nom à l&#39;annexe pédagogique." in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and XSS not in page
    other_task = f.framework("BACPRO-MEE").activities[0].tasks[0]
    response = client.post(
        f"/niveaux/{w.level.id}/annexes/nouvelle", data={"name": "A", "task_ids": [other_task.id]}
    )
    assert response.status_code == 422 and "référentiel" in _text(response)


# --- create --------------------------------------------------------------------------------------


def test_create_a_period_for_a_class_from_an_annex(f: Any, login_as: Any, db: Any) -> None:
    w = f.world()
    annex = PedagogicalAnnex(
        level_id=w.level.id, name="Annexe T", objectives="Objectifs racine", activities="Act"
    )
    f.s.add(annex)
    f.s.flush()
    client = login_as(w.teacher)
    form = _text(client.get(f"/niveaux/{w.level.id}/periodes/nouvelle?annexe={annex.id}"))
    assert "Objectifs racine" in form and f'value="{annex.id}"' in form
    assert f"Toute la classe {w.class_group.name}" in form
    response = client.post(
        f"/niveaux/{w.level.id}/periodes/nouvelle",
        data={
            "annex_id": annex.id,
            "name": "PFMP de septembre",
            "start_date": "2026-09-07",
            "end_date": "2026-09-25",
            "class_ids": [w.class_group.id],
            "objectives": "Objectifs adaptés",
            "activities": "Act",
        },
        follow_redirects=True,
    )
    assert response.status_code == 200
    page = _text(response)
    assert "Période « PFMP de septembre » créée : 2 portfolios" in page
    period = db.session.scalar(select(Period).where(Period.name == "PFMP de septembre"))
    assert period is not None and period.annex_id == annex.id
    assert {p.learner_id for p in period.portfolios} == {w.learner.id, w.classmate.id}
    for portfolio in period.portfolios:
        assert len(portfolio.sheets) == 3
    assert "Fiche activité : semaine 37 [2026]" in page
    assert f"{w.learner.full_name} ({w.class_group.name}) (0 fiche)" in page
    # The periods list in creation order.
    menu = page[page.index('aria-label="Périodes en entreprise"') :]
    assert menu.index(w.period.name) < menu.index("PFMP de septembre")


def test_create_bad_input_gives_french_messages_and_keeps_input(f: Any, login_as: Any) -> None:
    w = f.world()
    client = login_as(w.teacher)
    url = f"/niveaux/{w.level.id}/periodes/nouvelle"
    cases = [
        (
            _form(w, start_date="2026-09-25", end_date="2026-09-07", name="Ma période"),
            "La date de fin doit être postérieure ou égale à la date de début.",
        ),
        (
            _form(w, learner_ids=[], name="Ma période"),
            "Choisissez au moins un apprenant ou une classe.",
        ),
        (_form(w, start_date="32/13/2026", name="Ma période"), "Date invalide"),
        (_form(w, start_date="", name="Ma période"), "Indiquez la date de début."),
        (_form(w, learner_ids=["abc"], name="Ma période"), "Choix invalide"),
        (
            _form(w, learner_ids=[w.other_learner.id], name="Ma période"),
            "n&#39;appartient pas à ce niveau",
        ),
        (_form(w, learner_ids=[999999], name="Ma période"), "n&#39;existe pas"),
        (
            _form(w, class_ids=[w.other_class.id], learner_ids=[], name="Ma période"),
            "classes choisies",
        ),
        (_form(w, annex_id=999999, name="Ma période"), "annexe pédagogique n&#39;existe pas"),
        (_form(w, name="Ma période", start_date="2026-06-22", end_date="2026-07-03"), "chevaucher"),
    ]
    for data, message in cases:
        response = client.post(url, data=data)
        assert response.status_code == 422, (data, response.status_code)
        page = _text(response)
        assert message in page, message
        assert 'value="Ma période"' in page
        assert 'class="field-error"' in page
    overlap = _text(client.post(url, data=_form(w, start_date="2026-06-22", end_date="2026-07-03")))
    assert w.learner.full_name in overlap
    response = client.post(url, data=_form(w, name=XSS, learner_ids=[]))
    assert XSS not in _text(response) and "&lt;script&gt;" in _text(response)


def test_created_name_is_escaped_everywhere(f: Any, login_as: Any) -> None:
    w = f.world()
    client = login_as(w.teacher)
    response = client.post(
        f"/niveaux/{w.level.id}/periodes/nouvelle", data=_form(w, name=XSS), follow_redirects=True
    )
    page = _text(response)
    assert response.status_code == 200 and XSS not in page and "&lt;script&gt;" in page


def test_other_levels_are_invisible(f: Any, login_as: Any) -> None:
    w = f.world()
    client = login_as(w.teacher)
    assert client.get(f"/niveaux/{w.other_level.id}/periodes/nouvelle").status_code == 404
    assert client.get(f"/periodes/{w.other_period.id}/parametres").status_code == 404
    assert client.post(f"/periodes/{w.other_period.id}/supprimer").status_code == 404
    assert client.get("/periodes/999999/supprimer").status_code == 404


# --- edit ----------------------------------------------------------------------------------------


def test_edit_form_shows_current_parameters(f: Any, login_as: Any) -> None:
    w = f.world()
    page = _text(login_as(w.teacher).get(f"/periodes/{w.period.id}/parametres"))
    assert f'value="{w.period.start_date.isoformat()}"' in page
    assert re.search(rf'value="{w.learner.id}"[^>]*checked', page)
    assert re.search(rf'value="{w.classmate.id}"[^>]*checked', page)
    assert "Enregistrer pour tous les apprenants" in page


def test_lengthening_then_shortening_reports_moved_sheets(f: Any, login_as: Any, db: Any) -> None:
    w = f.world()
    client = login_as(w.teacher)
    url = f"/periodes/{w.period.id}/parametres"
    response = client.post(url, data=_edit_form(w, end_date="2026-07-10"), follow_redirects=True)
    assert response.status_code == 200
    assert "4 fiches activité ajoutées" in _text(response)
    sheets = _sheets(db, w.portfolio.id)
    assert [s.iso_week for s in sheets] == [24, 25, 26, 27, 28]
    written = f.written(sheets[4])  # week 28
    response = client.post(url, data=_edit_form(w, end_date="2026-06-19"), follow_redirects=True)
    page = _text(response)
    assert "1 fiche déplacée dans les fiches libres" in page
    f.s.expire_all()
    assert written.portfolio_id is None
    assert [s.iso_week for s in _sheets(db, w.portfolio.id)] == [24, 25]
    learner_page = _text(client.get(f"/apprenants/{w.learner.id}"))
    free = learner_page[learner_page.index('id="free-sheets"') :]
    assert "Fiche activité : semaine 28 [2026]" in free


def test_individualised_objectives_survive_a_period_wide_edit(
    f: Any, login_as: Any, db: Any
) -> None:
    w = f.world()
    client = login_as(w.teacher)
    response = client.post(
        f"/portfolios/{w.portfolio.id}/liaison/objectifs", data={"text": "Objectifs d'Inès"}
    )
    assert response.status_code == 303
    edit_page = _text(client.get(f"/periodes/{w.period.id}/parametres"))
    assert "1 fiche de liaison a des objectifs ou des activités individualisés" in edit_page
    client.post(
        f"/periodes/{w.period.id}/parametres",
        data=_edit_form(w, objectives="Objectifs pour tous", activities="Activités pour tous"),
    )
    f.s.expire_all()
    mine, classmate = _liaison(db, w.portfolio.id), _liaison(db, w.classmate_portfolio.id)
    assert mine.objectives == "Objectifs d'Inès" and mine.activities == "Activités pour tous"
    assert classmate.objectives == "Objectifs pour tous"
    page = _text(client.get(f"/portfolios/{w.portfolio.id}/liaison/objectifs"))
    assert "Individualisé pour" in page and "Objectifs pour tous" in page  # period value shown


def test_edit_bad_input_is_422_with_message(f: Any, login_as: Any) -> None:
    w = f.world()
    client = login_as(w.teacher)
    response = client.post(
        f"/periodes/{w.period.id}/parametres",
        data=_edit_form(w, start_date="2026-07-01", end_date="2026-06-01", name="Gardé"),
    )
    assert response.status_code == 422
    assert "La date de fin doit être postérieure" in _text(response)
    assert 'value="Gardé"' in _text(response)


# --- delete --------------------------------------------------------------------------------------


def test_delete_confirmation_then_delete(f: Any, login_as: Any, db: Any) -> None:
    w = f.world()
    f.written(w.portfolio.sheets[0])
    f.written(w.classmate_portfolio.sheets[1])
    client = login_as(w.teacher)
    confirm = client.get(f"/periodes/{w.period.id}/supprimer")
    page = _text(confirm)
    assert confirm.status_code == 200
    assert "2 fiches activité déjà remplies" in page
    assert f'<form method="post" action="/periodes/{w.period.id}/supprimer">' in page
    assert db.session.get(Period, w.period.id) is not None  # GET deletes nothing
    period_id = w.period.id
    response = client.post(f"/periodes/{period_id}/supprimer", follow_redirects=True)
    assert response.status_code == 200
    assert f"Période « {w.period.name} » supprimée ; 2 fiches déplacées dans les fiches libres" in (
        _text(response).replace("&#34;", '"')
    )
    f.s.expire_all()
    assert db.session.get(Period, period_id) is None
    assert db.session.scalars(select(Portfolio).where(Portfolio.period_id == period_id)).all() == []
    free = db.session.scalars(
        select(ActivitySheet).where(ActivitySheet.learner_id.in_([w.learner.id, w.classmate.id]))
    ).all()
    assert len(free) == 2 and all(s.portfolio_id is None for s in free)


def test_delete_refused_with_the_reason(f: Any, login_as: Any, db: Any) -> None:
    w = f.world()
    assessment = db.session.scalar(select(Assessment).where(Assessment.id == w.assessment.id))
    assessment.status = "completed"
    f.s.flush()
    client = login_as(w.teacher)
    page = _text(client.get(f"/periodes/{w.period.id}/supprimer"))
    assert "Cette période ne peut pas être supprimée" in page
    assert w.learner.full_name in page
    assert "Supprimer définitivement" not in page
    response = client.post(f"/periodes/{w.period.id}/supprimer")
    assert response.status_code == 409
    assert w.learner.full_name in _text(response)
    assert db.session.get(Period, w.period.id) is not None


# --- query counts --------------------------------------------------------------------------------


def _grow(f: Any, w: Any, n: int) -> None:
    for i in range(n):
        learner = f.learner(w.class_group)
        f.s.add(PedagogicalAnnex(level_id=w.level.id, name=f"Annexe {i}"))
        f.period(w.level, [learner], start=date(2027, 1, 4))
    f.s.flush()


def test_pages_run_a_fixed_number_of_queries(
    f: Any, login_as: Any, count_queries: Any, db: Any
) -> None:
    w = f.world()
    f.s.add(PedagogicalAnnex(level_id=w.level.id, name="Annexe 0"))
    client = login_as(w.teacher)
    urls = [
        f"/niveaux/{w.level.id}/annexes",
        f"/niveaux/{w.level.id}/periodes/nouvelle",
        f"/periodes/{w.period.id}/parametres",
        f"/periodes/{w.period.id}/supprimer",
    ]

    def counts() -> list[int]:
        result = []
        for url in urls:
            with count_queries() as q:
                assert client.get(url).status_code == 200
            result.append(q.count)
        return result

    small = counts()
    _grow(f, w, 8)
    for portfolio in (w.portfolio, w.classmate_portfolio):
        for sheet in _sheets(db, portfolio.id):
            f.written(sheet)
    assert counts() == small


def test_edit_form_lists_period_learners_who_left_the_level(f: Any, login_as: Any) -> None:
    w = f.world()
    w.classmate.class_group_id = w.other_class.id
    f.s.flush()
    page = _text(login_as(w.teacher).get(f"/periodes/{w.period.id}/parametres"))
    section = page[page.index("ne sont plus dans ce niveau") :]
    assert re.search(rf'value="{w.classmate.id}" checked', section)
