"""Flask commands: demo data, accounts, framework imports."""

from __future__ import annotations

import importlib

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import select

from app.extensions import db

demo_cli = AppGroup("demo", help="Données de démonstration.")
users_cli = AppGroup("users", help="Comptes utilisateurs.")


@demo_cli.command("load")
@click.option(
    "--if-empty", is_flag=True, help="Ne rien faire si la base contient déjà un établissement."
)
@click.option("--reset", is_flag=True, help="Effacer toutes les données puis charger la démo.")
def demo_load(if_empty: bool, reset: bool) -> None:
    from app.models import School
    from app.services.demo import load, wipe

    if reset:
        wipe()
    elif db.session.scalar(select(School.id).limit(1)) is not None:
        if if_empty:
            click.echo("Base déjà initialisée : données de démonstration non rechargées.")
            return
        raise click.ClickException("La base contient déjà des données ; utilisez --reset.")
    summary = load()
    db.session.commit()
    click.echo(f"Données de démonstration chargées : {summary}")


@demo_cli.command("logins")
def demo_logins() -> None:
    from app.services.demo import DEMO_LOGINS, DEMO_PASSWORD

    click.echo(f"\nComptes de démonstration (mot de passe : {DEMO_PASSWORD})")
    for role, email in DEMO_LOGINS:
        click.echo(f"  {role:<26} {email}")
    click.echo("\nPasserelle : http://127.0.0.1:5000\n")


@users_cli.command("create-admin")
@click.option("--email", prompt="Adresse e-mail")
@click.option("--first-name", prompt="Prénom")
@click.option("--last-name", prompt="Nom")
@click.password_option("--password", prompt="Mot de passe")
def create_admin(email: str, first_name: str, last_name: str, password: str) -> None:
    from app.errors import DomainError
    from app.models import Admin, User
    from app.services.auth import check_password_strength, hash_password

    email = email.strip().lower()
    if db.session.scalar(select(User.id).where(User.email == email)) is not None:
        raise click.ClickException(f"Un compte existe déjà avec l'adresse {email}.")
    try:
        check_password_strength(password)
    except DomainError as error:
        raise click.ClickException(error.message) from error
    db.session.add(
        Admin(
            email=email,
            first_name=first_name,
            last_name=last_name,
            password_hash=hash_password(password),
        )
    )
    db.session.commit()
    click.echo(f"Administrateur {email} créé.")


def init_app(app: Flask) -> None:
    app.cli.add_command(demo_cli)
    app.cli.add_command(users_cli)
    # Areas that bring their own commands expose register(app).
    for module_name in ("app.cli_frameworks", "app.cli_data", "app.cli_reminders"):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name != module_name:
                raise
            continue
        module.register(app)
