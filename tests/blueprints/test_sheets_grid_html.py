"""The criteria boxes of the framework-link grid (macros of app/templates/sheets/_criteria.html)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from flask import Flask, get_template_attribute

from app.services.framework_links import SheetSelection


def _macro(app: Flask, name: str) -> Any:
    with app.app_context():
        return get_template_attribute("sheets/_criteria.html", name)


def test_boxes_are_checked_per_task_and_titles_escaped(app: Flask) -> None:
    criteria: list[Any] = [
        SimpleNamespace(id=7, title="Le câblage est <b>conforme</b> & repéré"),
        SimpleNamespace(id=8, title='Les "essais" sont faits'),
    ]
    selection = SheetSelection(criteria={(3, 8): object(), (4, 7): object()})  # type: ignore[dict-item]
    html = str(_macro(app, "criteria_boxes")(3, criteria, selection))
    assert html.count("<li>") == 2
    assert '<input type="checkbox" id="r3-7" name="crit" value="3:7">' in html
    assert '<input type="checkbox" id="r3-8" name="crit" value="3:8" checked>' in html
    assert "Le câblage est &lt;b&gt;conforme&lt;/b&gt; &amp; repéré" in html
    assert "Les &#34;essais&#34; sont faits" in html
    assert "<b>" not in html


def test_folded_criteria_are_fetched_on_opening_or_by_a_link_without_javascript(
    app: Flask,
) -> None:
    competency: Any = SimpleNamespace(id=5, criteria=[object(), object(), object()])
    html = str(_macro(app, "folded_criteria")(9, 3, competency))
    url = "/fiches/9/referentiel/criteres/3/5"
    assert html.startswith(f'<details class="link-criteria" hx-get="{url}"')
    assert 'hx-trigger="toggle once"' in html and " open" not in html
    assert '<span class="counter">(0/3)</span>' in html
    assert f'<li class="nojs-only"><a href="{url}">Afficher les 3 critères</a></li>' in html
    assert 'name="crit"' not in html
