"""Activity sheets in a real browser: the learner writes a sheet on a 360-px phone across the
four pages (autosave, a photo and a PDF attached), the text survives a lost network, the
teacher sees it green then black and links criteria on the grid, the tutor only reads."""

from __future__ import annotations

import json
from typing import Any

from playwright.sync_api import expect

from app.models import ActivitySheet, Attachment, SheetCriterion, SheetTask
from app.models.base import utcnow

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer\n%%EOF\n"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 300


def _fresh(w: Any, sheet_id: int) -> ActivitySheet:
    w.session.rollback()  # end the read snapshot: see what the server committed since
    sheet = w.session.get(ActivitySheet, sheet_id)
    assert sheet is not None
    return sheet


def test_learner_writes_a_sheet_on_a_phone(
    phone_page: Any, e2e_world: Any, login: Any, live_server: Any
) -> None:
    w, page, base = e2e_world, phone_page, live_server.url
    sheet_id = w.sheet.id
    login(page, w.learner)
    page.goto(f"{base}/fiches/{sheet_id}")
    page.get_by_label("Entreprise").fill("Électricité Martin")
    expect(page.locator("#save-status")).to_contain_text("Enregistré à")
    page.get_by_label("Accompagné(e)").check()
    page.get_by_label("Type d'activité du référentiel").select_option(index=2)
    expect(page.locator("#save-status")).to_contain_text("Enregistré à")

    page.get_by_role("link", name="Fiche", exact=True).click()
    page.get_by_label("Description de l'activité").fill("J'ai câblé un tableau électrique.")
    page.get_by_label("Analyse réflexive").fill("Je dois vérifier les serrages.")
    expect(page.locator("#save-status")).to_contain_text("Enregistré à", timeout=5000)
    expect(page.locator("#sheet-updated")).to_contain_text("Dernière modification le")

    page.get_by_role("link", name="Relier au référentiel").click()
    first_tick = page.locator("input[name=tick]").first
    with page.expect_response(lambda r: "/referentiel/selection" in r.url) as answer:
        first_tick.check()
    assert answer.value.ok

    page.get_by_role("link", name="Annexes").click()
    page.set_input_files(
        "input[type=file]", files=[{"name": "photo.jpg", "mimeType": "image/jpeg", "buffer": JPEG}]
    )
    page.get_by_role("button", name="Joindre le fichier").click()
    expect(page.get_by_text("« photo.jpg » a été joint à la fiche.")).to_be_visible()
    page.set_input_files(
        "input[type=file]",
        files=[{"name": "bon.pdf", "mimeType": "application/pdf", "buffer": PDF}],
    )
    page.get_by_role("button", name="Joindre le fichier").click()
    expect(page.locator("#annex-counter")).to_have_text("(2)")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360

    # Found again after a reload, from the learner's home.
    page.goto(f"{base}/mes-portfolios")
    page.get_by_role("link", name=w.sheet.title).first.click()
    expect(page.get_by_label("Entreprise")).to_have_value("Électricité Martin")
    page.get_by_role("link", name="Fiche", exact=True).click()
    expect(page.get_by_label("Description de l'activité")).to_have_value(
        "J'ai câblé un tableau électrique."
    )
    sheet = _fresh(w, sheet_id)
    assert sheet.conditions == "accompanied" and sheet.activity_id is not None
    assert sheet.analysis == "Je dois vérifier les serrages."
    assert sorted(a.original_name for a in sheet.attachments) == ["bon.pdf", "photo.jpg"]
    assert [t.ticked_by_learner for t in sheet.tasks] == [True]


def test_text_typed_without_network_is_kept_and_sent_later(
    phone_page: Any, e2e_world: Any, login: Any, live_server: Any
) -> None:
    w, page, base = e2e_world, phone_page, live_server.url
    sheet_id = w.sheet.id
    login(page, w.learner)
    page.goto(f"{base}/fiches/{sheet_id}/fiche")
    key = f"passerelle:draft:sheet:{sheet_id}"

    # The network goes: the save fails, the text stays on the phone.
    page.context.set_offline(True)
    page.get_by_label("Description de l'activité").fill("Écrit dans le sous-sol, sans réseau.")
    expect(page.locator("#save-status")).to_contain_text("Pas de connexion", timeout=5000)
    draft = json.loads(page.evaluate(f"localStorage.getItem('{key}')"))
    assert draft["fields"]["description"] == "Écrit dans le sous-sol, sans réseau."
    assert _fresh(w, sheet_id).description == ""

    # It comes back: the draft is sent without the learner doing anything.
    page.context.set_offline(False)
    expect(page.locator("#save-status")).to_contain_text("Enregistré à", timeout=5000)
    assert _fresh(w, sheet_id).description == "Écrit dans le sous-sol, sans réseau."
    assert page.evaluate(f"localStorage.getItem('{key}')") is None


def test_text_typed_just_before_leaving_is_sent(
    phone_page: Any, e2e_world: Any, login: Any, live_server: Any
) -> None:
    """The phone locks or the learner taps another tab before the autosave delay: the page
    sends what it has as it goes (sendBeacon)."""
    w, page, base = e2e_world, phone_page, live_server.url
    sheet_id = w.sheet.id
    login(page, w.learner)
    page.goto(f"{base}/fiches/{sheet_id}/fiche")
    page.get_by_label("Description de l'activité").fill("Tapé juste avant de partir.")
    page.get_by_role("link", name="Contexte").click()  # at once, before the 800 ms delay
    page.wait_for_url(f"{base}/fiches/{sheet_id}")
    page.wait_for_timeout(500)
    assert _fresh(w, sheet_id).description == "Tapé juste avant de partir."


def test_unsent_draft_is_restored_when_the_page_reopens(
    phone_page: Any, e2e_world: Any, login: Any, live_server: Any
) -> None:
    w, page, base = e2e_world, phone_page, live_server.url
    sheet_id = w.sheet.id
    login(page, w.learner)
    page.goto(f"{base}/fiches/{sheet_id}/fiche")
    # Saves fail (server unreachable) while the learner types, then the phone reloads the page.
    page.route("**/enregistrer", lambda route: route.abort())
    page.get_by_label("Analyse réflexive").fill("Ce que j'ai appris aujourd'hui.")
    expect(page.locator("#save-status")).to_contain_text("Pas de connexion", timeout=5000)
    page.unroute("**/enregistrer")
    page.reload()
    # Either the page sent it as it went (sendBeacon) or the reopened page restores and sends
    # it: both ways the text is on screen and reaches the server.
    expect(page.get_by_label("Analyse réflexive")).to_have_value("Ce que j'ai appris aujourd'hui.")
    for _ in range(50):
        if _fresh(w, sheet_id).analysis:
            break
        page.wait_for_timeout(100)
    assert _fresh(w, sheet_id).analysis == "Ce que j'ai appris aujourd'hui."
    key = f"passerelle:draft:sheet:{sheet_id}"
    # A function, not an expression: Playwright evaluates an expression again at each poll,
    # which the page's CSP (no 'unsafe-eval') may refuse.
    page.wait_for_function("key => localStorage.getItem(key) === null", arg=key)


def test_teacher_reads_green_then_black_and_selects_criteria(
    page: Any, e2e_world: Any, login: Any, live_server: Any
) -> None:
    w, base = e2e_world, live_server.url
    sheet_id = w.sheet.id
    sheet = w.session.get(ActivitySheet, sheet_id)
    sheet.description = "J'ai remplacé un disjoncteur."
    sheet.learner_updated_at = utcnow()
    w.session.commit()

    login(page, w.teacher)
    page.goto(f"{base}/periodes/{w.period.id}")
    folder = page.locator(f"#folder-{w.portfolio.id}")
    folder.locator("summary").click()
    title = folder.locator(f'a.sheet-title[href="/fiches/{sheet_id}"]')
    expect(title).to_have_class("sheet-title unread")
    folder.get_by_role("link", name="Voir cette fiche").first.click()
    page.get_by_role("link", name="Fiche", exact=True).click()
    expect(page.get_by_text("J'ai remplacé un disjoncteur.")).to_be_visible()

    page.goto(f"{base}/periodes/{w.period.id}")
    folder = page.locator(f"#folder-{w.portfolio.id}")
    folder.locator("summary").click()
    expect(folder.locator(f'a.sheet-title[href="/fiches/{sheet_id}"]')).to_have_class("sheet-title")

    page.goto(f"{base}/fiches/{sheet_id}/referentiel")
    details = page.locator("details.link-criteria").first
    details.locator("summary").click()
    criterion = details.locator("input[name=crit]").first
    with page.expect_response(lambda r: "/referentiel/selection" in r.url) as answer:
        criterion.check()
    assert answer.value.ok
    # The block came back with the criterion ticked, its task confirmed and unfolded.
    block = page.locator(".link-task.is-linked").first
    expect(block.locator("input[name=crit]:checked")).to_have_count(1)
    expect(block.locator(".badge.ok")).to_have_text("Confirmée")
    w.session.rollback()
    assert w.session.query(SheetCriterion).filter_by(sheet_id=sheet_id).count() == 1
    assert (
        w.session.query(SheetTask).filter_by(sheet_id=sheet_id).one().confirmed_by_id
        == w.teacher.id
    )


def test_tutor_reads_but_has_nothing_to_change(
    page: Any, e2e_world: Any, login: Any, live_server: Any
) -> None:
    w, base = e2e_world, live_server.url
    sheet = w.session.get(ActivitySheet, w.sheet.id)
    sheet.company = "Électricité Martin"
    w.session.add(
        Attachment(
            sheet_id=sheet.id, kind="url", url="https://example.org/", original_name="Notice"
        )
    )
    w.session.commit()
    login(page, w.tutor)
    page.goto(f"{base}/portfolios/{w.portfolio.id}/fiches")
    page.get_by_role("link", name="Voir cette fiche").first.click()
    expect(page.get_by_text("Électricité Martin")).to_be_visible()
    expect(page.locator("form#sheet-form")).to_have_count(0)
    page.get_by_role("link", name="Annexes").click()
    link = page.get_by_role("link", name="Notice")
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    expect(page.get_by_role("button", name="Joindre le fichier")).to_have_count(0)
