"""Small factories for tests: sensible defaults, every argument overridable."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import timefmt
from app.models import (
    ActivitySheet,
    Admin,
    Assessment,
    ClassGroup,
    Framework,
    Learner,
    Level,
    LiaisonSheet,
    Period,
    Portfolio,
    School,
    SheetKind,
    Teacher,
    Tutor,
)
from app.models.base import utcnow

_seq = itertools.count(1)
PASSWORD = "correct horse battery"


def _n() -> int:
    return next(_seq)


class Factory:
    def __init__(self, session: Session) -> None:
        self.s = session

    def _add(self, obj: Any) -> Any:
        self.s.add(obj)
        self.s.flush()
        return obj

    def school(self, **kw: Any) -> School:
        existing = self.s.scalar(select(School).limit(1))
        if existing is not None and not kw:
            return existing
        kw.setdefault("name", "Lycée professionnel Jean Jaurès")
        kw.setdefault("city", "Rennes")
        return self._add(School(**kw))  # type: ignore[no-any-return]

    def framework(self, code: str = "BACPRO-MELEC") -> Framework:
        framework = self.s.scalar(select(Framework).where(Framework.code == code))
        assert framework is not None, f"framework {code} not preloaded"
        return framework

    def level(self, framework: Framework | None = None, **kw: Any) -> Level:
        kw.setdefault("name", f"Terminale Bac Pro {_n()}")
        framework = framework or self.framework()
        return self._add(Level(framework_id=framework.id, **kw))  # type: ignore[no-any-return]

    def class_group(self, level: Level | None = None, **kw: Any) -> ClassGroup:
        kw.setdefault("name", f"TMELEC{_n()}")
        level = level or self.level()
        return self._add(ClassGroup(level_id=level.id, **kw))  # type: ignore[no-any-return]

    def _person(self, cls: type, **kw: Any) -> Any:
        n = _n()
        kw.setdefault("first_name", "Inès")
        kw.setdefault("last_name", f"Garay{n}")
        kw.setdefault("email", f"user{n}@test.passerelle.fr")
        if "password" in kw:
            from app.services.auth import hash_password

            kw["password_hash"] = hash_password(kw.pop("password"))
        return self._add(cls(**kw))

    def admin(self, **kw: Any) -> Admin:
        return self._person(Admin, **kw)  # type: ignore[no-any-return]

    def teacher(self, levels: list[Level] | None = None, **kw: Any) -> Teacher:
        teacher: Teacher = self._person(Teacher, **kw)
        teacher.levels = list(levels or [])
        self.s.flush()
        return teacher

    def learner(self, class_group: ClassGroup | None = None, **kw: Any) -> Learner:
        kw.setdefault("learner_status", "pupil")
        kw.setdefault("birth_date", date(2007, 5, 14))
        group = class_group or self.class_group()
        return self._person(Learner, class_group_id=group.id, **kw)  # type: ignore[no-any-return]

    def tutor(self, kind: str = "internship", **kw: Any) -> Tutor:
        kw.setdefault("company_name", "Électricité Martin")
        return self._person(Tutor, tutor_kind=kind, **kw)  # type: ignore[no-any-return]

    def period(
        self,
        level: Level | None = None,
        learners: list[Learner] | None = None,
        start: date = date(2026, 6, 8),
        weeks: int = 3,
        tutor: Tutor | None = None,
        **kw: Any,
    ) -> Period:
        """A period with a portfolio, a liaison sheet and one week sheet per ISO week for each
        learner, as create_period would make it."""
        if level is None:
            level = learners[0].class_group.level if learners else self.level()
        assert level is not None
        end = start + timedelta(days=7 * weeks - 3)
        kw.setdefault("name", f"PFMP {_n()}")
        kw.setdefault("objectives", "Découvrir l'entreprise et ses métiers.")
        kw.setdefault("activities", "Câblage, raccordement, mise en service.")
        period: Period = self._add(Period(level_id=level.id, start_date=start, end_date=end, **kw))
        for learner in learners or []:
            self.portfolio(period, learner, tutor=tutor)
        return period

    def portfolio(self, period: Period, learner: Learner, tutor: Tutor | None = None) -> Portfolio:
        portfolio: Portfolio = self._add(
            Portfolio(
                period_id=period.id, learner_id=learner.id, tutor_id=tutor.id if tutor else None
            )
        )
        self._add(
            LiaisonSheet(
                portfolio_id=portfolio.id,
                objectives=period.objectives,
                activities=period.activities,
            )
        )
        for position, (year, week) in enumerate(
            timefmt.iso_weeks(period.start_date, period.end_date)
        ):
            self._add(
                ActivitySheet(
                    learner_id=learner.id,
                    portfolio_id=portfolio.id,
                    kind=SheetKind.WEEK,
                    iso_year=year,
                    iso_week=week,
                    position=position,
                    title=timefmt.week_title(year, week),
                )
            )
        return portfolio

    def written(
        self, sheet: ActivitySheet, text: str = "J'ai câblé un tableau électrique."
    ) -> ActivitySheet:
        sheet.description = text
        sheet.learner_updated_at = utcnow()
        self.s.flush()
        return sheet

    def assessment(self, portfolio: Portfolio, **kw: Any) -> Assessment:
        return self._add(Assessment(portfolio_id=portfolio.id, **kw))  # type: ignore[no-any-return]

    def free_sheet(self, learner: Learner, **kw: Any) -> ActivitySheet:
        kw.setdefault("title", "Fiche libre")
        return self._add(  # type: ignore[no-any-return]
            ActivitySheet(learner_id=learner.id, portfolio_id=None, kind=SheetKind.FREE, **kw)
        )

    def world(self) -> World:
        """A small school: one level with two classes, a teacher, learners, tutors, a period."""
        return World(self)


class World:
    """Two levels, each with a teacher; a period with portfolios; tutors; an outsider of each
    role, for cross-access tests."""

    def __init__(self, f: Factory) -> None:
        self.school = f.school()
        self.level = f.level(name=f"Terminale Bac Pro MELEC {_n()}")
        self.other_level = f.level(f.framework("BACPRO-MEE"), name=f"Terminale MEE {_n()}")
        self.class_group = f.class_group(self.level, name=f"TMELEC-{_n()}")
        self.other_class = f.class_group(self.other_level, name=f"TMEE-{_n()}")
        self.admin = f.admin()
        self.teacher = f.teacher([self.level])
        self.other_teacher = f.teacher([self.other_level])
        self.learner = f.learner(self.class_group, first_name="Inès", last_name=f"Garay{_n()}")
        self.classmate = f.learner(self.class_group, first_name="Emilie", last_name=f"Temmam{_n()}")
        self.other_learner = f.learner(self.other_class)
        self.tutor = f.tutor("internship")
        self.master = f.tutor("apprenticeship")
        self.other_tutor = f.tutor("internship")
        self.period = f.period(self.level, [self.learner], tutor=self.tutor)
        self.portfolio = self.period.portfolios[0]
        self.classmate_portfolio = f.portfolio(self.period, self.classmate, tutor=self.master)
        self.other_period = f.period(self.other_level, [self.other_learner], tutor=self.other_tutor)
        self.other_portfolio = self.other_period.portfolios[0]
        self.sheet = self.portfolio.sheets[0]
        self.other_sheet = self.other_portfolio.sheets[0]
        self.assessment = f.assessment(self.portfolio)
        self.other_assessment = f.assessment(self.other_portfolio)
        f.s.flush()

    def user(self, role: str) -> Any:
        return {
            "admin": self.admin,
            "teacher": self.teacher,
            "learner": self.learner,
            "tutor": self.tutor,
            "master": self.master,
        }[role]
