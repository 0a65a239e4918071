"""Keyboard only, tap targets and what a screen reader is told (RGAA 7, 10.7, 11, 12.8, 13.9;
WCAG 2.5.8).

Every move below is a key press (Tab, arrows, Space, typing) from the top of the page: no
click, no `focus()`. After each Tab the focused element (or the box drawn for it, for the
réglette's and the stars' hidden radios) must show a focus ring. What is asserted is what the
user gets: the value saved on the server."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect
from sqlalchemy import select

from app.models import ActivitySheet, AssessmentItem, Competency, SheetCriterion, SheetTask

# The focused element, or the réglette box / star drawn for it, has a visible ring.
FOCUS_SHOWN = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return 'nothing focused';
  const ringed = (e) => {
    const s = getComputedStyle(e);
    return s.opacity !== '0' && s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2;
  };
  const hidden = getComputedStyle(el).opacity === '0';  // réglette and star radios
  const drawn = hidden ? [el.parentElement, el.nextElementSibling] : [el];
  if (drawn.filter(Boolean).some(ringed)) return null;
  const s = getComputedStyle(el);
  return (el.tagName + ' ' + (el.id || el.name || el.className || '')).trim()
    + ` (outline ${s.outlineStyle}, :focus ${el.matches(':focus')}, `
    + `:focus-within ${el.matches(':focus-within')})`;
}"""


def _tab_to(page: Any, selector: str, limit: int = 400) -> None:
    """Press Tab until the focused element matches `selector`; every stop shows its focus."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        missing = page.evaluate(FOCUS_SHOWN)
        assert missing is None, f"focus not visible on {missing}"
        if page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{selector} never reached with Tab")


def _keyboard_login(page: Any, base: str, user: Any, password: str) -> None:
    page.goto(f"{base}/connexion")
    _tab_to(page, "input[name=email]")
    page.keyboard.type(user.email)
    page.keyboard.press("Tab")
    page.keyboard.type(password)
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "/connexion" not in url)


def _fresh_item(w: Any, key: str) -> AssessmentItem | None:
    w.session.rollback()
    return w.session.scalar(
        select(AssessmentItem).where(
            AssessmentItem.assessment_id == w.assessment.id, AssessmentItem.item_key == key
        )
    )


def _first_competency(w: Any) -> Competency:
    comp = w.session.scalar(
        select(Competency)
        .where(Competency.framework_id == w.level.framework_id)
        .order_by(Competency.position)
    )
    assert comp is not None
    _ = comp.criteria
    return comp


def test_assessment_by_keyboard_with_tap_targets_and_announced_reglettes(
    phone_page: Any, e2e_world: Any, live_server: Any
) -> None:
    from tests.factories import PASSWORD

    w, page = e2e_world, phone_page
    comp = _first_competency(w)
    _keyboard_login(page, live_server.url, w.teacher, PASSWORD)
    page.goto(f"{live_server.url}/portfolios/{w.portfolio.id}/bilan")
    expect(page.get_by_role("heading", name="Bilan entreprise")).to_be_visible()

    # Tap targets at 360 px: every level of every réglette, every star, every button.
    small = page.evaluate(
        """() => [...document.querySelectorAll('.lv i, .star-row label, button, .button')]
          .filter(e => e.offsetParent !== null)
          .map(e => [e.getBoundingClientRect(), e.textContent.trim().slice(0, 30)])
          .filter(([r]) => r.width < 24 || r.height < 24)
          .map(([r, t]) => `${t}: ${Math.round(r.width)}×${Math.round(r.height)}`)"""
    )
    counted = page.locator(".lv i").count()
    assert counted >= 6 * 5, counted
    assert not small, f"tap targets under 24×24 px: {small}"

    # A screen reader gets a group named after the item, radios named by level.
    reglette = page.locator(f"#item-k{comp.id}")
    snapshot = reglette.aria_snapshot()
    first_line = snapshot.splitlines()[0]
    assert f'group "Compétence globale : {comp.code} {comp.title}"' in first_line, snapshot
    assert '- radio "NE – Non évalué"' in snapshot and '- radio "3 – Satisfaisant"' in snapshot

    # Keyboard only: Tab to the réglette, Space, arrows; the choice is saved and announced.
    _tab_to(page, f"#item-k{comp.id} input[type=radio]")
    page.keyboard.press("Space")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    expect(page.locator(f"#item-k{comp.id} .by")).to_be_visible()
    expect(page.locator(f"#item-k{comp.id} input:checked")).to_have_value("1")  # NE → 0 → 1
    item = _fresh_item(w, f"competency:{comp.id}")
    assert item is not None and item.value == "1"
    snapshot = page.locator(f"#item-k{comp.id}").aria_snapshot()
    assert '- radio "1 – Insuffisant" [checked]' in snapshot, snapshot

    # Stars: Tab on to them, arrows pick 3 of 4.
    _tab_to(page, "#item-engagement input[type=radio]")
    page.keyboard.press("Space")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    expect(page.locator("#item-engagement .star-text")).to_have_text("3 sur 4")
    stars = _fresh_item(w, "engagement")
    assert stars is not None and stars.value == "3"

    # The comment: type it, Tab to its button, Enter.
    _tab_to(page, "#comment")
    page.keyboard.type("Sérieux et ponctuel.")
    _tab_to(page, "#item-comment button[data-save]", limit=5)
    page.keyboard.press("Enter")
    expect(page.locator("#item-comment .by")).to_be_visible()
    comment = _fresh_item(w, "comment")
    assert comment is not None and comment.value == "Sérieux et ponctuel."


def test_sheet_form_and_task_ticks_by_keyboard(page: Any, e2e_world: Any, live_server: Any) -> None:
    from tests.factories import PASSWORD

    w, base = e2e_world, live_server.url
    sheet_id = w.sheet.id
    _keyboard_login(page, base, w.learner, PASSWORD)
    page.goto(f"{base}/fiches/{sheet_id}/fiche")
    _tab_to(page, "textarea[name=description]")
    page.keyboard.type("J'ai posé des goulottes.")
    expect(page.locator("#save-status")).to_contain_text("Enregistré à", timeout=5000)

    page.goto(f"{base}/fiches/{sheet_id}/referentiel")
    _tab_to(page, "input[name=tick]")
    with page.expect_response(lambda r: "/referentiel/selection" in r.url) as answer:
        page.keyboard.press("Space")
    assert answer.value.ok
    w.session.rollback()
    sheet = w.session.get(ActivitySheet, sheet_id)
    assert sheet is not None and sheet.description == "J'ai posé des goulottes."
    assert [t.ticked_by_learner for t in sheet.tasks] == [True]


def test_framework_grid_by_keyboard(page: Any, e2e_world: Any, live_server: Any) -> None:
    from tests.factories import PASSWORD

    w, base = e2e_world, live_server.url
    sheet_id = w.sheet.id
    _keyboard_login(page, base, w.teacher, PASSWORD)
    page.goto(f"{base}/fiches/{sheet_id}/referentiel")
    # Unfold a competency's criteria with the keyboard (summary + Enter), then tick one.
    _tab_to(page, "details.link-criteria > summary")
    page.keyboard.press("Enter")
    expect(page.locator("details.link-criteria[open] input[name=crit]").first).to_be_visible()
    _tab_to(page, "input[name=crit]", limit=20)
    with page.expect_response(lambda r: "/referentiel/selection" in r.url) as answer:
        page.keyboard.press("Space")
    assert answer.value.ok
    w.session.rollback()
    assert w.session.query(SheetCriterion).filter_by(sheet_id=sheet_id).count() == 1
    assert w.session.query(SheetTask).filter_by(sheet_id=sheet_id).count() == 1
