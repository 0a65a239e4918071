"""Forms of the conventions area: the convention's details, a signature, the scan of the
signed paper, and the attendance of the attestation. The rules live in the services; a
FieldError they raise is put next to its field by the routes."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, EmailField, HiddenField, StringField, TextAreaField
from wtforms.validators import Length

_SHORT = {"autocomplete": "off"}


def _max(n: int) -> list[Length]:
    return [Length(max=n, message=f"{n} caractères au maximum.")]


class DetailsForm(FlaskForm):
    company_representative = StringField(
        "Représentant de l'entreprise (signataire)", validators=_max(160), render_kw=_SHORT
    )
    company_representative_role = StringField(
        "Fonction du représentant", validators=_max(120), render_kw=_SHORT
    )
    guardian_name = StringField(
        "Représentant légal (nom et prénom)", validators=_max(160), render_kw=_SHORT
    )
    guardian_address = TextAreaField(
        "Adresse du représentant légal", validators=_max(1000), render_kw={"rows": 2}
    )
    guardian_phone = StringField(
        "Téléphone du représentant légal",
        validators=_max(30),
        render_kw={"type": "tel", "inputmode": "tel", "autocomplete": "off"},
    )
    guardian_email = EmailField(
        "E-mail du représentant légal",
        validators=_max(254),
        render_kw={"inputmode": "email", "autocomplete": "off"},
    )
    daily_schedule = TextAreaField(
        "Horaires journaliers",
        validators=_max(1000),
        render_kw={
            "rows": 2,
            "placeholder": "Du lundi au vendredi : 8 h 30 – 12 h, 13 h 30 – 17 h",
        },
    )
    weekly_hours = StringField(
        "Durée hebdomadaire (heures)",
        validators=_max(10),
        render_kw={"inputmode": "decimal", "autocomplete": "off", "placeholder": "35"},
    )
    transport = TextAreaField("Transport", validators=_max(1000), render_kw={"rows": 2})
    meals = TextAreaField("Restauration", validators=_max(1000), render_kw={"rows": 2})
    lodging = TextAreaField("Hébergement", validators=_max(1000), render_kw={"rows": 2})
    company_insurer = StringField(
        "Assureur de l'entreprise (responsabilité civile)", validators=_max(200)
    )
    company_policy = StringField("N° de contrat de l'entreprise", validators=_max(80))
    school_insurer = StringField("Assureur de l'établissement", validators=_max(200))


class SignatureForm(FlaskForm):
    state = HiddenField()
    signed_on = StringField(
        "Date de la signature sur la convention",
        render_kw={"type": "date", "autocomplete": "off"},
    )


class ScanForm(FlaskForm):
    file = FileField(
        "Scan ou photo de la convention signée (PDF, JPEG, PNG, HEIC)",
        validators=[FileRequired("Choisissez le fichier de la convention signée.")],
        render_kw={"accept": "application/pdf,.pdf,image/jpeg,image/png,image/heic,.heic"},
    )
    signed_on = StringField(
        "Date de la dernière signature", render_kw={"type": "date", "autocomplete": "off"}
    )


class AttendanceForm(FlaskForm):
    days_done = StringField(
        "Jours effectués en entreprise",
        render_kw={"inputmode": "numeric", "autocomplete": "off"},
    )
    absence_days = StringField(
        "Jours d'absence", render_kw={"inputmode": "numeric", "autocomplete": "off"}
    )
    absence_dates = StringField(
        "Dates des absences (facultatif)",
        validators=_max(1000),
        render_kw={"autocomplete": "off", "placeholder": "12/10/2026, 13/10/2026"},
    )
    absence_reason = TextAreaField(
        "Motif des absences", validators=_max(1000), render_kw={"rows": 2}
    )
    signer_name = StringField(
        "Nom et fonction du signataire", validators=_max(160), render_kw={"autocomplete": "name"}
    )
    sign = BooleanField("Je certifie l'exactitude de ces informations et signe l'attestation")
