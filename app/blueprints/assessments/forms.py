"""Forms of the assessment page. Values are checked by the service (against the framework
and its scale); these forms only check the shape of what the browser sent."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import IntegerField, RadioField, StringField
from wtforms.validators import InputRequired, NumberRange, Optional


class ItemForm(FlaskForm):
    """One item: a rating code, stars, an ISO date or the comment; empty clears it."""

    value = StringField("Valeur", validators=[Optional(strip_whitespace=False)])
    base_version = IntegerField(
        "Version",
        validators=[Optional(), NumberRange(min=0, message="Version invalide.")],
    )


class ModeForm(FlaskForm):
    mode = RadioField(
        "Mode d'évaluation",
        choices=[("criteria", "Par critères"), ("global", "Compétence globale")],
        validators=[InputRequired("Choisissez un mode d'évaluation.")],
    )


class ConflictForm(FlaskForm):
    keep = RadioField(
        "Conflit",
        choices=[("1", "Garder"), ("0", "Rétablir l'autre valeur")],
        validators=[InputRequired("Choisissez la valeur à garder.")],
    )
