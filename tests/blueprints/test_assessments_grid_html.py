"""The réglette of a rated item (macro level_radios of app/templates/assessments/_macros.html)."""

from __future__ import annotations

from typing import Any

from flask import Flask, get_template_attribute

from app.services.assessments import CompetencyRow, CriterionRow, ItemView, ScaleChoice

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


# The rating and competency blocks write with autoescape off (the HTML of the macros they call
# is not escaped twice): every text they show must still come out escaped.
EVIL = '<script>"x"</script>'


def macro(app: Flask, name: str, *args: Any) -> str:
    with app.app_context():
        return str(get_template_attribute("assessments/_macros.html", name)(*args))


def evil_item(key: str) -> ItemView:
    item = ItemView(key=key, kind=key.partition(":")[0], value=EVIL, version=2)
    item.author_role = "tutor"
    return item


def test_a_rating_escapes_every_text_it_shows(app: Flask) -> None:
    item = evil_item("criterion:12")
    for can_rate in (True, False):
        html = macro(
            app, "rating", item, EVIL, EVIL, [1], SCALE, 7, can_rate, True, EVIL, False, EVIL
        )
        assert "<script>" not in html and "&lt;script&gt;&#34;x&#34;" in html
        assert html.count("&lt;script&gt;") == 4  # code, title, of, and the error or the value
        assert "id=item-c12" in html or 'id="item-c12"' in html
        assert '<span class="refs"' in html  # the marks macro's HTML, not escaped twice


def test_a_competency_block_escapes_every_text_it_shows(app: Flask) -> None:
    criterion = CriterionRow(id=12, code=EVIL, title=EVIL, refs=[2], item=evil_item("criterion:12"))
    for mode in ("global", "criteria"):
        comp = CompetencyRow(
            id=3,
            code=EVIL,
            title=EVIL,
            mode=mode,
            mode_source="assessment",
            refs=[1],
            item=evil_item("competency:3"),
            criteria=[criterion],
        )
        for can_rate in (True, False):
            html = macro(app, "competency", comp, SCALE, 7, can_rate, True)
            assert "<script>" not in html and "&lt;script&gt;&#34;x&#34;" in html
            assert '<section class="comp sel" id="comp-3"' in html
            assert "<fieldset" in html if can_rate else '<div class="rg ro"' in html
