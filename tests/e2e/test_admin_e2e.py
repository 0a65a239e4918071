"""Admin area in a real browser, with CSRF on: import learners from a CSV (preview, then
import), then erase a learner after confirming."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select

from app.models import Learner


def test_import_then_erase_a_learner(
    page: Any, live_server: Any, e2e_world: Any, login: Any, tmp_path: Path
) -> None:
    w = e2e_world
    csv = tmp_path / "eleves.csv"
    csv.write_bytes(
        (
            "Nom;Prénom;Date de naissance;Classe;Statut;E-mail\n"
            "ZIMPORT;Inès;14/05/2007;ZE2E;scolaire;zimport@exemple.fr\n"
            "ZBAD;Léo;31/02/2007;ZE2E;;\n"
        ).encode("cp1252")
    )
    login(page, w.admin)
    page.goto(f"{live_server.url}/administration/import/apprenants")
    page.get_by_label("Fichier CSV des apprenants").set_input_files(str(csv))
    page.get_by_label("Niveau des nouvelles classes").select_option(label=w.level.name)
    page.get_by_role("button", name="Voir l'aperçu").click()
    page.get_by_text("Rien n'est encore enregistré").wait_for()
    assert page.locator("tr.row-rejected").count() == 1
    page.get_by_role("button", name="Importer (1 ligne)").click()
    page.get_by_text("Import des apprenants terminé").wait_for()
    w.session.rollback()  # end the read snapshot taken before the import
    learner = w.session.scalar(select(Learner).where(Learner.last_name == "ZIMPORT"))
    assert learner is not None and learner.class_group.name == "ZE2E"
    learner_id = learner.id
    w.session.rollback()

    page.goto(f"{live_server.url}/administration/comptes/{learner_id}")
    page.get_by_role("link", name="Effacer ses données…").click()
    page.get_by_text("Suppression définitive").wait_for()
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_label("Je confirme l'effacement").check()
    page.get_by_role("button", name="Supprimer l'apprenant").click()
    page.get_by_text("ont été supprimés").wait_for()
    w.session.rollback()
    assert w.session.get(Learner, learner_id) is None
