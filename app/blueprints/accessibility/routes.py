"""The accessibility statement ("Déclaration d'accessibilité", RGAA 4.1), public and linked
from every page's footer. Its figures are those measured by the browser tests
(tests/e2e/test_accessibility_e2e.py and tests/e2e/test_keyboard_e2e.py): update SWEEP when
a run of the sweep changes them."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, render_template
from sqlalchemy import select

from app.extensions import db
from app.models import School

bp = Blueprint("accessibility", __name__)

# What the last run of the sweep measured (README, "Accessibility").
SWEEP = {
    "date": date(2026, 12, 3),
    "axe": "axe-core 4.10.3",
    "browser": "Chromium 156 (Debian), piloté par Playwright",
    "pages": 118,
    "accounts": 5,
    "violations": 0,
}


@bp.get("/accessibilite")
def statement() -> str:
    school = db.session.scalar(select(School).order_by(School.id).limit(1))
    return render_template("accessibility/statement.html", school=school, sweep=SWEEP)
