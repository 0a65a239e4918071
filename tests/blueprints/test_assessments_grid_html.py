"""The réglette of a rated item (macro level_radios of app/templates/assessments/_macros.html)."""

from __future__ import annotations

from typing import Any

from flask import Flask, get_template_attribute

from app.services.assessments import ScaleChoice

SCALE = [
    ScaleChoice(0, "NE", "Non évalué", "#cccccc"),
    ScaleChoice(1, "1", "Insuffisant", "#ff0000"),
    ScaleChoice(2, "A+", "Acquis <plus>", "#00ff00"),
]


def level_radios(app: Flask, *args: Any) -> str:
    with app.app_context():
        macro = get_template_attribute("assessments/_macros.html", "level_radios")
        return str(macro(*args))


def test_one_radio_per_level_the_current_one_checked(app: Flask) -> None:
    html = level_radios(app, "c12", SCALE, "1")
    assert html.startswith("<div class=lv>") and html.endswith("</div>")
    assert html.count("type=radio") == 3
    assert "<i><input type=radio name=c12 value=NE aria-labelledby=lv0>NE</i>" in html
    assert "<i><input type=radio name=c12 value=1 aria-labelledby=lv1 checked>1</i>" in html
    assert html.count("checked") == 1


def test_codes_that_are_not_plain_are_quoted_and_escaped(app: Flask) -> None:
    html = level_radios(app, "c<1>", SCALE, None)
    assert 'value="A+" aria-labelledby=lv2>A+</i>' in html
    assert "name=c&lt;1&gt;" in html and "checked" not in html
