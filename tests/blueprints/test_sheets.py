"""Sheet pages end to end through the test client: the learner writes across the four pages,
the teacher reads (green → black, per teacher) and links to the framework, the tutor reads
only; hostile input (big files, disguised programs, javascript: URLs, HTML) never gets in."""

from __future__ import annotations

import io
import re
from typing import Any

from app.models import (
    ActivitySheet,
    Attachment,
    SheetCompetency,
    SheetCriterion,
    SheetRead,
    SheetTask,
    Task,
)

HX = {"HX-Request": "true"}
XSS = "<script>alert('x')</script><img src=x onerror=alert(1)>"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer\n%%EOF\n"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 200


def _task_with_criteria(framework: Any) -> tuple[Task, Any, Any]:
    """A task of the framework with a competency that has at least two criteria."""
    for activity in framework.activities:
        for task in activity.tasks:
            for competency in task.competencies:
                if len(competency.criteria) >= 2:
                    return task, competency, competency.criteria
    raise AssertionError("no task with criteria")


def _upload(client: Any, sheet: ActivitySheet, data: bytes, name: str, **kw: Any) -> Any:
    return client.post(
        f"/fiches/{sheet.id}/annexes",
        data={"file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
        **kw,
    )


# --- the learner writes ---------------------------------------------------------------------


def test_learner_writes_a_sheet_across_the_four_pages(f: Any, login_as: Any) -> None:
    w = f.world()
    client = login_as(w.learner)
    activity = w.level.framework.activities[1]
    task = activity.tasks[0]

    page = client.get(f"/fiches/{w.sheet.id}").get_data(as_text=True)
    assert "Contexte" in page and "Relier au référentiel" in page
    assert 'aria-current="page">Contexte' in page
    assert "Pas encore rédigée" in page

    response = client.post(
        f"/fiches/{w.sheet.id}/enregistrer",
        data={
            "page": "contexte",
            "company": "Électricité Martin",
            "conditions": "accompanied",
            "activity_id": str(activity.id),
        },
    )
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/fiches/{w.sheet.id}")
    response = client.post(
        f"/fiches/{w.sheet.id}/enregistrer",
        data={"page": "fiche", "description": "J'ai câblé un tableau.", "analysis": "Bien."},
    )
    assert response.headers["Location"].endswith(f"/fiches/{w.sheet.id}/fiche")
    tick = client.post(
        f"/fiches/{w.sheet.id}/referentiel/selection",
        data={"item": f"tick:{task.id}", "tick": str(task.id)},
        headers=HX,
    )
    assert tick.status_code == 200
    assert f'id="link-task-{task.id}"' in tick.get_data(as_text=True)
    assert _upload(client, w.sheet, JPEG, "photo.jpg").status_code == 303
    assert _upload(client, w.sheet, PDF, "bon de livraison.pdf").status_code == 303

    f.s.expire_all()
    sheet = f.s.get(ActivitySheet, w.sheet.id)
    assert sheet.company == "Électricité Martin" and sheet.conditions == "accompanied"
    assert sheet.activity_id == activity.id
    assert sheet.description == "J'ai câblé un tableau." and sheet.analysis == "Bien."
    assert sheet.learner_updated_at is not None
    assert [(t.task_id, t.ticked_by_learner) for t in sheet.tasks] == [(task.id, True)]
    assert sorted(a.original_name for a in sheet.attachments) == [
        "bon de livraison.pdf",
        "photo.jpg",
    ]

    # …and finds it again.
    context = client.get(f"/fiches/{w.sheet.id}").get_data(as_text=True)
    assert 'value="Électricité Martin"' in context
    assert re.search(r'value="accompanied"\s+checked', context)
    assert "Dernière modification le" in context
    assert '<span class="counter" id="annex-counter">(2)</span>' in context
    narrative = client.get(f"/fiches/{w.sheet.id}/fiche").get_data(as_text=True)
    assert "J&#39;ai câblé un tableau." in narrative
    links = client.get(f"/fiches/{w.sheet.id}/referentiel").get_data(as_text=True)
    assert re.search(rf'name="tick" value="{task.id}"\s+checked', links)
    annexes = client.get(f"/fiches/{w.sheet.id}/annexes").get_data(as_text=True)
    assert "photo.jpg" in annexes and "bon de livraison.pdf" in annexes
    home = client.get("/mes-portfolios").get_data(as_text=True)
    assert "dernière modification le" in home


def test_autosave_answers_a_status_fragment_and_moves_the_date(f: Any, login_as: Any) -> None:
    w = f.world()
    client = login_as(w.learner)
    response = client.post(
        f"/fiches/{w.sheet.id}/enregistrer",
        data={"page": "fiche", "description": "Premier jet"},
        headers=HX,
    )
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert 'id="save-status"' in body and "Enregistré à" in body
    assert re.search(r"Enregistré à \d\d:\d\d", body)
    assert 'id="sheet-updated" hx-swap-oob="true"' in body
    assert "<html" not in body
    first = f.s.get(ActivitySheet, w.sheet.id).learner_updated_at
    assert first is not None
    # Same text again (e.g. the change event after input): nothing moves.
    client.post(
        f"/fiches/{w.sheet.id}/enregistrer",
        data={"page": "fiche", "description": "Premier jet"},
        headers=HX,
    )
    f.s.expire_all()
    assert f.s.get(ActivitySheet, w.sheet.id).learner_updated_at == first


def test_autosave_only_touches_the_fields_it_sends(f: Any, login_as: Any) -> None:
    w = f.world()
    w.sheet.company = "Garde-moi"
    w.sheet.analysis = "Analyse existante"
    f.s.flush()
    client = login_as(w.learner)
    client.post(f"/fiches/{w.sheet.id}/enregistrer", data={"description": "Texte"}, headers=HX)
    f.s.expire_all()
    sheet = f.s.get(ActivitySheet, w.sheet.id)
    assert sheet.description == "Texte"
    assert sheet.company == "Garde-moi" and sheet.analysis == "Analyse existante"


def test_save_as_json_for_offline_drafts(f: Any, login_as: Any) -> None:
    w = f.world()
    client = login_as(w.learner)
    response = client.post(
        f"/fiches/{w.sheet.id}/enregistrer", json={"description": "Écrit hors ligne"}
    )
    assert response.status_code == 200
    assert response.json["ok"] is True and response.json["changed"] is True
    assert response.json["learner_updated_at"]
    bad = client.post(f"/fiches/{w.sheet.id}/enregistrer", json={"conditions": "en vacances"})
    assert bad.status_code == 422 and "Conditions" in bad.json["message"]
    wrong_type = client.post(f"/fiches/{w.sheet.id}/enregistrer", json={"description": 12})
    assert wrong_type.status_code == 422
    not_object = client.post(f"/fiches/{w.sheet.id}/enregistrer", json=["x"])
    assert not_object.status_code == 400
    f.s.expire_all()
    assert f.s.get(ActivitySheet, w.sheet.id).description == "Écrit hors ligne"


def test_bad_input_comes_back_in_the_form_in_french(f: Any, login_as: Any) -> None:
    w = f.world()
    client = login_as(w.learner)
    long_company = "X" * 250
    response = client.post(
        f"/fiches/{w.sheet.id}/enregistrer",
        data={"page": "contexte", "company": long_company, "activity_id": "999999"},
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "200 caractères au plus." in page
    assert "Choisissez une activité de la liste." in page
    assert f'value="{long_company}"' in page  # what the user typed is kept
    htmx_response = client.post(
        f"/fiches/{w.sheet.id}/enregistrer", data={"conditions": "jamais"}, headers=HX
    )
    assert htmx_response.status_code == 422
    assert "Non enregistré" in htmx_response.get_data(as_text=True)
    f.s.expire_all()
    assert f.s.get(ActivitySheet, w.sheet.id).company == ""


def test_activity_of_another_framework_is_refused(f: Any, login_as: Any) -> None:
    w = f.world()
    foreign = w.other_level.framework.activities[0]
    response = login_as(w.learner).post(
        f"/fiches/{w.sheet.id}/enregistrer",
        data={"page": "contexte", "activity_id": str(foreign.id)},
    )
    assert response.status_code == 422
    assert f.s.get(ActivitySheet, w.sheet.id).activity_id is None


# --- who sees what --------------------------------------------------------------------------


def test_another_learners_sheet_is_404_by_id(f: Any, login_as: Any) -> None:
    w = f.world()
    classmate_sheet = w.classmate_portfolio.sheets[0]
    client = login_as(w.learner)
    for path in ("", "/fiche", "/referentiel", "/annexes"):
        assert client.get(f"/fiches/{classmate_sheet.id}{path}").status_code == 404
        assert client.get(f"/fiches/{w.other_sheet.id}{path}").status_code == 404
    assert (
        client.post(
            f"/fiches/{classmate_sheet.id}/enregistrer", data={"description": "pirate"}
        ).status_code
        == 404
    )
    assert client.get("/fiches/99999999").status_code == 404
    f.s.expire_all()
    assert f.s.get(ActivitySheet, classmate_sheet.id).description == ""


def test_tutor_reads_but_cannot_change(f: Any, login_as: Any) -> None:
    w = f.world()
    w.sheet.company = "Électricité Martin"
    f.written(w.sheet, "Pose de prises.")
    client = login_as(w.tutor)
    context = client.get(f"/fiches/{w.sheet.id}").get_data(as_text=True)
    assert "Électricité Martin" in context and 'id="sheet-form"' not in context
    assert "Pose de prises." in client.get(f"/fiches/{w.sheet.id}/fiche").get_data(as_text=True)
    task = w.level.framework.activities[0].tasks[0]
    assert (
        client.post(
            f"/fiches/{w.sheet.id}/enregistrer", data={"description": "modifié"}
        ).status_code
        == 403
    )
    assert (
        client.post(
            f"/fiches/{w.sheet.id}/referentiel/selection",
            data={"item": f"task:{task.id}", "task": str(task.id)},
        ).status_code
        == 403
    )
    assert _upload(client, w.sheet, PDF, "x.pdf").status_code == 403
    assert f.s.get(ActivitySheet, w.sheet.id).description == "Pose de prises."
    assert f.s.query(SheetTask).filter_by(sheet_id=w.sheet.id).count() == 0
    assert f.s.query(SheetRead).filter_by(sheet_id=w.sheet.id).count() == 0


def test_read_state_is_per_teacher(f: Any, login_as: Any) -> None:
    w = f.world()
    colleague = f.teacher([w.level])
    client = login_as(w.learner)
    client.post(f"/fiches/{w.sheet.id}/enregistrer", data={"description": "Nouvelle fiche"})
    period_url = f"/periodes/{w.period.id}"
    green = f'class="sheet-title unread" href="/fiches/{w.sheet.id}"'
    teacher, other = login_as(w.teacher), login_as(colleague)
    assert green in teacher.get(period_url).get_data(as_text=True)
    assert green in other.get(period_url).get_data(as_text=True)

    assert teacher.get(f"/fiches/{w.sheet.id}").status_code == 200  # opens it
    assert green not in teacher.get(period_url).get_data(as_text=True)  # black for them
    assert green in other.get(period_url).get_data(as_text=True)  # still green for the colleague
    assert f.s.query(SheetRead).filter_by(sheet_id=w.sheet.id).count() == 1

    # Reading again writes nothing: the mark of the first reading stands…
    first_read = f.s.query(SheetRead).filter_by(sheet_id=w.sheet.id).one().read_at
    assert teacher.get(f"/fiches/{w.sheet.id}/fiche").status_code == 200
    f.s.expire_all()
    assert f.s.query(SheetRead).filter_by(sheet_id=w.sheet.id).one().read_at == first_read
    # …a new change by the learner turns it green again, and reading it turns it black.
    client.post(f"/fiches/{w.sheet.id}/enregistrer", data={"description": "Complétée"})
    assert green in teacher.get(period_url).get_data(as_text=True)
    assert teacher.get(f"/fiches/{w.sheet.id}/referentiel").status_code == 200
    assert green not in teacher.get(period_url).get_data(as_text=True)
    f.s.expire_all()
    assert f.s.query(SheetRead).filter_by(sheet_id=w.sheet.id).one().read_at > first_read


def test_a_teacher_change_does_not_turn_the_title_green(f: Any, login_as: Any) -> None:
    w = f.world()
    teacher = login_as(w.teacher)
    teacher.get(f"/fiches/{w.sheet.id}")
    task = w.level.framework.activities[0].tasks[0]
    teacher.post(
        f"/fiches/{w.sheet.id}/referentiel/selection",
        data={"item": f"task:{task.id}", "task": str(task.id)},
        headers=HX,
    )
    assert f.s.get(ActivitySheet, w.sheet.id).learner_updated_at is None
    page = teacher.get(f"/periodes/{w.period.id}").get_data(as_text=True)
    assert f'class="sheet-title unread" href="/fiches/{w.sheet.id}"' not in page


# --- the teacher links to the framework -----------------------------------------------------


def test_teacher_adjusts_tasks_and_selects_criteria(f: Any, login_as: Any) -> None:
    w = f.world()
    task, competency, criteria = _task_with_criteria(w.level.framework)
    learner_task = next(t for a in w.level.framework.activities for t in a.tasks if t.id != task.id)
    login_as(w.learner).post(
        f"/fiches/{w.sheet.id}/referentiel/selection",
        data={"item": f"tick:{learner_task.id}", "tick": str(learner_task.id)},
        headers=HX,
    )
    client = login_as(w.teacher)
    grid = client.get(f"/fiches/{w.sheet.id}/referentiel").get_data(as_text=True)
    assert "Cochée par l'apprenant" in grid  # the learner's tick arrives checked
    assert re.search(rf'name="task" value="{learner_task.id}"\s+checked', grid)
    assert "<details" in grid and "Critères détaillés" in grid

    url = f"/fiches/{w.sheet.id}/referentiel/selection"
    confirm = client.post(url, data={"item": f"confirm:{learner_task.id}"}, headers=HX)
    assert "Confirmée" in confirm.get_data(as_text=True)
    # Select two criteria of a competency on another task (adds and confirms that task).
    for criterion in criteria[:2]:
        response = client.post(
            url,
            data={"item": f"crit:{task.id}:{criterion.id}", "crit": f"{task.id}:{criterion.id}"},
            headers=HX,
        )
        assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert body.lstrip().startswith(f'<div class="link-task is-linked" id="link-task-{task.id}"')
    assert re.search(rf'value="{task.id}:{criteria[1].id}"\s+checked', body)
    assert f"(2/{len(criteria)})" in body
    # Remove the learner's task.
    client.post(url, data={"item": f"task:{learner_task.id}"}, headers=HX)

    rows = f.s.query(SheetTask).filter_by(sheet_id=w.sheet.id).all()
    assert [(r.task_id, r.confirmed_by_id) for r in rows] == [(task.id, w.teacher.id)]
    comp = f.s.query(SheetCompetency).filter_by(sheet_id=w.sheet.id).one()
    assert (comp.task_id, comp.competency_id, comp.mode) == (task.id, competency.id, "criteria")
    crits = {c.criterion_id for c in f.s.query(SheetCriterion).filter_by(sheet_id=w.sheet.id)}
    assert crits == {criteria[0].id, criteria[1].id}

    # Global instead: the criteria go.
    client.post(
        url,
        data={"item": f"comp:{task.id}:{competency.id}", "comp": f"{task.id}:{competency.id}"},
        headers=HX,
    )
    f.s.expire_all()
    assert f.s.query(SheetCompetency).filter_by(sheet_id=w.sheet.id).one().mode == "global"
    assert f.s.query(SheetCriterion).filter_by(sheet_id=w.sheet.id).count() == 0


def test_grid_without_javascript_saves_the_whole_form(f: Any, login_as: Any) -> None:
    w = f.world()
    task, _competency, criteria = _task_with_criteria(w.level.framework)
    client = login_as(w.teacher)
    response = client.post(
        f"/fiches/{w.sheet.id}/referentiel",
        data={"task": [str(task.id)], "crit": [f"{task.id}:{criteria[0].id}"]},
    )
    assert response.status_code == 303
    assert (
        f.s.query(SheetCriterion).filter_by(sheet_id=w.sheet.id).one().criterion_id
        == criteria[0].id
    )
    assert f.s.query(SheetCompetency).filter_by(sheet_id=w.sheet.id).one().mode == "criteria"
    client.post(f"/fiches/{w.sheet.id}/referentiel", data={})
    assert f.s.query(SheetTask).filter_by(sheet_id=w.sheet.id).count() == 0


def test_criteria_come_with_the_grid_only_when_chosen_else_on_unfolding(
    f: Any, login_as: Any
) -> None:
    w = f.world()
    task, competency, criteria = _task_with_criteria(w.level.framework)
    client = login_as(w.teacher)
    lazy = f"/fiches/{w.sheet.id}/referentiel/criteres/{task.id}/{competency.id}"
    box = rf'name="crit"\s+value="{task.id}:{criteria[0].id}"'
    grid = client.get(f"/fiches/{w.sheet.id}/referentiel").get_data(as_text=True)
    assert not re.search(box, grid)  # folded: fetched when opened
    assert f'hx-get="{lazy}" hx-trigger="toggle once"' in grid
    assert f'<a href="{lazy}">Afficher les {len(criteria)} critères</a>' in grid  # no JavaScript

    fragment = client.get(lazy, headers=HX).get_data(as_text=True)
    assert fragment.count('name="crit"') == len(criteria) and "checked" not in fragment
    client.post(
        f"/fiches/{w.sheet.id}/referentiel/selection",
        data={"item": f"crit:{task.id}:{criteria[0].id}", "crit": f"{task.id}:{criteria[0].id}"},
        headers=HX,
    )
    fragment = client.get(lazy, headers=HX).get_data(as_text=True)
    assert re.search(rf'value="{task.id}:{criteria[0].id}"\s*checked', fragment)
    grid = client.get(f"/fiches/{w.sheet.id}/referentiel").get_data(as_text=True)
    assert re.search(box, grid)  # chosen: sent with the page, unfolded

    # Without JavaScript the link opens the grid with that competency unfolded.
    other_task = next(
        t for a in w.level.framework.activities for t in a.tasks
        if t.id != task.id and any(c.criteria for c in t.competencies)
    )  # fmt: skip
    other_comp = next(c for c in other_task.competencies if c.criteria)
    plain = client.get(f"/fiches/{w.sheet.id}/referentiel/criteres/{other_task.id}/{other_comp.id}")
    assert plain.status_code == 303
    assert plain.headers["Location"] == (
        f"/fiches/{w.sheet.id}/referentiel?ouvrir={other_comp.id}#link-task-{other_task.id}"
    )
    unfolded = client.get(plain.headers["Location"]).get_data(as_text=True)
    assert re.search(rf'value="{other_task.id}:{other_comp.criteria[0].id}"', unfolded)

    # A competency that is not under that task is not there.
    stranger = next(
        c for a in w.level.framework.activities for t in a.tasks for c in t.competencies
        if c.id not in {x.id for x in task.competencies}
    )  # fmt: skip
    missing = f"/fiches/{w.sheet.id}/referentiel/criteres/{task.id}/{stranger.id}"
    assert client.get(missing, headers=HX).status_code == 404
    assert login_as(w.learner).get(lazy, headers=HX).status_code == 403


def test_grid_refuses_items_of_another_framework(f: Any, login_as: Any) -> None:
    w = f.world()
    foreign_task = w.other_level.framework.activities[0].tasks[0]
    client = login_as(w.teacher)
    for item in (f"task:{foreign_task.id}", "task:abc", "bogus:1", "comp:1", ""):
        response = client.post(
            f"/fiches/{w.sheet.id}/referentiel/selection", data={"item": item}, headers=HX
        )
        assert response.status_code == 422, item
        assert response.headers.get("HX-Retarget") == "#flash"
    assert f.s.query(SheetTask).filter_by(sheet_id=w.sheet.id).count() == 0


def test_grid_loads_in_a_fixed_number_of_queries(f: Any, login_as: Any, count_queries: Any) -> None:
    w = f.world()
    sheet_id, other_sheet_id = w.sheet.id, w.other_sheet.id
    task, _competency, criteria = _task_with_criteria(w.level.framework)
    task_ids = [x.id for a in w.level.framework.activities for x in a.tasks][:6]
    crit_items = [f"crit:{task.id}:{c.id}" for c in criteria]
    client, other = login_as(w.teacher), login_as(w.other_teacher)
    url = f"/fiches/{sheet_id}/referentiel"

    def measure(c: Any, target: str) -> Any:
        c.get(target)
        f.s.expunge_all()  # a fresh identity map, as in a real request
        with count_queries() as counter:
            response = c.get(target)
        assert response.status_code == 200
        return counter

    empty = measure(client, url)
    for task_id in task_ids:
        client.post(f"{url}/selection", data={"item": f"task:{task_id}", "checked": "1"})
    for item in crit_items:
        client.post(f"{url}/selection", data={"item": item, "checked": "1"})
    full = measure(client, url)
    assert full.count == empty.count, full.statements
    # A bigger framework (MEE) costs the same.
    assert measure(other, f"/fiches/{other_sheet_id}/referentiel").count == empty.count


# --- annexes --------------------------------------------------------------------------------


def test_download_is_an_attachment_with_the_original_name(f: Any, login_as: Any, app: Any) -> None:
    w = f.world()
    client = login_as(w.learner)
    _upload(client, w.sheet, PDF, "Compte rendu n°1.pdf")
    attachment = f.s.query(Attachment).filter_by(sheet_id=w.sheet.id).one()
    assert re.fullmatch(r"[0-9a-f]{32}", attachment.stored_name)
    assert attachment.content_type == "application/pdf"
    for reader in (w.learner, w.teacher, w.tutor):
        response = login_as(reader).get(f"/fiches/{w.sheet.id}/annexes/{attachment.id}")
        assert response.status_code == 200
        assert response.data == PDF
        disposition = response.headers["Content-Disposition"]
        assert disposition.startswith("attachment;")
        assert "Compte%20rendu%20n%C2%B01.pdf" in disposition
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Content-Type"] == "application/pdf"
        assert "sandbox" in response.headers["Content-Security-Policy"]
        response.close()
    # The file lives outside the static folder, under the upload dir.
    assert app.config["UPLOAD_DIR"] not in app.static_folder
    # Another sheet's URL does not lead to it.
    classmate_sheet = w.classmate_portfolio.sheets[0]
    assert (
        login_as(w.teacher).get(f"/fiches/{classmate_sheet.id}/annexes/{attachment.id}").status_code
        == 404
    )


def test_too_large_file_gets_a_clear_message(f: Any, login_as: Any, app: Any) -> None:
    w = f.world()
    client = login_as(w.learner)
    old = app.config["MAX_UPLOAD_BYTES"], app.config["MAX_CONTENT_LENGTH"]
    app.config["MAX_UPLOAD_BYTES"], app.config["MAX_CONTENT_LENGTH"] = 4096, 64 * 1024
    try:
        # Over our limit but under Werkzeug's: checked while streaming to disk.
        response = _upload(client, w.sheet, PDF + b"0" * 8000, "gros.pdf")
        assert response.status_code == 422
        assert "Le fichier dépasse la taille maximale autorisée (4 Ko)." in response.get_data(
            as_text=True
        )
        # Over Werkzeug's limit: a 413, shown in the form, not an error page.
        huge = _upload(client, w.sheet, PDF + b"0" * 100_000, "enorme.pdf")
        assert huge.status_code == 413
        page = huge.get_data(as_text=True)
        assert "Le fichier dépasse la taille maximale autorisée (4 Ko)." in page
        assert 'id="upload"' in page
    finally:
        app.config["MAX_UPLOAD_BYTES"], app.config["MAX_CONTENT_LENGTH"] = old
    assert f.s.query(Attachment).filter_by(sheet_id=w.sheet.id).count() == 0


def test_disguised_executable_is_refused(f: Any, login_as: Any, app: Any) -> None:
    from pathlib import Path

    w = f.world()
    client = login_as(w.learner)
    before = set((Path(app.config["UPLOAD_DIR"]) / "attachments").glob("*"))
    for content, name in (
        (b"MZ\x90\x00\x03" + b"\x00" * 100, "rapport.pdf"),
        (b"\x7fELF\x02\x01\x01" + b"\x00" * 100, "photo.jpg"),
        (b"#!/bin/sh\nrm -rf ~\n", "notes.txt"),
        (b"<html><script>alert(1)</script></html>", "page.txt"),
        (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "dessin.png"),
    ):
        response = _upload(client, w.sheet, content, name)
        assert response.status_code == 422, name
        page = response.get_data(as_text=True)
        assert "refusé" in page or "pas acceptées" in page, name
    assert f.s.query(Attachment).filter_by(sheet_id=w.sheet.id).count() == 0
    after = set((Path(app.config["UPLOAD_DIR"]) / "attachments").glob("*"))
    assert after == before  # nothing left on disk


def test_javascript_url_is_refused_and_links_open_in_a_new_tab(f: Any, login_as: Any) -> None:
    w = f.world()
    client = login_as(w.learner)
    for url in (
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "data:text/html,<b>x</b>",
        "ftp://x.org/a",
    ):
        response = client.post(f"/fiches/{w.sheet.id}/annexes/lien", data={"url": url})
        assert response.status_code == 422, url
        assert "http:// ou https://" in response.get_data(as_text=True)
    assert f.s.query(Attachment).filter_by(sheet_id=w.sheet.id).count() == 0
    client.post(
        f"/fiches/{w.sheet.id}/annexes/lien",
        data={"url": "https://www.legrand.fr/notice", "label": "Notice"},
    )
    page = login_as(w.teacher).get(f"/fiches/{w.sheet.id}/annexes").get_data(as_text=True)
    link = '<a href="https://www.legrand.fr/notice" target="_blank" rel="noopener noreferrer">'
    assert link + "Notice</a>" in page


def test_html_in_every_field_comes_back_escaped(f: Any, login_as: Any) -> None:
    w = f.world()
    client = login_as(w.learner)
    extra = client.post(f"/portfolios/{w.portfolio.id}/fiches/nouvelle", data={"title": XSS})
    sheet_id = int(extra.headers["Location"].rsplit("/", 1)[-1])
    client.post(
        f"/fiches/{sheet_id}/enregistrer",
        data={"page": "contexte", "title": XSS, "company": XSS},
    )
    client.post(
        f"/fiches/{sheet_id}/enregistrer",
        data={"page": "fiche", "description": XSS, "analysis": XSS},
    )
    sheet = f.s.get(ActivitySheet, sheet_id)
    _upload(client, sheet, PDF, XSS + ".pdf")
    client.post(
        f"/fiches/{sheet_id}/annexes/lien",
        data={"url": "https://example.org/?q=<script>", "label": XSS},
    )
    for reader in (w.learner, w.teacher, w.tutor):
        reader_client = login_as(reader)
        for path in ("", "/fiche", "/referentiel", "/annexes"):
            page = reader_client.get(f"/fiches/{sheet_id}{path}").get_data(as_text=True)
            assert "<script>alert" not in page and "<img src=x" not in page, (reader, path)
            assert "&lt;script&gt;" in page, (reader, path)
            assert "q=<script>" not in page, (reader, path)
    for url in (f"/periodes/{w.period.id}", f"/portfolios/{w.portfolio.id}/fiches"):
        page = login_as(w.teacher).get(url).get_data(as_text=True)
        assert "<script>alert" not in page and "&lt;script&gt;" in page
    assert "<script>alert" not in login_as(w.learner).get("/mes-portfolios").get_data(as_text=True)


# --- complementary and free sheets ----------------------------------------------------------


def test_learner_and_teacher_add_complementary_sheets(f: Any, login_as: Any) -> None:
    w = f.world()
    weeks = len(w.portfolio.sheets)
    learner = login_as(w.learner)
    response = learner.post(
        f"/portfolios/{w.portfolio.id}/fiches/nouvelle", data={"title": "Dépannage d'un portail"}
    )
    assert response.status_code == 303
    teacher = login_as(w.teacher)
    teacher.post(f"/portfolios/{w.portfolio.id}/fiches/nouvelle", data={"title": "Visite"})
    f.s.expire_all()
    sheets = (
        f.s.query(ActivitySheet)
        .filter_by(portfolio_id=w.portfolio.id)
        .order_by(ActivitySheet.position)
        .all()
    )
    assert [s.title for s in sheets[weeks:]] == ["Dépannage d'un portail", "Visite"]
    assert all(s.kind == "complementary" and s.learner_id == w.learner.id for s in sheets[weeks:])
    assert sheets[weeks].learner_updated_at is not None  # the learner's: green for teachers
    assert sheets[weeks + 1].learner_updated_at is None  # the teacher's: not
    empty = learner.post(f"/portfolios/{w.portfolio.id}/fiches/nouvelle", data={"title": "  "})
    assert empty.status_code == 422 and "Donnez un titre à la fiche." in empty.get_data(
        as_text=True
    )
    listing = login_as(w.tutor).get(f"/portfolios/{w.portfolio.id}/fiches").get_data(as_text=True)
    assert "Dépannage d&#39;un portail" in listing and "Visite" in listing


def test_free_sheet_is_created_then_attached_to_a_period(f: Any, login_as: Any) -> None:
    w = f.world()
    client = login_as(w.learner)
    response = client.post("/fiches-libres/nouvelle", data={"title": "Stage d'observation"})
    assert response.status_code == 303
    sheet_id = int(response.headers["Location"].rsplit("/", 1)[-1])
    sheet = f.s.get(ActivitySheet, sheet_id)
    assert sheet.portfolio_id is None and sheet.kind == "free"
    home = client.get("/mes-portfolios").get_data(as_text=True)
    assert "Stage d&#39;observation" in home
    context = client.get(f"/fiches/{sheet_id}").get_data(as_text=True)
    assert "Rattacher à une période" in context and w.period.name in context
    # The level's teacher reads free sheets too; the tutor does not.
    assert login_as(w.teacher).get(f"/fiches/{sheet_id}").status_code == 200
    assert login_as(w.tutor).get(f"/fiches/{sheet_id}").status_code == 404
    bad = client.post(
        f"/fiches/{sheet_id}/rattacher", data={"portfolio_id": str(w.other_portfolio.id)}
    )
    assert bad.status_code == 422
    assert "Choisissez une de vos périodes." in bad.get_data(as_text=True)
    ok = client.post(f"/fiches/{sheet_id}/rattacher", data={"portfolio_id": str(w.portfolio.id)})
    assert ok.status_code == 303
    f.s.expire_all()
    sheet = f.s.get(ActivitySheet, sheet_id)
    assert sheet.portfolio_id == w.portfolio.id and sheet.kind == "complementary"
    assert login_as(w.tutor).get(f"/fiches/{sheet_id}").status_code == 200


def test_deleting_a_sheet_deletes_its_files(f: Any, login_as: Any, app: Any) -> None:
    from pathlib import Path

    w = f.world()
    client = login_as(w.learner)
    response = client.post(
        f"/portfolios/{w.portfolio.id}/fiches/nouvelle", data={"title": "À jeter"}
    )
    sheet_id = int(response.headers["Location"].rsplit("/", 1)[-1])
    sheet = f.s.get(ActivitySheet, sheet_id)
    _upload(client, sheet, PDF, "a.pdf")
    _upload(client, sheet, JPEG, "b.jpg")
    names = [a.stored_name for a in f.s.query(Attachment).filter_by(sheet_id=sheet_id)]
    paths = [Path(app.config["UPLOAD_DIR"]) / "attachments" / n for n in names]
    assert len(paths) == 2 and all(p.is_file() for p in paths)
    confirm = client.get(f"/fiches/{sheet_id}/supprimer").get_data(as_text=True)
    assert "2 annexes seront supprimés définitivement" in confirm
    assert client.post(f"/fiches/{sheet_id}/supprimer").status_code == 303
    f.s.expire_all()
    assert f.s.get(ActivitySheet, sheet_id) is None
    assert f.s.query(Attachment).filter_by(sheet_id=sheet_id).count() == 0
    assert not any(p.exists() for p in paths)
    # A week sheet stays.
    assert client.post(f"/fiches/{w.sheet.id}/supprimer").status_code == 403


def test_removing_one_annex_removes_its_file(f: Any, login_as: Any, app: Any) -> None:
    from pathlib import Path

    w = f.world()
    client = login_as(w.learner)
    _upload(client, w.sheet, PDF, "a.pdf")
    attachment = f.s.query(Attachment).filter_by(sheet_id=w.sheet.id).one()
    path = Path(app.config["UPLOAD_DIR"]) / "attachments" / attachment.stored_name
    assert path.is_file()
    assert (
        login_as(w.teacher)
        .post(f"/fiches/{w.sheet.id}/annexes/{attachment.id}/supprimer")
        .status_code
        == 403
    )
    assert path.is_file()
    client.post(f"/fiches/{w.sheet.id}/annexes/{attachment.id}/supprimer")
    assert not path.exists()
    assert f.s.query(Attachment).filter_by(sheet_id=w.sheet.id).count() == 0


# --- lists stay cheap -----------------------------------------------------------------------


def test_portfolio_sheet_list_query_count_is_fixed(
    f: Any, login_as: Any, count_queries: Any
) -> None:
    from app.services import attachments

    w = f.world()
    client = login_as(w.tutor)
    url = f"/portfolios/{w.portfolio.id}/fiches"
    client.get(url)
    with count_queries() as small:
        assert client.get(url).status_code == 200
    for n in range(8):
        sheet = ActivitySheet(
            learner_id=w.learner.id, portfolio_id=w.portfolio.id, kind="complementary",
            position=20 + n, title=f"Fiche {n}",
        )  # fmt: skip
        f.s.add(sheet)
        f.s.flush()
        attachments.add_url(sheet, w.learner, "https://example.org")
        f.written(sheet)
    with count_queries() as large:
        page = client.get(url)
    assert page.status_code == 200 and "Fiche 7" in page.get_data(as_text=True)
    assert large.count == small.count, large.statements


def test_period_view_of_35_learners_with_6_sheets_has_a_fixed_query_count(
    f: Any, login_as: Any, count_queries: Any
) -> None:
    w = f.world()
    period = f.period(w.level, [f.learner(w.class_group) for _ in range(2)], weeks=6)
    client = login_as(w.teacher)
    url = f"/periodes/{period.id}"

    def measure() -> Any:
        client.get(url)
        f.s.expunge_all()  # a fresh identity map, as in a real request
        with count_queries() as counter:
            page = client.get(url)
        assert page.status_code == 200
        return counter, page.get_data(as_text=True)

    small, _ = measure()
    period = f.s.merge(period)
    for _ in range(33):
        portfolio = f.portfolio(period, f.learner(f.class_group(w.level)))
        assert len(portfolio.sheets) == 6
        for sheet in portfolio.sheets:
            f.written(sheet)
    large, page = measure()
    assert page.count('<details class="folder') == 35
    assert page.count("(6 fiches)") == 33
    assert large.count == small.count, large.statements


# --- live-update events ---------------------------------------------------------------------


def test_changes_are_announced_on_the_period_topic(f: Any, login_as: Any, monkeypatch: Any) -> None:
    from app.services import events

    published: list[tuple[str, str, dict[str, Any]]] = []
    monkeypatch.setattr(
        events, "publish", lambda topic, kind, **ids: published.append((topic, kind, ids))
    )
    w = f.world()
    topic = f"period:{w.period.id}"
    ids = {"portfolio_id": w.portfolio.id, "sheet_id": w.sheet.id}
    learner, teacher = login_as(w.learner), login_as(w.teacher)

    learner.post(f"/fiches/{w.sheet.id}/enregistrer", data={"description": "Texte"}, headers=HX)
    learner.post(f"/fiches/{w.sheet.id}/enregistrer", data={"description": "Texte"}, headers=HX)
    assert published == [(topic, "sheet_saved", ids)]  # nothing for an unchanged save

    teacher.get(f"/fiches/{w.sheet.id}")
    teacher.get(f"/fiches/{w.sheet.id}/fiche")  # already read: no second event
    assert published[1:] == [(topic, "sheet_read", {**ids, "teacher_id": w.teacher.id})]

    task = w.level.framework.activities[0].tasks[0]
    teacher.post(
        f"/fiches/{w.sheet.id}/referentiel/selection",
        data={"item": f"task:{task.id}", "checked": "1"},
        headers=HX,
    )
    assert published[2:] == [(topic, "sheet_linked", ids)]

    created = learner.post(
        f"/portfolios/{w.portfolio.id}/fiches/nouvelle", data={"title": "En plus"}
    )
    extra_id = int(created.headers["Location"].rsplit("/", 1)[-1])
    learner.post(f"/fiches/{extra_id}/supprimer")
    extra = {"portfolio_id": w.portfolio.id, "sheet_id": extra_id}
    assert published[3:] == [(topic, "sheet_created", extra), (topic, "sheet_deleted", extra)]


def test_tutor_reads_the_links_as_a_list(f: Any, login_as: Any) -> None:
    """The tutor's "Relier au référentiel" page: only the linked tasks, each chosen competency
    with its badge (global) or its chosen criteria, no boxes."""
    from app.services import framework_links

    w = f.world()
    client = login_as(w.tutor)
    empty = client.get(f"/fiches/{w.sheet.id}/referentiel").get_data(as_text=True)
    assert "Cette fiche n'a pas encore été reliée au référentiel." in empty
    fw = int(w.level.framework_id)
    task, comp = next(
        (t, c)
        for a in framework_links.framework_tree(fw)
        for t in a.tasks
        for c in t.competencies
        if len(c.criteria) >= 2 and len(t.competencies) >= 2
    )
    other = next(c for c in task.competencies if c.id != comp.id)
    crit = comp.criteria[1]
    framework_links.toggle(w.sheet, fw, w.teacher, f"crit:{task.id}:{crit.id}", True)
    framework_links.toggle(w.sheet, fw, w.teacher, f"comp:{task.id}:{other.id}", True)
    f.s.flush()
    page = client.get(f"/fiches/{w.sheet.id}/referentiel").get_data(as_text=True)
    listing = page[page.index('<ul class="link-readonly">') :]
    assert f"<li><strong>{task.code}</strong>" in listing
    assert listing.count("<li><strong>") == 3  # the task and its two chosen competencies
    assert (
        f"<li><strong>{other.code}</strong> {other.title} "
        '<span class="badge">compétence globale</span>' in listing
    )
    assert f"<ul><li>{crit.title}</li></ul>" in listing
    assert comp.criteria[0].title not in listing
    assert 'type="checkbox"' not in page
