"""The company assessment in a real browser: marks from the sheets, criteria/global toggle,
ratings saved at once with a thumb on a 360-px phone and with the keyboard, stars, date,
comment, completion, the dashboard; the tutor rates from their own account."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect
from sqlalchemy import select

from app.models import (
    AssessmentItem,
    Competency,
    SheetCompetency,
    SheetCriterion,
    SheetTask,
)


def _competencies(w: Any) -> list[Competency]:
    rows = list(
        w.session.scalars(
            select(Competency)
            .where(Competency.framework_id == w.level.framework_id)
            .order_by(Competency.position)
        )
    )
    for row in rows:
        _ = row.criteria, row.tasks
    return rows


def _item(w: Any, key: str) -> AssessmentItem | None:
    w.session.rollback()  # a fresh snapshot: the server committed in its own transaction
    return w.session.scalar(
        select(AssessmentItem).where(
            AssessmentItem.assessment_id == w.assessment.id, AssessmentItem.item_key == key
        )
    )


def _select_on_sheets(w: Any, c1: Competency, c2: Competency) -> None:
    sheet = w.portfolio.sheets[1]
    task = c1.tasks[0]
    w.session.add(SheetTask(sheet_id=sheet.id, task_id=task.id, ticked_by_learner=True))
    w.session.add(
        SheetCompetency(sheet_id=sheet.id, task_id=task.id, competency_id=c1.id, mode="criteria")
    )
    w.session.add(
        SheetCriterion(sheet_id=sheet.id, task_id=task.id, criterion_id=c1.criteria[0].id)
    )
    w.session.add(
        SheetCompetency(sheet_id=sheet.id, task_id=task.id, competency_id=c2.id, mode="global")
    )
    w.session.commit()


def test_teacher_assesses_on_a_phone_then_completes(
    phone_page: Any, e2e_world: Any, login: Any, live_server: Any
) -> None:
    w = e2e_world
    page = phone_page
    comps = _competencies(w)
    c1, c2, c3 = comps[:3]
    _select_on_sheets(w, c1, c2)
    login(page, w.teacher)
    page.goto(f"{live_server.url}/portfolios/{w.portfolio.id}/bilan")
    expect(page.get_by_role("heading", name="Bilan entreprise")).to_be_visible()
    expect(page.locator(".sheet-refs")).to_contain_text(f"[1] {w.portfolio.sheets[1].title}")
    comp1 = page.locator(f"#comp-{c1.id}")
    expect(comp1.get_by_role("button", name="Par critères")).to_have_attribute(
        "aria-pressed", "true"
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= 360

    # A thumb on the réglette of the first criterion: saved at once.
    criterion = c1.criteria[0]
    fieldset = page.locator(f"#item-c{criterion.id}")
    levels = fieldset.locator(".lv i")
    for index in range(6):
        box = levels.nth(index).bounding_box()
        assert box is not None and box["height"] >= 44 and box["width"] >= 44
        assert box["x"] + box["width"] <= 360
    fieldset.get_by_role("radio", name="3 – Satisfaisant").tap()
    expect(page.locator(f"#item-c{criterion.id} .by")).to_contain_text("Saisi par l’enseignant")
    item = _item(w, f"criterion:{criterion.id}")
    assert item is not None and (item.value, item.author_role) == ("3", "teacher")

    # Switch C2 (global on the sheets) to criteria, and back.
    comp2 = page.locator(f"#comp-{c2.id}")
    comp2.get_by_role("button", name="Par critères").tap()
    expect(
        page.locator(f"#comp-{c2.id}").get_by_role("button", name="Par critères")
    ).to_have_attribute("aria-pressed", "true")
    expect(page.locator(f"#item-c{c2.criteria[0].id}")).to_be_visible()
    page.locator(f"#comp-{c2.id}").get_by_role("button", name="Globale").tap()
    expect(page.locator(f"#item-k{c2.id}")).to_be_visible()

    # The keyboard: focus a level of C3's global rating, move with the arrows.
    global3 = page.locator(f"#item-k{c3.id}")
    global3.get_by_role("radio", name="NE – Non évalué").focus()
    page.keyboard.press("Space")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    expect(page.locator(f"#item-k{c3.id} input:checked")).to_have_value("1")
    expect(page.locator(f"#item-k{c3.id} .by")).to_be_visible()
    # Focus stays on the chosen level after the item was swapped.
    expect(page.locator(f"#item-k{c3.id} input:focus")).to_have_value("1")
    item = _item(w, f"competency:{c3.id}")
    assert item is not None and item.value == "1"

    # Stars, meeting date, comment.
    page.locator("#item-engagement").get_by_role("radio", name="3 étoiles sur 4").tap()
    expect(page.locator("#item-engagement .star-text")).to_have_text("3 sur 4")
    page.locator("#meeting-date").fill("2026-06-25")
    page.locator("#meeting-date").dispatch_event("change")
    expect(page.locator("#item-meeting_date .by")).to_be_visible()
    page.locator("#comment").fill("Très bonne implication, à poursuivre.")
    page.get_by_role("button", name="Enregistrer le commentaire").tap()
    expect(page.locator("#item-comment .by")).to_be_visible()
    assert (_item(w, "engagement") or AssessmentItem()).value == "3"
    assert (_item(w, "meeting_date") or AssessmentItem()).value == "2026-06-25"
    assert (
        _item(w, "comment") or AssessmentItem()
    ).value == "Très bonne implication, à poursuivre."

    # Complete (with confirmation), then the dashboard shows it.
    page.get_by_text("Marquer le bilan comme complété").tap()
    page.get_by_role("button", name="Confirmer : le bilan est complété").tap()
    expect(page.locator("#assessment-status")).to_contain_text("Complété")
    expect(page.locator(".lv")).to_have_count(0)
    page.goto(f"{live_server.url}/apprenants/{w.learner.id}/tableau-de-bord")
    expect(page.get_by_role("heading", name="Tableau de bord")).to_be_visible()
    expect(page.locator(".dash-table")).to_contain_text("1 – Insuffisant")
    expect(page.locator(".dash-table")).to_contain_text(w.period.name)


def test_tutor_rates_the_same_assessment_from_their_account(
    page: Any, e2e_world: Any, login: Any, live_server: Any
) -> None:
    w = e2e_world
    c1 = _competencies(w)[0]
    login(page, w.tutor)
    page.goto(f"{live_server.url}/mes-apprenants")
    page.get_by_role("link", name="Bilan entreprise").first.click()
    expect(page.get_by_role("heading", name="Bilan entreprise")).to_be_visible()
    expect(page.get_by_text("Marquer le bilan comme complété")).to_have_count(0)
    page.locator(f"#item-k{c1.id}").get_by_role("radio", name="4 – Très bien maîtrisé").click()
    expect(page.locator(f"#item-k{c1.id} .by")).to_contain_text("Saisi par le tuteur")
    item = _item(w, f"competency:{c1.id}")
    assert item is not None and (item.value, item.author_role) == ("4", "tutor")
    # The history opens in place.
    page.locator(f"#item-k{c1.id} .by a").click()
    expect(page.locator(f"#item-k{c1.id} .hist-list")).to_contain_text(w.tutor.full_name)
    # Clearing from the history panel.
    page.locator(f"#item-k{c1.id}").get_by_role("button", name="Effacer la note").click()
    expect(page.locator(f"#item-k{c1.id} input:checked")).to_have_count(0)
    expect(page.locator(f"#item-k{c1.id} .hist-list")).to_have_count(0)  # swapped: saved
    item = _item(w, f"competency:{c1.id}")
    assert item is not None and item.value is None
