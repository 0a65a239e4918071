"""The assessment page /portfolios/<pid>/bilan: header, sheets and marks, ratings saved at
once (small fragments), toggles, conflicts, history, status, access, budgets."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.models import (
    Assessment,
    AssessmentItem,
    AuditLog,
    Competency,
    Criterion,
    SheetCompetency,
    SheetCriterion,
    SheetTask,
)
from app.services import assessments as svc

HX = {"HX-Request": "true"}


def _competencies(f: Any, framework_id: int) -> list[Competency]:
    competencies = list(
        f.s.scalars(
            select(Competency)
            .where(Competency.framework_id == framework_id)
            .order_by(Competency.position)
        )
    )
    for competency in competencies:  # loaded now: the page's raiseload must not stick to them
        _ = competency.tasks, competency.criteria
    return competencies


def _url(w: Any, tail: str = "") -> str:
    return f"/portfolios/{w.portfolio.id}/bilan{tail}"


def _select(f: Any, sheet: Any, competency: Competency, criteria: list[Criterion]) -> None:
    task = competency.tasks[0]
    if (
        f.s.scalar(
            select(SheetTask).where(SheetTask.sheet_id == sheet.id, SheetTask.task_id == task.id)
        )
        is None
    ):
        f.s.add(SheetTask(sheet_id=sheet.id, task_id=task.id, ticked_by_learner=True))
    mode = "criteria" if criteria else "global"
    f.s.add(
        SheetCompetency(sheet_id=sheet.id, task_id=task.id, competency_id=competency.id, mode=mode)
    )
    for criterion in criteria:
        f.s.add(SheetCriterion(sheet_id=sheet.id, task_id=task.id, criterion_id=criterion.id))
    f.s.flush()


def _rate(assessment: Any, user: Any, key: str, value: str, **kw: Any) -> Any:
    kw.setdefault("device_time", None)
    return svc.record_change(assessment, user, key, value, change_uuid=str(uuid.uuid4()), **kw)


# --- the page --------------------------------------------------------------------------------


def test_teacher_sees_header_sheets_with_reference_numbers_and_marks(f: Any, login_as: Any) -> None:
    w = f.world()
    w.portfolio.liaison_sheet.company_name = "Électricité <Martin> & Fils"
    c1, c2 = _competencies(f, w.level.framework_id)[:2]
    _select(f, w.portfolio.sheets[1], c1, c1.criteria[:2])
    _select(f, w.portfolio.sheets[2], c2, [])
    page = login_as(w.teacher).get(_url(w)).get_data(as_text=True)
    assert "Bilan entreprise" in page
    assert "du 08/06/2026 au 26/06/2026" in page
    assert w.learner.full_name in page and w.class_group.name in page and "élève" in page
    assert "Électricité &lt;Martin&gt; &amp; Fils" in page
    assert w.tutor.full_name in page and "Tuteur de stage" in page
    s1, s2 = w.portfolio.sheets[1], w.portfolio.sheets[2]
    assert f"[1] {s1.title}</a> – <a" in page and f"[2] {s2.title}</a>" in page
    # The competency chosen by criteria on sheet [1] opens in criteria mode with its marks.
    block = re.search(rf'<section class="comp sel" id="comp-{c1.id}".*?</section>', page, re.S)
    assert block is not None
    assert "aria-pressed=true>Par critères" in block.group(0)
    assert f"id=item-c{c1.criteria[0].id}" in block.group(0)
    assert "[1]</span>" in block.group(0)
    block2 = re.search(rf'<section class="comp sel" id="comp-{c2.id}".*?</section>', page, re.S)
    assert block2 is not None and "aria-pressed=true>Globale" in block2.group(0)
    assert "[2]</span>" in block2.group(0)
    # A six-level radio group per item, labelled with the scale's codes and labels.
    fieldset = re.search(rf"<fieldset[^>]*id=item-k{c2.id}.*?</fieldset>", page, re.S)
    assert fieldset is not None
    names = dict(re.findall(r'<span id="(lv\d)">([^<]+)</span>', page))
    radios = [
        (value, names[label])
        for value, label in re.findall(
            rf"<input type=radio name=k{c2.id} value=(\w+) aria-labelledby=(lv\d)>",
            fieldset.group(0),
        )
    ]
    assert radios == [
        ("NE", "NE – Non évalué"),
        ("0", "0 – Non maîtrisé"),
        ("1", "1 – Insuffisant"),
        ("2", "2 – Fragile"),
        ("3", "3 – Satisfaisant"),
        ("4", "4 – Très bien maîtrisé"),
    ]
    assert "Engagement de l'apprenant" in page and 'value="2026-06-26"' in page
    assert "Appréciation ou conseil complémentaire" in page


def test_a_sheet_change_updates_the_marks(f: Any, login_as: Any) -> None:
    w = f.world()
    c1 = _competencies(f, w.level.framework_id)[0]
    client = login_as(w.teacher)
    page = client.get(_url(w)).get_data(as_text=True)
    assert "Aucune fiche de la période" in page
    assert f'class="comp sel" id="comp-{c1.id}"' not in page
    _select(f, w.portfolio.sheets[0], c1, [])
    page = client.get(_url(w)).get_data(as_text=True)
    assert f"[1] {w.portfolio.sheets[0].title}" in page
    assert f'class="comp sel" id="comp-{c1.id}"' in page


def test_assessment_is_created_when_an_assessor_first_opens_it(f: Any, login_as: Any) -> None:
    w = f.world()
    portfolio = w.classmate_portfolio  # no assessment yet
    assert login_as(w.classmate).get(f"/portfolios/{portfolio.id}/bilan").status_code == 404
    assert f.s.scalar(select(Assessment).where(Assessment.portfolio_id == portfolio.id)) is None
    assert login_as(w.master).get(f"/portfolios/{portfolio.id}/bilan").status_code == 200
    assessment = f.s.scalar(select(Assessment).where(Assessment.portfolio_id == portfolio.id))
    assert assessment is not None and assessment.status == "draft"
    assert login_as(w.teacher).get(f"/portfolios/{portfolio.id}/bilan").status_code == 200


def test_who_sees_what(f: Any, login_as: Any) -> None:
    w = f.world()
    assert login_as(w.tutor).get(_url(w)).status_code == 200
    for outsider in (w.master, w.other_teacher, w.other_tutor, w.admin, w.learner, w.classmate):
        assert login_as(outsider).get(_url(w)).status_code == 404
    svc.complete(w.assessment, w.teacher)
    learner_page = login_as(w.learner)
    response = learner_page.get(_url(w))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "type=radio" not in page and "grid-form" not in page
    assert "Complété" in page
    assert login_as(w.classmate).get(_url(w)).status_code == 404


# --- rating -----------------------------------------------------------------------------------


def test_rating_saves_at_once_and_answers_with_a_small_fragment(f: Any, login_as: Any) -> None:
    w = f.world()
    criterion = _competencies(f, w.level.framework_id)[0].criteria[0]
    key = f"criterion:{criterion.id}"
    response = login_as(w.teacher).post(
        _url(w, f"/items/{key}"), data={"value": "3", "base_version": "0"}, headers=HX
    )
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert len(body.encode()) < 4096, len(body.encode())
    assert "<html" not in body and body.lstrip().startswith(
        f'<fieldset class="rg saved" id=item-c{criterion.id} '
    )
    assert "value=3 aria-labelledby=lv4 checked>3</i>" in body
    assert "Saisi par l’enseignant</a>" in body
    assert "data-version=1>" in body
    item = f.s.scalar(select(AssessmentItem).where(AssessmentItem.item_key == key))
    assert item is not None and (item.value, item.author_role) == ("3", "teacher")


def test_tutor_rates_from_their_account_and_authorship_shows(f: Any, login_as: Any) -> None:
    w = f.world()
    competency = _competencies(f, w.level.framework_id)[1]
    key = f"competency:{competency.id}"
    client = login_as(w.tutor)
    assert client.post(_url(w, f"/items/{key}"), data={"value": "2"}, headers=HX).status_code == 200
    login_as(w.teacher).post(_url(w, f"/items/{key}"), data={"value": "4"}, headers=HX)
    page = client.get(_url(w)).get_data(as_text=True)
    history_url = f"/portfolios/{w.portfolio.id}/bilan/items/k{competency.id}/historique"
    assert f"href={history_url}>Saisi par l’enseignant</a>" in page
    history = client.get(_url(w, f"/items/{key}/historique"), headers=HX).get_data(as_text=True)
    assert history.count("<li>") == 2
    assert (
        f'<button class="button small" name=clear value=k{competency.id}>Effacer la note</button>'
        in history
    )
    assert "4 – Très bien maîtrisé" in history and "2 – Fragile" in history
    assert f"Formateur en entreprise · {w.tutor.full_name}" in history
    assert "saisi le" in history and "reçu le" in history
    full = client.get(_url(w, f"/items/{key}/historique"))
    assert full.get_data(as_text=True).startswith("<!doctype html>")


def test_criterion_rating_refreshes_its_competency_summary(f: Any, login_as: Any) -> None:
    w = f.world()
    c1 = _competencies(f, w.level.framework_id)[0]
    _select(f, w.portfolio.sheets[0], c1, c1.criteria[:2])
    client = login_as(w.teacher)
    client.post(_url(w, f"/items/criterion:{c1.criteria[0].id}"), data={"value": "4"}, headers=HX)
    body = client.post(
        _url(w, f"/items/criterion:{c1.criteria[1].id}"), data={"value": "2"}, headers=HX
    ).get_data(as_text=True)
    assert f'id="summary-{c1.id}" hx-swap-oob="true"' in body
    assert "2 – Fragile" in body and f"2/{len(c1.criteria)} critères renseignés" in body


def test_a_rating_can_be_cleared(f: Any, login_as: Any) -> None:
    w = f.world()
    key = f"competency:{_competencies(f, w.level.framework_id)[0].id}"
    client = login_as(w.teacher)
    client.post(_url(w, f"/items/{key}"), data={"value": "NE"}, headers=HX)
    body = client.post(_url(w, f"/items/{key}"), data={"value": ""}, headers=HX).get_data(
        as_text=True
    )
    assert " checked" not in body
    item = f.s.scalar(select(AssessmentItem).where(AssessmentItem.item_key == key))
    assert item is not None and item.value is None and item.version == 2


def test_stars_date_and_comment(f: Any, login_as: Any) -> None:
    w = f.world()
    client = login_as(w.teacher)
    stars = client.post(_url(w, "/items/engagement"), data={"value": "3"}, headers=HX)
    assert stars.status_code == 200
    assert 'value="3" aria-label="3 étoiles sur 4" checked' in stars.get_data(as_text=True)
    date = client.post(_url(w, "/items/meeting_date"), data={"value": "2026-06-24"}, headers=HX)
    assert 'value="2026-06-24"' in date.get_data(as_text=True)
    text = "<script>alert(1)</script> Très bonne période."
    comment = client.post(_url(w, "/items/comment"), data={"value": text}, headers=HX)
    body = comment.get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Très bonne période." in body
    assert "<script>alert" not in body
    grid = svc.build_grid(w.assessment)
    assert grid.engagement_stars == 3 and grid.meeting_date_value.isoformat() == "2026-06-24"
    assert grid.comment.value == text


def test_bad_comment_and_date_come_back_with_the_typed_text(f: Any, login_as: Any) -> None:
    w = f.world()
    client = login_as(w.teacher)
    long_text = "Très bien. " * 500  # 5500 characters
    response = client.post(_url(w, "/items/comment"), data={"value": long_text}, headers=HX)
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "Le commentaire est trop long" in body and long_text.strip() in body
    response = client.post(_url(w, "/items/meeting_date"), data={"value": "2026-02-31"}, headers=HX)
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "Date de rencontre invalide" in body and 'value="2026-02-31"' in body
    assert (
        f.s.scalar(select(AssessmentItem).where(AssessmentItem.assessment_id == w.assessment.id))
        is None
    )


@pytest.mark.parametrize(
    ("key", "data", "status"),
    [
        ("criterion:999999999", {"value": "3"}, 422),  # not in any framework
        ("criterion:abc", {"value": "3"}, 422),
        ("notakey", {"value": "3"}, 422),
        ("engagement", {"value": "9"}, 422),
        ("OTHER_FRAMEWORK", {"value": "3"}, 422),  # a criterion of Bac Pro MEE
        ("MINE", {"value": "5"}, 422),  # a level outside the scale
        ("MINE", {"value": "3", "base_version": "abc"}, 422),
        ("MINE", {"value": "3", "base_version": "-2"}, 422),
    ],
)
def test_bad_ratings_get_a_clear_answer(
    f: Any, login_as: Any, key: str, data: dict[str, str], status: int
) -> None:
    w = f.world()
    if key == "OTHER_FRAMEWORK":
        key = f"criterion:{_competencies(f, w.other_level.framework_id)[0].criteria[0].id}"
    if key == "MINE":
        key = f"criterion:{_competencies(f, w.level.framework_id)[0].criteria[0].id}"
    response = login_as(w.teacher).post(_url(w, f"/items/{key}"), data=data, headers=HX)
    assert response.status_code == status
    body = response.get_data(as_text=True)
    assert 'class="flash flash-error"' in body and response.headers.get("HX-Retarget") == "#flash"


def test_rating_a_completed_assessment_is_refused(f: Any, login_as: Any) -> None:
    w = f.world()
    svc.complete(w.assessment, w.teacher)
    key = f"competency:{_competencies(f, w.level.framework_id)[0].id}"
    for user in (w.teacher, w.tutor):
        response = login_as(user).post(_url(w, f"/items/{key}"), data={"value": "3"}, headers=HX)
        assert response.status_code == 409
        assert "complété" in response.get_data(as_text=True)
    learner = login_as(w.learner).post(_url(w, f"/items/{key}"), data={"value": "3"})
    assert learner.status_code == 403


def test_someone_elses_mentee_is_not_found(f: Any, login_as: Any) -> None:
    w = f.world()
    key = f"competency:{_competencies(f, w.level.framework_id)[0].id}"
    assert login_as(w.master).post(_url(w, f"/items/{key}"), data={"value": "3"}).status_code == 404
    assert (
        login_as(w.tutor)
        .post(f"/portfolios/{w.classmate_portfolio.id}/bilan/items/{key}", data={"value": "3"})
        .status_code
        == 404
    )
    assert (
        login_as(w.other_teacher).post(_url(w, f"/items/{key}"), data={"value": "3"}).status_code
        == 404
    )
    assert (
        login_as(w.teacher)
        .post("/portfolios/999999/bilan/items/comment", data={"value": "x"})
        .status_code
        == 404
    )


def test_without_javascript_the_whole_grid_is_one_form(f: Any, login_as: Any) -> None:
    w = f.world()
    c1, c2 = _competencies(f, w.level.framework_id)[:2]
    client = login_as(w.tutor)
    response = client.post(
        _url(w),
        data={
            f"competency:{c1.id}": "3",
            f"competency:{c2.id}": "1",
            "engagement": "4",
            "meeting_date": "2026-06-26",
            "comment": "Sérieux et ponctuel.",
        },
    )
    assert response.status_code == 303 and response.headers["Location"].endswith(_url(w))
    grid = svc.build_grid(w.assessment)
    assert [grid.item(f"competency:{c.id}").value for c in (c1, c2)] == ["3", "1"]  # type: ignore[union-attr]
    assert grid.engagement.value == "4" and grid.comment.value == "Sérieux et ponctuel."
    assert grid.meeting_date.value is None  # unchanged default date: nothing stored
    response = client.post(
        _url(w),
        data={f"competency:{c1.id}": "2", "engagement": "7", "comment": "Gardé <b>tel quel</b>"},
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "1 à 4 étoiles" in page and "Gardé &lt;b&gt;tel quel&lt;/b&gt;" in page
    assert svc.build_grid(w.assessment).item(f"competency:{c1.id}").value == "3"  # type: ignore[union-attr]


def test_mode_toggle_answers_with_the_competency_block(f: Any, login_as: Any) -> None:
    w = f.world()
    c1 = _competencies(f, w.level.framework_id)[0]
    client = login_as(w.tutor)
    response = client.post(
        _url(w, f"/competences/{c1.id}/mode"), data={"mode": "criteria"}, headers=HX
    )
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert body.lstrip().startswith(f'<section class="comp" id="comp-{c1.id}"')
    assert "aria-pressed=true>Par critères" in body
    assert body.count("type=radio") == 6 * len(c1.criteria)
    response = client.post(_url(w, f"/competences/{c1.id}/mode"), data={"mode": "global"})
    assert response.status_code == 303 and response.headers["Location"].endswith(f"#comp-{c1.id}")
    assert client.post(_url(w, f"/competences/{c1.id}/mode"), data={"mode": "x"}).status_code == 422
    other = _competencies(f, w.other_level.framework_id)[0]
    assert (
        client.post(_url(w, f"/competences/{other.id}/mode"), data={"mode": "global"}).status_code
        == 422
    )


def test_conflict_is_shown_to_the_teacher_who_settles_it(f: Any, login_as: Any) -> None:
    w = f.world()
    key = f"competency:{_competencies(f, w.level.framework_id)[0].id}"
    t0 = datetime(2026, 6, 20, 10, tzinfo=UTC)
    _rate(w.assessment, w.teacher, key, "3", device_time=t0 + timedelta(minutes=30))
    _rate(w.assessment, w.tutor, key, "1", device_time=t0, base_version=0, via_sync=True)
    teacher = login_as(w.teacher)
    page = teacher.get(_url(w)).get_data(as_text=True)
    assert "1 conflit de saisie à régler" in page
    assert "Conflit de saisie :" in page and "« 1 – Insuffisant » par " + w.tutor.full_name in page
    assert ">Garder</button>" in page and ">Rétablir l'autre valeur</button>" in page
    tutor_page = login_as(w.tutor).get(_url(w)).get_data(as_text=True)
    assert "L'enseignant choisira la valeur à garder." in tutor_page
    assert (
        login_as(w.tutor)
        .post(_url(w, f"/items/{key}/conflit"), data={"keep": "0"}, headers=HX)
        .status_code
        == 403
    )
    response = teacher.post(_url(w, f"/items/{key}/conflit"), data={"keep": "0"}, headers=HX)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "Conflit de saisie" not in body and "value=1 aria-labelledby=lv2 checked" in body
    assert (
        teacher.post(_url(w, f"/items/{key}/conflit"), data={"keep": "1"}, headers=HX).status_code
        == 409
    )
    assert teacher.post(_url(w, "/items/comment/conflit"), data={"keep": "1"}).status_code == 404
    assert teacher.post(_url(w, f"/items/{key}/conflit"), data={"keep": "x"}).status_code == 422


def test_complete_then_reopen(f: Any, login_as: Any) -> None:
    w = f.world()
    teacher = login_as(w.teacher)
    assert login_as(w.tutor).post(_url(w, "/completer")).status_code == 403
    response = teacher.post(_url(w, "/completer"))
    assert response.status_code == 303
    page = teacher.get(_url(w)).get_data(as_text=True)
    assert "Le bilan est complété" in page and "Rouvrir le bilan" in page
    assert "type=radio" not in page
    assert teacher.post(_url(w, "/completer")).status_code == 409
    assert login_as(w.tutor).post(_url(w, "/rouvrir")).status_code == 403
    assert teacher.post(_url(w, "/rouvrir")).status_code == 303
    assert "Marquer le bilan comme complété" in teacher.get(_url(w)).get_data(as_text=True)
    actions = list(
        f.s.scalars(
            select(AuditLog.action)
            .where(AuditLog.object_id == w.assessment.id)
            .order_by(AuditLog.id)
        )
    )
    assert actions == ["assessment.completed", "assessment.reopened"]
    assert teacher.post(_url(w, "/rouvrir")).status_code == 409


def test_scale_colours_are_served_from_the_framework_data(f: Any, login_as: Any) -> None:
    w = f.world()
    response = login_as(w.tutor).get(f"/bilans/echelle-{w.level.framework_id}.css")
    assert response.status_code == 200 and response.mimetype == "text/css"
    css = response.get_data(as_text=True)
    assert ".s4, .lv > :nth-child(5) { --lv: #7cb342; --lv-ink: #000000; }" in css
    assert login_as(w.tutor).get("/bilans/echelle-999999.css").status_code == 404


# --- budgets ----------------------------------------------------------------------------------


def _mee_world(f: Any) -> tuple[Any, list[Competency]]:
    w = f.world()
    return w, _competencies(f, w.other_level.framework_id)


def test_mee_page_renders_with_a_fixed_number_of_queries(
    f: Any, login_as: Any, count_queries: Any
) -> None:
    w, competencies = _mee_world(f)
    assert len(competencies) == 13 and sum(len(c.criteria) for c in competencies) == 179
    url = f"/portfolios/{w.other_portfolio.id}/bilan"
    client = login_as(w.other_teacher)
    client.get(url)
    with count_queries() as small:
        assert client.get(url).status_code == 200
    # More sheets, selections, ratings by both assessors, modes and a conflict.
    sheets = w.other_portfolio.sheets
    for index, competency in enumerate(competencies):
        _select(
            f, sheets[index % len(sheets)], competency, competency.criteria[:3] if index % 2 else []
        )
    for competency in competencies:
        for criterion in competency.criteria[:4]:
            _rate(w.other_assessment, w.other_tutor, f"criterion:{criterion.id}", "2")
        _rate(w.other_assessment, w.other_teacher, f"competency:{competency.id}", "3")
        svc.set_competency_mode(w.other_assessment, w.other_teacher, competency.id, "criteria")
    key = f"competency:{competencies[0].id}"
    _rate(
        w.other_assessment,
        w.other_tutor,
        key,
        "1",
        base_version=0,
        device_time=datetime(2000, 1, 1, tzinfo=UTC),
    )
    _rate(w.other_assessment, w.other_teacher, "comment", "Bien.")
    with count_queries() as large:
        page = client.get(url)
    assert page.status_code == 200
    assert large.count == small.count, large.statements
    assert small.count <= 25


def test_mee_page_stays_under_150_kb_even_with_every_criterion_shown(f: Any, login_as: Any) -> None:
    w, competencies = _mee_world(f)
    for competency in competencies:
        svc.set_competency_mode(w.other_assessment, w.other_teacher, competency.id, "criteria")
        for criterion in competency.criteria:
            _rate(w.other_assessment, w.other_tutor, f"criterion:{criterion.id}", "3")
    page = login_as(w.other_teacher).get(f"/portfolios/{w.other_portfolio.id}/bilan")
    body = page.get_data()
    assert page.status_code == 200
    assert body.count(b"type=radio") == 6 * 179
    assert len(body) < 150 * 1024, len(body)


# --- concurrency over HTTP (real commits, two threads) ----------------------------------------


def test_teacher_and_tutor_rating_different_items_at_once_both_land(app: Any) -> None:
    import threading

    from app.extensions import db as _db
    from tests.services.test_assessments import _committed_world, _drop_world

    ids = _committed_world(app)
    with app.app_context():
        portfolio_id = _db.session.get(Assessment, ids["assessment"]).portfolio_id  # type: ignore[union-attr]
        users = {uid: _db.session.get(_user_model(), uid) for uid in (ids["teacher"], ids["tutor"])}
        cookies = {uid: user.get_id() for uid, user in users.items()}  # type: ignore[union-attr]
        _db.session.remove()
    start = threading.Barrier(2, timeout=20)
    statuses: list[int] = []

    def worker(user_id: int, key: str, value: str) -> None:
        client = app.test_client()
        with client.session_transaction() as session:
            session["_user_id"] = cookies[user_id]
            session["_fresh"] = True
        start.wait()
        response = client.post(
            f"/portfolios/{portfolio_id}/bilan/items/{key}", data={"value": value}, headers=HX
        )
        statuses.append(response.status_code)

    threads = [
        threading.Thread(target=worker, args=(ids["teacher"], ids["keys"][0], "3")),
        threading.Thread(target=worker, args=(ids["tutor"], ids["keys"][1], "2")),
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert statuses == [200, 200]
        with app.app_context():
            items = {
                item.item_key: (item.value, item.author_role)
                for item in _db.session.scalars(
                    select(AssessmentItem).where(AssessmentItem.assessment_id == ids["assessment"])
                )
            }
            _db.session.remove()
        assert items == {ids["keys"][0]: ("3", "teacher"), ids["keys"][1]: ("2", "tutor")}
    finally:
        _drop_world(app, ids)


def _user_model() -> Any:
    from app.models import User

    return User


def test_item_urls_answer_404_for_unknown_items_and_fragments_for_known(
    f: Any, login_as: Any
) -> None:
    w = f.world()
    client = login_as(w.teacher)
    assert client.get(_url(w, "/items/criterion:999999999"), headers=HX).status_code == 404
    assert client.get(_url(w, "/items/nothing"), headers=HX).status_code == 404
    assert client.get(_url(w, "/items/c999999999/historique")).status_code == 404
    fragment = client.get(_url(w, "/items/engagement"), headers=HX)
    assert fragment.status_code == 200 and 'id="item-engagement"' in fragment.get_data(as_text=True)
    full = client.get(_url(w, "/items/engagement"))  # opened directly: the whole page
    assert full.status_code == 200 and full.get_data(as_text=True).startswith("<!doctype html>")


def test_no_javascript_comment_error_shows_on_the_page(f: Any, login_as: Any) -> None:
    w = f.world()
    response = login_as(w.teacher).post(_url(w, "/items/comment"), data={"value": "é" * 5001})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert page.startswith("<!doctype html>") and "Le commentaire est trop long" in page
    assert "é" * 5001 in page
