"""The réglette of a rated item (app/blueprints/assessments/grid_html.py)."""

from __future__ import annotations

from app.blueprints.assessments.grid_html import level_radios
from app.services.assessments import ScaleChoice

SCALE = [
    ScaleChoice(0, "NE", "Non évalué", "#cccccc"),
    ScaleChoice(1, "1", "Insuffisant", "#ff0000"),
    ScaleChoice(2, "A+", "Acquis <plus>", "#00ff00"),
]


def test_one_radio_per_level_the_current_one_checked() -> None:
    html = str(level_radios("c12", SCALE, "1"))
    assert html.startswith("<div class=lv>") and html.endswith("</div>")
    assert html.count("type=radio") == 3
    assert "<i><input type=radio name=c12 value=NE aria-labelledby=lv0>NE</i>" in html
    assert "<i><input type=radio name=c12 value=1 aria-labelledby=lv1 checked>1</i>" in html
    assert html.count("checked") == 1


def test_codes_that_are_not_plain_are_quoted_and_escaped() -> None:
    html = str(level_radios("c<1>", SCALE, None))
    assert 'value="A+" aria-labelledby=lv2>A+</i>' in html
    assert "name=c&lt;1&gt;" in html and "checked" not in html
