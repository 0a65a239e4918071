"""Forms of the liaison area: the three pages of the liaison sheet, the tutor's account and
the invitation's password. Field checks reuse the services' rules so messages match."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask_wtf import FlaskForm
from wtforms import EmailField, Field, PasswordField, StringField, TextAreaField, ValidationError
from wtforms.validators import DataRequired, EqualTo, Length

from app.services import liaison
from app.services.auth import MIN_PASSWORD_LENGTH
from app.services.periods import MAX_TEXT, FieldError


class _Rule:
    """A WTForms validator from a service normaliser that raises FieldError."""

    def __init__(self, check: Callable[[str], Any], *, required: bool) -> None:
        self.check = check
        self.field_flags = {"required": True} if required else {}

    def __call__(self, _form: FlaskForm, field: Field) -> None:
        try:
            self.check(field.data or "")
        except FieldError as error:
            raise ValidationError(error.message) from None


def _rule(check: Callable[[str], Any], required: bool = True) -> _Rule:
    return _Rule(check, required=required)


def _required(message: str, max_length: int) -> list[Any]:
    return [
        DataRequired(message),
        Length(max=max_length, message=f"{max_length} caractères au maximum."),
    ]


class PlaceForm(FlaskForm):
    company_name = StringField(
        "Nom de l'entreprise", validators=_required("Indiquez le nom de l'entreprise.", 200)
    )
    company_siret = StringField(
        "Numéro SIRET",
        validators=[_rule(liaison.normalize_siret)],
        render_kw={
            "inputmode": "numeric",
            "autocomplete": "off",
            "placeholder": "732 829 320 00074",
        },
    )
    company_address = TextAreaField(
        "Adresse du lieu de réalisation",
        validators=_required("Indiquez l'adresse de l'entreprise.", 1000),
        render_kw={"rows": 3},
    )
    company_phone = StringField(
        "Téléphone de l'entreprise",
        validators=[_rule(lambda v: liaison.normalize_phone(v, "company_phone", required=True))],
        render_kw={"inputmode": "tel", "autocomplete": "off", "type": "tel"},
    )
    tutor_name = StringField(
        "Nom et prénom du tuteur", validators=_required("Indiquez le nom du tuteur.", 160)
    )
    tutor_role = StringField(
        "Fonction du tuteur", validators=_required("Indiquez la fonction du tuteur.", 120)
    )
    tutor_email = EmailField(
        "E-mail du tuteur",
        validators=[_rule(lambda v: liaison.normalize_email(v, "tutor_email"))],
        render_kw={"inputmode": "email", "autocomplete": "off"},
    )
    tutor_phone = StringField(
        "Téléphone du tuteur (facultatif)",
        validators=[
            _rule(
                lambda v: liaison.normalize_phone(v, "tutor_phone", required=False),
                required=False,
            )
        ],
        render_kw={"inputmode": "tel", "autocomplete": "off", "type": "tel"},
    )


class PlanForm(FlaskForm):
    text = TextAreaField(
        "Texte", validators=[Length(max=MAX_TEXT, message=f"{MAX_TEXT} caractères au maximum.")]
    )


class TutorForm(FlaskForm):
    first_name = StringField("Prénom", validators=_required("Indiquez le prénom.", 80))
    last_name = StringField("Nom", validators=_required("Indiquez le nom.", 80))
    email = EmailField(
        "Adresse e-mail (identifiant de connexion)",
        validators=[_rule(lambda v: liaison.normalize_email(v, "email"))],
        render_kw={"inputmode": "email", "autocomplete": "off"},
    )
    phone = StringField(
        "Téléphone (facultatif)",
        validators=[
            _rule(lambda v: liaison.normalize_phone(v, "phone", required=False), required=False)
        ],
        render_kw={"inputmode": "tel", "type": "tel", "autocomplete": "off"},
    )
    job_title = StringField(
        "Fonction (facultatif)", validators=[Length(max=120, message="120 caractères au maximum.")]
    )
    company_name = StringField(
        "Entreprise (facultatif)",
        validators=[Length(max=200, message="200 caractères au maximum.")],
    )


class AcceptInvitationForm(FlaskForm):
    password = PasswordField(
        "Choisissez un mot de passe",
        validators=[
            DataRequired("Choisissez un mot de passe."),
            Length(min=MIN_PASSWORD_LENGTH, message=f"Au moins {MIN_PASSWORD_LENGTH} caractères."),
            Length(max=200, message="200 caractères au maximum."),
        ],
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        "Confirmez le mot de passe",
        validators=[EqualTo("password", "Les deux mots de passe ne correspondent pas.")],
        render_kw={"autocomplete": "new-password"},
    )
