"""The admin's identity-provider form (shape only; the service checks the rules)."""

from __future__ import annotations

from wtforms import BooleanField, PasswordField, RadioField, SelectField, StringField
from wtforms.validators import InputRequired, Length

from app.blueprints.admin.forms import FrenchForm


class ProviderForm(FrenchForm):
    protocol = RadioField(
        "Protocole",
        choices=[("oidc", "OpenID Connect"), ("cas", "CAS")],
        default="oidc",
        validators=[InputRequired("Choisissez OpenID Connect ou CAS.")],
    )
    label = StringField(
        "Texte du bouton",
        default="Se connecter avec l'ENT",
        validators=[InputRequired("Saisissez le texte du bouton."), Length(max=80)],
    )
    server_url = StringField(
        "Adresse du fournisseur d'identité",
        validators=[InputRequired("Saisissez l'adresse du fournisseur."), Length(max=300)],
        render_kw={"inputmode": "url", "placeholder": "https://ent.exemple.fr/oidc"},
    )
    client_id = StringField("Identifiant client (OpenID Connect)", validators=[Length(max=200)])
    client_secret = PasswordField(
        "Secret client (OpenID Connect)",
        validators=[Length(max=300)],
        render_kw={"autocomplete": "new-password"},
    )
    cas_version = SelectField(
        "Version du protocole CAS",
        choices=[("3", "CAS 3 (avec attributs)"), ("2", "CAS 2")],
        default="3",
    )
    email_claim = StringField(
        "Donnée portant l'adresse e-mail", default="email", validators=[Length(max=80)]
    )
    national_id_claim = StringField(
        "Donnée portant l'identifiant national (INE, identifiant STS)", validators=[Length(max=80)]
    )
    enabled = BooleanField("Actif : le bouton apparaît sur la page de connexion", default=True)
