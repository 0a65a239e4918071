"""Forms of the admin area. They check the shape of what the browser sent; the services check
the rules (unique e-mail, known level…) and raise FieldError, shown next to the field."""

from __future__ import annotations

import re
from typing import Any

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    IntegerField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    widgets,
)
from wtforms.fields.core import UnboundField
from wtforms.meta import DefaultMeta
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from app.services.accounts import CREATABLE


def _no_controls(value: Any) -> Any:
    """Drop NUL and other control characters (PostgreSQL refuses NUL in text; the others
    are never meant), keeping tabs and line breaks of multi-line fields."""
    if isinstance(value, str):
        return _CONTROLS.sub("", value)
    return value


_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class FrenchForm(FlaskForm):
    """WTForms' own messages ("Not a valid choice") in French: Flask-WTF only translates
    through Flask-Babel, which this app does not need; WTForms ships the French catalogue.
    Every text field also drops control characters (see `_no_controls`)."""

    class Meta(FlaskForm.Meta):
        locales = ("fr_FR", "fr")

        def get_translations(self, form: Any) -> Any:
            return DefaultMeta.get_translations(self, form)

        def bind_field(self, form: Any, unbound_field: UnboundField, options: Any) -> Any:
            if issubclass(unbound_field.field_class, StringField):
                kwargs = dict(unbound_field.kwargs)
                kwargs["filters"] = [*kwargs.get("filters", ()), _no_controls]
                unbound_field = UnboundField(
                    unbound_field.field_class,
                    *unbound_field.args,
                    name=unbound_field.name,
                    **kwargs,
                )
            return DefaultMeta.bind_field(self, form, unbound_field, options)


class MultiCheckboxField(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


def _int_or_none(value: Any) -> int | None:
    if value in (None, "", "None"):
        return None
    return int(value)


# --- school ------------------------------------------------------------------------------------


class SchoolForm(FrenchForm):
    name = StringField(
        "Nom de l'établissement",
        validators=[DataRequired("Indiquez le nom de l'établissement."), Length(max=200)],
    )
    uai = StringField("Code UAI (RNE)", validators=[Optional(), Length(max=8)])
    address = TextAreaField("Adresse", validators=[Optional(), Length(max=1000)])
    postal_code = StringField("Code postal", validators=[Optional(), Length(max=10)])
    city = StringField("Ville", validators=[Optional(), Length(max=120)])
    phone = StringField("Téléphone", validators=[Optional(), Length(max=30)])
    email = EmailField("Adresse e-mail de contact", validators=[Optional(), Length(max=254)])
    head_name = StringField(
        "Chef d'établissement (signataire des conventions)",
        validators=[Optional(), Length(max=160)],
    )
    logo = FileField("Logo")
    remove_logo = BooleanField("Retirer le logo actuel")
    stamp = FileField("Tampon de l'établissement")
    remove_stamp = BooleanField("Retirer le tampon actuel")


# --- accounts ----------------------------------------------------------------------------------


class _IdentityFields(FrenchForm):
    last_name = StringField("Nom", validators=[DataRequired("Indiquez le nom."), Length(max=80)])
    first_name = StringField(
        "Prénom", validators=[DataRequired("Indiquez le prénom."), Length(max=80)]
    )
    email = EmailField("Adresse e-mail", validators=[Optional(), Length(max=254)])
    phone = StringField("Téléphone", validators=[Optional(), Length(max=30)])
    company_name = StringField("Entreprise", validators=[Optional(), Length(max=200)])
    job_title = StringField("Fonction", validators=[Optional(), Length(max=120)])
    level_ids = MultiCheckboxField("Niveaux enseignés", coerce=int, validators=[Optional()])


class AccountCreateForm(_IdentityFields):
    email = EmailField(
        "Adresse e-mail",
        validators=[DataRequired("Indiquez une adresse e-mail."), Length(max=254)],
    )
    kind = RadioField(
        "Type de compte",
        choices=list(CREATABLE.items()),
        default="teacher",
        validators=[InputRequired("Choisissez le type de compte.")],
    )


class AccountEditForm(_IdentityFields):
    class_group_id = SelectField("Classe", coerce=_int_or_none, validators=[Optional()])
    learner_status = RadioField(
        "Statut",
        choices=[("pupil", "Élève (sous statut scolaire)"), ("apprentice", "Apprenti")],
        validators=[Optional()],
    )
    birth_date = DateField(
        "Date de naissance",
        validators=[Optional()],
        render_kw={"max": "2100-01-01"},
    )


class ConfirmForm(FrenchForm):
    """A button that changes something: only the CSRF token."""


class EraseForm(FrenchForm):
    confirm = BooleanField(
        "Je confirme l'effacement : cette action est définitive.",
        validators=[DataRequired("Cochez la case pour confirmer l'effacement.")],
    )


# --- levels and classes ----------------------------------------------------------------------


class LevelForm(FrenchForm):
    name = StringField(
        "Nom du niveau",
        validators=[DataRequired("Indiquez le nom du niveau."), Length(max=120)],
        render_kw={"placeholder": "ex. Terminale Bac Pro MELEC"},
    )
    framework_id = SelectField(
        "Diplôme préparé (référentiel)",
        coerce=_int_or_none,
        validators=[InputRequired("Choisissez le diplôme préparé.")],
    )
    position = IntegerField(
        "Ordre d'affichage",
        default=0,
        validators=[
            Optional(),
            NumberRange(min=0, max=999, message="Un nombre entre 0 et 999."),
        ],
    )


class ClassForm(FrenchForm):
    name = StringField(
        "Nom de la classe",
        validators=[DataRequired("Indiquez le nom de la classe."), Length(max=40)],
        render_kw={"placeholder": "ex. TMELEC"},
    )
    level_id = SelectField(
        "Niveau", coerce=_int_or_none, validators=[InputRequired("Choisissez le niveau.")]
    )


# --- imports -----------------------------------------------------------------------------------


class LearnerImportForm(FrenchForm):
    file = FileField(
        "Fichier CSV des apprenants",
        validators=[FileRequired("Choisissez le fichier CSV à importer.")],
        render_kw={"accept": ".csv,text/csv,text/plain"},
    )
    level_id = SelectField(
        "Niveau des nouvelles classes", coerce=_int_or_none, validators=[Optional()]
    )


class TeacherImportForm(FrenchForm):
    file = FileField(
        "Fichier CSV des enseignants",
        validators=[FileRequired("Choisissez le fichier CSV à importer.")],
        render_kw={"accept": ".csv,text/csv,text/plain"},
    )


class SiecleImportForm(FrenchForm):
    file = FileField(
        "Fichier ElevesSansAdresses.xml (SIECLE)",
        validators=[FileRequired("Choisissez le fichier XML exporté de SIECLE.")],
        render_kw={"accept": ".xml,text/xml,application/xml"},
    )


class StsImportForm(FrenchForm):
    file = FileField(
        "Fichier sts_emp_RNE_ANNEE.xml (STS-web)",
        validators=[FileRequired("Choisissez le fichier XML exporté de STS-web.")],
        render_kw={"accept": ".xml,text/xml,application/xml"},
    )


class DeparturesForm(FrenchForm):
    """Deactivate the pupils who left; the learners ticked come as `learner_ids`."""

    confirm = BooleanField(
        "Je confirme la désactivation des comptes cochés (ils ne sont pas supprimés).",
        validators=[DataRequired("Cochez la case pour confirmer la désactivation.")],
    )
