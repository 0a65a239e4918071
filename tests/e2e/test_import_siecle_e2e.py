"""SIECLE import in a real browser, with CSRF on: the diploma of a new level is chosen in a
select that sits outside the confirm form (the `form` attribute ties them, no JavaScript),
then a later export lists the pupils who left and the admin deactivates them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select

from app.models import ClassGroup, Learner

DATA = Path(__file__).resolve().parent.parent / "data"


def test_siecle_import_choose_a_diploma_then_deactivate_departures(
    page: Any, live_server: Any, e2e_world: Any, login: Any
) -> None:
    w = e2e_world
    login(page, w.admin)
    page.goto(f"{live_server.url}/administration/import/siecle")
    page.get_by_label("Fichier ElevesSansAdresses.xml (SIECLE)").set_input_files(
        str(DATA / "ElevesSansAdresses.xml")
    )
    page.get_by_role("button", name="Voir l'aperçu").click()
    page.get_by_text("Rien n'est encore enregistré").wait_for()
    page.get_by_label(
        "Diplôme préparé par 2de professionnelle Métiers des transitions numérique et énergétique"
    ).select_option(label="Bac Pro MELEC")
    page.get_by_role("button", name="Importer (7 élèves)").click()
    page.get_by_text("Import SIECLE des élèves terminé").wait_for()
    w.session.rollback()
    seconde = w.session.scalar(select(ClassGroup).where(ClassGroup.name == "2TNE-A"))
    assert seconde is not None and seconde.level.framework.code == "BACPRO-MELEC"
    w.session.rollback()

    page.goto(f"{live_server.url}/administration/import/siecle")
    page.get_by_label("Fichier ElevesSansAdresses.xml (SIECLE)").set_input_files(
        str(DATA / "ElevesSansAdresses-utf8.xml")
    )
    page.get_by_role("button", name="Voir l'aperçu").click()
    page.get_by_role("button", name="Importer (2 élèves)").click()
    departures = page.locator("#import-departures")
    departures.get_by_text("MÜLLER Jérôme (1MELEC-A)").wait_for()
    page.get_by_role("button", name="Désactiver les comptes cochés").click()
    page.get_by_text("Cochez la case pour confirmer la désactivation.").wait_for()
    page.get_by_label("Je confirme la désactivation des comptes cochés").check()
    page.get_by_role("button", name="Désactiver les comptes cochés").click()
    page.get_by_text("désactivés.").wait_for()
    w.session.rollback()
    muller = w.session.scalar(select(Learner).where(Learner.last_name == "MÜLLER"))
    assert muller is not None and not muller.is_active_account
    w.session.rollback()
