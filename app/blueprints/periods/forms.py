"""Forms of the periods area: root annexes and period parameters."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    Field,
    IntegerField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    ValidationError,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional
from wtforms.widgets import HiddenInput

MAX_TEXT = 20_000


class FrenchDateField(DateField):
    """A date typed as the browser's date input sends it (2026-06-08) or by hand
    (08/06/2026). Empty leaves the data None so InputRequired gives its own message."""

    def __init__(self, label: str, **kwargs: Any) -> None:
        super().__init__(
            label,
            format=["%Y-%m-%d", "%d/%m/%Y"],
            invalid_value_message="Date invalide : utilisez le format jj/mm/aaaa.",
            **kwargs,
        )

    def process_formdata(self, valuelist: list[Any]) -> None:
        if not valuelist or not " ".join(str(v) for v in valuelist).strip():
            self.data = None
            self.raw_data = valuelist
            return
        super().process_formdata(valuelist)
        if self.data is not None and not 2000 <= self.data.year <= 2100:
            self.data = None
            raise ValueError("Date invalide : l'année doit être comprise entre 2000 et 2100.")
        if self.data is not None:
            # Re-rendered in the browser's date input, which only accepts ISO dates.
            self.raw_data = [self.data.isoformat()]


class IdListField(SelectMultipleField):
    """Ids ticked in a list of checkboxes (rendered by the template). Membership is checked by
    the service, which knows the level."""

    def __init__(self, label: str, **kwargs: Any) -> None:
        super().__init__(
            label,
            coerce=int,
            validate_choice=False,
            invalid_value_message="Choix invalide : rechargez la page et recommencez.",
            **kwargs,
        )


def _text(label: str) -> TextAreaField:
    return TextAreaField(
        label,
        validators=[Length(max=MAX_TEXT, message=f"{MAX_TEXT} caractères au maximum.")],
    )


class AnnexForm(FlaskForm):
    name = StringField(
        "Nom de l'annexe",
        validators=[
            DataRequired("Donnez un nom à l'annexe pédagogique."),
            Length(max=200, message="200 caractères au maximum."),
        ],
    )
    objectives = _text("Objectifs de formation")
    activities = _text("Activités à confier à l'apprenant")
    task_ids = IdListField("Tâches du référentiel pré-sélectionnées")


class PeriodForm(FlaskForm):
    annex_id = IntegerField(widget=HiddenInput(), validators=[Optional()])
    name = StringField(
        "Nom de la période",
        validators=[
            DataRequired("Donnez un nom à la période."),
            Length(max=200, message="200 caractères au maximum."),
        ],
        render_kw={"placeholder": "PFMP 1 - Terminale"},
    )
    # InputRequired, not DataRequired: the latter would erase the "Date invalide" message.
    start_date = FrenchDateField(
        "Date de début", validators=[InputRequired("Indiquez la date de début.")]
    )
    end_date = FrenchDateField(
        "Date de fin", validators=[InputRequired("Indiquez la date de fin.")]
    )
    class_ids = IdListField("Classes entières")
    learner_ids = IdListField("Apprenants")
    objectives = _text("Objectifs de formation")
    activities = _text("Activités à confier aux apprenants")
    task_ids = IdListField("Tâches du référentiel pré-sélectionnées")

    def validate_end_date(self, field: Field) -> None:
        start: dt.date | None = self.start_date.data
        if start is not None and field.data is not None and field.data < start:
            raise ValidationError(
                "La date de fin doit être postérieure ou égale à la date de début."
            )

    def validate_learner_ids(self, field: Field) -> None:
        if not field.data and not self.class_ids.data and not self.class_ids.errors:
            raise ValidationError("Choisissez au moins un apprenant ou une classe.")


class ConfirmForm(FlaskForm):
    """A POST with only the CSRF token: confirmations (delete)."""
