"""The accessibility statement: public, with the sections the RGAA model requires, and linked
from the footer of every page (signed in or not, the error pages and the offline page too)."""

from __future__ import annotations

from typing import Any

from flask import Flask

SECTIONS = [
    "État de conformité",
    "Résultats des tests",
    "Contenus non accessibles",
    "Établissement de cette déclaration d'accessibilité",
    "Technologies utilisées",
    "Environnement de test",
    "Retour d'information et contact",
    "Voies de recours",
]


def test_statement_is_public_with_every_section(app: Flask, f: Any) -> None:
    school = f.school(name="Lycée Test", email="ce.0350000x@ac-rennes.fr")
    page = app.test_client().get("/accessibilite")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for section in SECTIONS:
        assert section in html, section
    assert "Défenseur des droits" in html
    assert "non conforme" in html and "RGAA" in html
    assert f"mailto:{school.email}" in html


def test_footer_links_to_the_statement_everywhere(app: Flask, f: Any, login_as: Any) -> None:
    w = f.world()
    anonymous = app.test_client()
    pages = {
        "sign-in": anonymous.get("/connexion"),
        "offline": anonymous.get("/hors-connexion"),
        "not found": anonymous.get("/nulle-part"),
        "teacher home": login_as(w.teacher).get("/", follow_redirects=True),
        "learner home": login_as(w.learner).get("/", follow_redirects=True),
    }
    for name, response in pages.items():
        html = response.get_data(as_text=True)
        assert '<footer class="site-footer">' in html, name
        assert 'href="/accessibilite"' in html, name
