"""The criteria of the "Relier au référentiel" grid, built in Python.

A large framework (Bac Pro MEE) has ~1,200 criteria boxes under ~300 task × competency pairs;
rendered by Jinja loops they took most of the page's time (each: method calls, attribute
lookups, escapes). The markup is what sheets/_task.html would write; tests read it through
the page."""

from __future__ import annotations

from collections.abc import Iterable

from markupsafe import Markup, escape

from app.models import Competency, Criterion
from app.services.framework_links import SheetSelection


def criteria_boxes(
    task_id: int, criteria: Iterable[Criterion], selection: SheetSelection
) -> Markup:
    """One `<li>` per criterion of a competency under a task, checked when selected."""
    chosen = selection.criteria
    # Ids are integers and every title goes through escape().
    return Markup(  # noqa: S704  # nosec B704
        "".join(
            f'<li><label><input type="checkbox" id="r{task_id}-{criterion.id}" name="crit"'
            f' value="{task_id}:{criterion.id}"'
            f"{' checked' if (task_id, criterion.id) in chosen else ''}>"
            f" {escape(criterion.title)}</label></li>\n"
            for criterion in criteria
        )
    )


def folded_criteria(sheet_id: int, task_id: int, competency: Competency) -> Markup:
    """The folded criteria of a competency none of which is chosen: their boxes are fetched
    when it is first opened (sheets.link_criteria), or, without JavaScript, by the link."""
    url = f"/fiches/{sheet_id}/referentiel/criteres/{task_id}/{competency.id}"
    count = len(competency.criteria)
    # Only integers go into this markup.
    return Markup(  # noqa: S704  # nosec B704
        f'<details class="link-criteria" hx-get="{url}" hx-trigger="toggle once"'
        ' hx-target="find ul" hx-swap="innerHTML">\n'
        f'<summary>Critères détaillés <span class="counter">(0/{count})</span></summary>\n'
        f'<ul><li class="nojs-only"><a href="{url}">Afficher les {count} critères</a></li></ul>\n'
        "</details>"
    )
