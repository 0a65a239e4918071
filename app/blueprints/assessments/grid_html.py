"""The réglette (one radio per scale level) of each rated item, built in Python.

The Bac Pro MEE assessment page holds ~100 rated items of six levels each; as a Jinja loop
inside the `rating` macro they were a large share of the page's time. The markup is the one
assessments/_macros.html would write; its tests read it through the page."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

from app.services.assessments import ScaleChoice


def level_radios(
    name: str, scale: Sequence[ScaleChoice], value: str | None, invalid: bool = False
) -> Markup:
    """`<div class=lv>` with one radio per level, the item's current level checked (and each
    radio aria-invalid when the last value sent for the item was refused)."""
    field = escape(name)
    flag = " aria-invalid=true" if invalid else ""
    radios = "".join(
        f"<i><input type=radio name={field} value={level.code_attr}"
        f" aria-labelledby=lv{level.position}{' checked' if value == level.code else ''}{flag}>"
        f"{escape(level.code)}</i>"
        for level in scale
    )
    # The name and codes are escaped; code_attr is already safe markup.
    return Markup(f"<div class=lv>{radios}</div>")  # noqa: S704  # nosec B704
