"""The journal form: one day of the period. Messages in French, next to their field."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    Field,
    SelectMultipleField,
    StringField,
    TextAreaField,
    ValidationError,
)
from wtforms.validators import DataRequired, InputRequired, Length

from app.errors import InvalidInput
from app.models import Activity, JournalEntry, Portfolio, Task
from app.services import journal as service


class FrenchDateField(DateField):
    """A date input that also accepts dd/mm/yyyy and says so in French when it cannot read it."""

    data: date | None

    def process_formdata(self, valuelist: list[Any]) -> None:
        if not valuelist:
            return
        text = " ".join(str(v) for v in valuelist).strip()
        for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
            try:
                self.data = datetime.strptime(text, fmt).date()
                return
            except ValueError:
                continue
        self.data = None
        raise ValueError("Saisissez une date valide (jj/mm/aaaa).")


class JournalEntryForm(FlaskForm):
    entry_date = FrenchDateField("Jour", validators=[InputRequired("Choisissez le jour.")])
    hours = StringField(
        "Heures travaillées",
        validators=[InputRequired("Indiquez le nombre d'heures.")],
        render_kw={"inputmode": "decimal", "placeholder": "7,5"},
    )
    description = TextAreaField(
        "Ce que j'ai fait",
        validators=[
            DataRequired("Décrivez ce que vous avez fait ce jour-là."),
            Length(max=service.MAX_DESCRIPTION, message="5 000 caractères au plus."),
        ],
        render_kw={"rows": 4},
    )
    tasks = SelectMultipleField(
        "Tâches du référentiel (facultatif)", coerce=str, validate_choice=False
    )

    def __init__(
        self,
        portfolio: Portfolio,
        groups: list[tuple[Activity, list[Task]]],
        entry: JournalEntry | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._portfolio, self._entry = portfolio, entry
        self.groups = groups
        self.tasks.choices = [
            (str(t.id), f"{t.code} {t.title}") for _a, tasks in groups for t in tasks
        ]

    def validate_entry_date(self, field: Field) -> None:
        if field.data is None:
            return
        try:
            service.check_date(self._portfolio, field.data, self._entry.id if self._entry else None)
        except InvalidInput as error:
            raise ValidationError(error.message) from error

    def validate_hours(self, field: Field) -> None:
        try:
            field.data = str(service.parse_hours(field.data))
        except InvalidInput as error:
            raise ValidationError(error.message) from error

    def validate_tasks(self, field: Field) -> None:
        allowed = {value for value, _label in field.choices}
        if any(value not in allowed for value in field.data or []):
            raise ValidationError("Choisissez des tâches de la liste.")

    @property
    def task_ids(self) -> list[int]:
        return [int(value) for value in self.tasks.data or []]

    @property
    def selected(self) -> set[str]:
        return set(self.tasks.data or [])


def default_day(portfolio: Portfolio, today: date) -> date:
    """Today when it falls in the period, else the first day of the period."""
    period = portfolio.period
    return today if period.start_date <= today <= period.end_date else period.start_date
