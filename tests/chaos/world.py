"""The school the fault suite drives: one level (Bac Pro MEE, 179 criteria), `assessments`
learners each with a company assessment, two rating teachers, one tutor per two learners, and
an observer teacher whose live streams watch every assessment (they never write, so no event
of the storm is an echo for them). Users have the password `tests.factories.PASSWORD`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from app import create_app
from app.extensions import db
from app.models import Criterion, Level
from tests import factories
from tests.conftest import _test_config, reset_schema


@dataclass
class Seat:
    """One assessment: who may rate it, and its criteria (item keys "criterion:<id>")."""

    assessment_id: int
    portfolio_id: int
    tutor_email: str
    criteria: list[str]
    competencies: list[int]


@dataclass
class School:
    database_url: str
    teachers: list[str]
    observer: str
    seats: list[Seat]


def seed(tmp: Path, database_url: str, assessments: int = 10) -> School:
    config = _test_config(tmp, SQLALCHEMY_DATABASE_URI=database_url)
    app = create_app(**config)
    reset_schema(app)
    with app.app_context():
        from app.services.frameworks import SHIPPED_DIR, import_framework_files

        import_framework_files([SHIPPED_DIR / "bac-pro-mee.yaml"])  # the only one used here
        original = factories.Factory._person

        def _with_password(self: factories.Factory, cls: type, **kw: Any) -> Any:
            kw.setdefault("password", factories.PASSWORD)
            return original(self, cls, **kw)

        factories.Factory._person = _with_password  # type: ignore[method-assign]
        try:
            f = factories.Factory(db.session)
            f.school()
            level: Level = f.level(f.framework("BACPRO-MEE"), name="Terminale MEE chaos")
            group = f.class_group(level, name="TMEE-chaos")
            teachers = [
                f.teacher([level], email=f"prof{n}@chaos.passerelle.fr").email for n in (1, 2)
            ]
            observer = f.teacher([level], email="observer@chaos.passerelle.fr").email
            tutors = [
                f.tutor("internship", email=f"tuteur{n}@chaos.passerelle.fr")
                for n in range((assessments + 1) // 2)
            ]
            learners = [f.learner(group) for _ in range(assessments)]
            period = f.period(level, [], name="PFMP chaos")
            criteria = [
                f"criterion:{criterion_id}"
                for criterion_id in db.session.scalars(
                    select(Criterion.id)
                    .where(Criterion.framework_id == level.framework_id)
                    .order_by(Criterion.id)
                )
            ]
            from app.models import Competency

            competencies = list(
                db.session.scalars(
                    select(Competency.id)
                    .where(Competency.framework_id == level.framework_id)
                    .order_by(Competency.position)
                )
            )
            seats = []
            for n, learner in enumerate(learners):
                tutor = tutors[n // 2]
                portfolio = f.portfolio(period, learner, tutor=tutor)
                assessment = f.assessment(portfolio)
                seats.append(Seat(assessment.id, portfolio.id, tutor.email, criteria, competencies))
            db.session.commit()
        finally:
            factories.Factory._person = original  # type: ignore[method-assign]
        db.session.remove()
        db.engine.dispose()
    return School(database_url, teachers, observer, seats)
