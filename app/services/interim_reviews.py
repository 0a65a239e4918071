"""Interim reviews (bilans intermédiaires de compétences, SPEC F9): at a date, the teacher
positions the learner on each competency, seeing the dashboard's evidence. Saving records
which completed assessments the review used (`interim_review_assessments`): from then on
the parameters of those assessments' periods are locked (SPEC F3, checked by the periods
area)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import joinedload, raiseload, selectinload

from app import access
from app.errors import InvalidInput, NotAllowed
from app.extensions import db
from app.models import (
    Assessment,
    AssessmentStatus,
    Competency,
    InterimReview,
    InterimReviewPosition,
    Learner,
    Level,
    Period,
    Portfolio,
    ScaleLevel,
    User,
)
from app.services import audit
from app.services.dashboard import learner_framework

COMMENT_MAX = 5000
NOTE_MAX = 1000


class ReviewInvalid(InvalidInput):
    """Bad input on the review form: `errors` maps a field name to its French message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("Certaines informations du bilan intermédiaire ne sont pas valides.")
        self.errors = errors


@dataclass
class UsableAssessment:
    """A completed assessment the review may rest on."""

    id: int
    period_name: str
    start_date: date
    end_date: date
    company: str


def usable_assessments(learner: Learner) -> list[UsableAssessment]:
    """The learner's completed assessments in the framework of their level: 1–2 queries."""
    framework_id, _ = learner_framework(learner)
    query = (
        select(Assessment, Period, Portfolio)
        .join(Portfolio, Portfolio.id == Assessment.portfolio_id)
        .join(Period, Period.id == Portfolio.period_id)
        .join(Level, Level.id == Period.level_id)
        .where(
            Portfolio.learner_id == learner.id,
            Assessment.status == AssessmentStatus.COMPLETED,
        )
        .order_by(Period.start_date, Period.id)
        .options(joinedload(Portfolio.liaison_sheet), raiseload("*"))
    )
    if framework_id is not None:
        query = query.where(Level.framework_id == framework_id)
    return [
        UsableAssessment(
            assessment.id,
            period.name,
            period.start_date,
            period.end_date,
            (portfolio.liaison_sheet.company_name if portfolio.liaison_sheet else "") or "",
        )
        for assessment, period, portfolio in db.session.execute(query).unique()
    ]


def create_review(
    learner: Learner,
    teacher: User,
    *,
    review_date: date | None,
    comment: str,
    assessment_ids: list[int],
    positions: dict[int, str | None],
    notes: dict[int, str],
) -> InterimReview:
    """Record an interim review. `positions` maps competency id → scale code (None: not
    positioned), `notes` competency id → a short comment. Raises NotAllowed (not this
    learner's teacher) or ReviewInvalid (field → message)."""
    if not access.can_write_interim_review(teacher, learner):
        raise NotAllowed("Seul un enseignant de l'apprenant établit un bilan intermédiaire.")
    framework_id, _ = learner_framework(learner)
    errors: dict[str, str] = {}
    if review_date is None:
        errors["review_date"] = "Indiquez la date du bilan (JJ/MM/AAAA)."
    elif not 2000 <= review_date.year <= 2100:
        errors["review_date"] = "Date invalide."
    if len(comment) > COMMENT_MAX:
        errors["comment"] = f"Le commentaire est trop long ({COMMENT_MAX} caractères au plus)."
    usable = {a.id for a in usable_assessments(learner)}
    if any(a not in usable for a in assessment_ids):
        errors["assessments"] = "Choisissez parmi les bilans entreprise complétés de l'apprenant."
    competencies = set(
        db.session.scalars(select(Competency.id).where(Competency.framework_id == framework_id))
    )
    codes = set(
        db.session.scalars(select(ScaleLevel.code).where(ScaleLevel.framework_id == framework_id))
    )
    for competency_id, code in positions.items():
        if competency_id not in competencies:
            errors["positions"] = "Compétence inconnue dans le référentiel de l'apprenant."
        elif code is not None and code not in codes:
            errors[f"pos-{competency_id}"] = "Niveau inconnu : choisissez un niveau de la réglette."
    for competency_id, note in notes.items():
        if competency_id not in competencies:
            errors["positions"] = "Compétence inconnue dans le référentiel de l'apprenant."
        elif len(note) > NOTE_MAX:
            errors[f"note-{competency_id}"] = f"{NOTE_MAX} caractères au plus."
    if not any(code for code in positions.values()) and "positions" not in errors:
        errors["positions"] = "Positionnez l'apprenant sur au moins une compétence."
    if errors:
        raise ReviewInvalid(errors)
    assert review_date is not None
    review = InterimReview(
        learner_id=learner.id,
        teacher_id=teacher.id,
        review_date=review_date,
        comment=comment.replace("\r\n", "\n").strip(),
    )
    db.session.add(review)
    db.session.flush()
    for competency_id in sorted(set(positions) | set(notes)):
        code = positions.get(competency_id)
        note = notes.get(competency_id, "").strip()
        if code or note:
            db.session.add(
                InterimReviewPosition(
                    review_id=review.id, competency_id=competency_id, value=code, comment=note
                )
            )
    if assessment_ids:
        review.assessments = list(
            db.session.scalars(select(Assessment).where(Assessment.id.in_(assessment_ids)))
        )
    audit.record(
        teacher,
        "interim_review.created",
        "interim_review",
        review.id,
        learner_id=learner.id,
        review_date=review_date.isoformat(),
        assessment_ids=sorted(assessment_ids),
    )
    db.session.flush()
    return review


def list_reviews(learner: Learner) -> list[InterimReview]:
    """The learner's interim reviews, newest first, with their teacher: 1 query."""
    return list(
        db.session.scalars(
            select(InterimReview)
            .where(InterimReview.learner_id == learner.id)
            .order_by(InterimReview.review_date.desc(), InterimReview.id.desc())
            .options(joinedload(InterimReview.teacher), raiseload("*"))
        )
    )


def load_review(learner: Learner, review_id: int) -> InterimReview | None:
    """One review of this learner with positions, assessments (and their periods), teacher."""
    return db.session.scalar(
        select(InterimReview)
        .where(InterimReview.id == review_id, InterimReview.learner_id == learner.id)
        .options(
            joinedload(InterimReview.teacher),
            selectinload(InterimReview.positions),
            selectinload(InterimReview.assessments)
            .joinedload(Assessment.portfolio)
            .joinedload(Portfolio.period),
        )
    )
