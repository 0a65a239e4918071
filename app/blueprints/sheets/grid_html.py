"""The criteria checkboxes of the "Relier au référentiel" grid, built in Python.

A large framework (Bac Pro MEE) puts ~1,500 criteria boxes on the page; rendered by a Jinja
loop they took most of the page's time (each box: a method call, several attribute lookups
and escapes). The markup is the one sheets/_task.html would write; its tests read it through
the page."""

from __future__ import annotations

from collections.abc import Iterable

from markupsafe import Markup, escape

from app.models import Criterion
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
