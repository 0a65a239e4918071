"""Forms of the sheet pages. Every message is in French and shown next to its field."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    Field,
    HiddenField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
    URLField,
    ValidationError,
)
from wtforms.validators import DataRequired, Length

from app.models import Activity, ActivitySheet, Portfolio, SheetKind
from app.services import sheets as sheet_service


def _as_text(value: Any) -> str:
    return "" if value is None else str(value)


def _one_of(message: str) -> Any:
    def _check(form: FlaskForm, field: Field) -> None:
        if field.data not in {value for value, _label in field.choices}:
            raise ValidationError(message)

    return _check


class SheetForm(FlaskForm):
    """The learner's fields of a sheet. Pages post only their own fields (and autosave any
    subset), so only the fields present in the request are validated and saved."""

    title = StringField(
        "Titre de la fiche",
        validators=[
            DataRequired("Donnez un titre à la fiche."),
            Length(max=sheet_service.MAX_TITLE, message="200 caractères au plus."),
        ],
    )
    company = StringField(
        "Entreprise",
        validators=[Length(max=sheet_service.MAX_COMPANY, message="200 caractères au plus.")],
        render_kw={"autocomplete": "organization"},
    )
    conditions = RadioField(
        "Conditions de réalisation",
        choices=[("", "Non précisé"), *sheet_service.CONDITIONS.items()],
        coerce=_as_text,
        validate_choice=False,
        validators=[_one_of("Choisissez « En autonomie » ou « Accompagné(e) ».")],
    )
    activity_id = SelectField(
        "Type d'activité du référentiel",
        coerce=_as_text,
        validate_choice=False,
        validators=[_one_of("Choisissez une activité de la liste.")],
    )
    description = TextAreaField(
        "Description de l'activité",
        validators=[Length(max=sheet_service.MAX_TEXT, message="20 000 caractères au plus.")],
        render_kw={"rows": 10},
    )
    analysis = TextAreaField(
        "Analyse réflexive",
        validators=[Length(max=sheet_service.MAX_TEXT, message="20 000 caractères au plus.")],
        render_kw={"rows": 8},
    )
    page = HiddenField()

    FIELDS = ("title", "company", "conditions", "activity_id", "description", "analysis")

    def __init__(self, sheet: ActivitySheet, activities: list[Activity], **kwargs: Any) -> None:
        super().__init__(obj=sheet, **kwargs)
        self.activity_id.choices = [("", "— Choisir une activité —")] + [
            (str(a.id), f"{a.code} – {a.title}") for a in activities
        ]
        self._sheet = sheet

    def present(self, submitted: Any) -> list[str]:
        """The sheet fields this request carries (the title of a week sheet is fixed)."""
        names = [name for name in self.FIELDS if name in submitted]
        if self._sheet.kind == SheetKind.WEEK:
            names = [name for name in names if name != "title"]
        return names

    def validate_only(self, names: list[str]) -> bool:
        """Validate just these fields (the others keep the sheet's stored values)."""
        ok = True
        for name in names:
            ok = self[name].validate(self) and ok
        return ok

    def changes(self, names: list[str]) -> dict[str, Any]:
        return {name: self[name].data for name in names}


class NewSheetForm(FlaskForm):
    title = StringField(
        "Titre de la fiche",
        validators=[
            DataRequired("Donnez un titre à la fiche."),
            Length(max=sheet_service.MAX_TITLE, message="200 caractères au plus."),
        ],
        description="Par exemple : « Rénovation d'une armoire électrique ».",
    )


class UploadForm(FlaskForm):
    file = FileField(
        "Fichier (photo, PDF, document…)",
        validators=[FileRequired("Choisissez un fichier à joindre.")],
        render_kw={
            "accept": "image/*,application/pdf,.pdf,.doc,.docx,.xlsx,.pptx,.odt,.ods,.odp,.txt,.csv"
        },
    )


class LinkForm(FlaskForm):
    url = URLField(
        "Adresse du lien",
        validators=[
            DataRequired("Saisissez l'adresse du lien."),
            Length(max=2000, message="Cette adresse est trop longue."),
        ],
        render_kw={"placeholder": "https://…", "inputmode": "url", "autocomplete": "url"},
    )
    label = StringField(
        "Titre du lien (facultatif)",
        validators=[Length(max=200, message="200 caractères au plus.")],
    )


class AttachForm(FlaskForm):
    portfolio_id = SelectField(
        "Période",
        coerce=_as_text,
        validate_choice=False,
        validators=[_one_of("Choisissez une de vos périodes.")],
    )

    def __init__(self, portfolios: list[Portfolio], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.portfolio_id.choices = [
            (str(p.id), f"{p.period.name} (du {p.period.start_date:%d/%m/%Y} au "
             f"{p.period.end_date:%d/%m/%Y})")
            for p in portfolios
        ]  # fmt: skip
