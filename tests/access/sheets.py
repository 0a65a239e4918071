"""Sheets area: the four pages of a sheet, autosave, the framework grid, annexes,
complementary and free sheets. The learner writes, the level's teacher reads and links, the
tutor of that portfolio reads; everyone else gets 404 (403 where existence may be known)."""

from __future__ import annotations

import io
from typing import Any

from tests.access import LOGIN, Case, only

READERS = only({"teacher": 200, "learner": 200, "tutor": 200})


def _first_task_id(w: Any) -> int:
    return int(w.period.level.framework.activities[0].tasks[0].id)


def _first_criteria_url(w: Any) -> str:
    task = w.period.level.framework.activities[0].tasks[0]
    return f"/fiches/{w.sheet.id}/referentiel/criteres/{task.id}/{task.competencies[0].id}"


def _with_attachment(w: Any, f: Any) -> None:
    from app.services import attachments

    w.attachment = attachments.add_file(
        w.sheet, w.learner, io.BytesIO(b"%PDF-1.4\n%test\n"), "compte-rendu.pdf"
    )


def _with_free_sheet(w: Any, f: Any) -> None:
    w.free = f.free_sheet(w.learner, title="Stage d'observation")


def _with_complementary(w: Any, f: Any) -> None:
    from app.models import ActivitySheet, SheetKind

    w.extra = ActivitySheet(
        learner_id=w.learner.id,
        portfolio_id=w.portfolio.id,
        kind=SheetKind.COMPLEMENTARY,
        position=10,
        title="Fiche complémentaire",
    )
    f.s.add(w.extra)
    f.s.flush()


def _sheet(path: str = "") -> Any:
    return lambda w: f"/fiches/{w.sheet.id}{path}"


CASES = [
    Case("sheets.context", "GET", _sheet(), READERS),
    Case("sheets.narrative", "GET", _sheet("/fiche"), READERS),
    Case("sheets.links", "GET", _sheet("/referentiel"), READERS),
    Case("sheets.attachments_page", "GET", _sheet("/annexes"), READERS),
    Case(
        "sheets.context",
        "GET",
        lambda w: f"/fiches/{w.other_sheet.id}",
        only({}),
        note="another level's sheet",
    ),
    Case(
        "sheets.save",
        "POST",
        _sheet("/enregistrer"),
        only({"learner": 303, "teacher": 403, "tutor": 403}),
        data=lambda w: {"company": "Électricité Martin", "page": "contexte"},
    ),
    Case(
        "sheets.save",
        "POST",
        lambda w: f"/fiches/{w.other_sheet.id}/enregistrer",
        only({}),
        data=lambda w: {"company": "Intrus", "page": "contexte"},
        note="another learner's sheet",
    ),
    Case(
        "sheets.links_submit",
        "POST",
        _sheet("/referentiel"),
        only({"learner": 303, "teacher": 303, "tutor": 403}),
        data=lambda w: {},
    ),
    Case(
        "sheets.links_toggle",
        "POST",
        _sheet("/referentiel/selection"),
        only({"learner": 403, "teacher": 303, "tutor": 403}),
        data=lambda w: {"item": f"task:{_first_task_id(w)}", "task": str(_first_task_id(w))},
        note="teacher links a task",
    ),
    Case(
        "sheets.link_criteria",
        "GET",
        _first_criteria_url,
        only({"learner": 403, "teacher": 303, "tutor": 403}),
        note="without htmx: the grid, that competency unfolded",
    ),
    Case(
        "sheets.upload",
        "POST",
        _sheet("/annexes"),
        only({"learner": 422, "teacher": 403, "tutor": 403}),
        data=lambda w: {},
    ),
    Case(
        "sheets.add_link",
        "POST",
        _sheet("/annexes/lien"),
        only({"learner": 303, "teacher": 403, "tutor": 403}),
        data=lambda w: {"url": "https://www.example.org/schema", "label": "Schéma"},
    ),
    Case(
        "sheets.download",
        "GET",
        lambda w: f"/fiches/{w.sheet.id}/annexes/{w.attachment.id}",
        READERS,
        setup=_with_attachment,
    ),
    Case(
        "sheets.download",
        "GET",
        lambda w: f"/fiches/{w.other_sheet.id}/annexes/{w.attachment.id}",
        only({}),
        setup=_with_attachment,
        note="attachment through another sheet's URL",
    ),
    Case(
        "sheets.delete_attachment",
        "POST",
        lambda w: f"/fiches/{w.sheet.id}/annexes/{w.attachment.id}/supprimer",
        only({"learner": 303, "teacher": 403, "tutor": 403}),
        setup=_with_attachment,
        data=lambda w: {},
    ),
    Case(
        "sheets.new_complementary",
        "GET",
        lambda w: f"/portfolios/{w.portfolio.id}/fiches/nouvelle",
        only({"learner": 200, "teacher": 200, "tutor": 403}),
    ),
    Case(
        "sheets.new_complementary",
        "POST",
        lambda w: f"/portfolios/{w.portfolio.id}/fiches/nouvelle",
        only({"learner": 303, "teacher": 303, "tutor": 403}),
        data=lambda w: {"title": "Dépannage d'un portail"},
    ),
    Case(
        "sheets.new_complementary",
        "POST",
        lambda w: f"/portfolios/{w.other_portfolio.id}/fiches/nouvelle",
        only({}),
        data=lambda w: {"title": "Intrus"},
        note="another level's portfolio",
    ),
    Case(
        "sheets.new_free",
        "GET",
        lambda w: "/fiches-libres/nouvelle",
        {**only({"learner": 200}, 403), "anonymous": LOGIN},
    ),
    Case(
        "sheets.new_free",
        "POST",
        lambda w: "/fiches-libres/nouvelle",
        only({"learner": 303}, 403),
        data=lambda w: {"title": "Visite d'un chantier"},
    ),
    Case(
        "sheets.attach",
        "POST",
        lambda w: f"/fiches/{w.free.id}/rattacher",
        only({"learner": 303, "teacher": 403}),
        setup=_with_free_sheet,
        data=lambda w: {"portfolio_id": str(w.portfolio.id)},
    ),
    Case(
        "sheets.delete",
        "GET",
        lambda w: f"/fiches/{w.extra.id}/supprimer",
        only({"learner": 200, "teacher": 403, "tutor": 403}),
        setup=_with_complementary,
    ),
    Case(
        "sheets.delete",
        "POST",
        lambda w: f"/fiches/{w.extra.id}/supprimer",
        only({"learner": 303, "teacher": 403, "tutor": 403}),
        setup=_with_complementary,
        data=lambda w: {},
    ),
    Case(
        "sheets.delete",
        "POST",
        _sheet("/supprimer"),
        only({"learner": 403, "teacher": 403, "tutor": 403}),
        data=lambda w: {},
        note="week sheets cannot be deleted",
    ),
    Case(
        "sheets.portfolio_sheets",
        "GET",
        lambda w: f"/portfolios/{w.portfolio.id}/fiches",
        READERS,
    ),
    Case(
        "sheets.portfolio_sheets",
        "GET",
        lambda w: f"/portfolios/{w.classmate_portfolio.id}/fiches",
        only({"teacher": 200, "master": 200}),
        note="the master's mentee",
    ),
]
