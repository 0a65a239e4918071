"""`flask learners import FILE.csv` and `flask teachers import FILE.csv`: the CSV imports of
the admin page, from the command line (same checks, same report)."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import func, select

from app.extensions import db
from app.models import Level
from app.services import imports

learners_cli = AppGroup("learners", help="Apprenants.")
teachers_cli = AppGroup("teachers", help="Enseignants.")


def _read(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > imports.MAX_IMPORT_BYTES:
            raise click.ClickException(
                f"{path} : fichier trop volumineux ({imports.MAX_IMPORT_BYTES // (1024 * 1024)} Mo "
                "au maximum)."
            )
        return path.read_bytes()
    except OSError as error:
        raise click.ClickException(f"{path} : lecture impossible ({error.strerror}).") from None


def _finish(plan: imports.ImportPlan, dry_run: bool) -> None:
    for line in imports.report_lines(plan):
        click.echo(line)
    if dry_run:
        db.session.rollback()
        click.echo("Simulation : rien n'a été enregistré.")
    else:
        db.session.commit()


@learners_cli.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--level", "level_name", help="Niveau sous lequel créer les classes inconnues.")
@click.option("--dry-run", is_flag=True, help="Afficher le résultat sans rien enregistrer.")
def import_learners(file: Path, level_name: str | None, dry_run: bool) -> None:
    """Importe (ou met à jour) des apprenants et leurs classes depuis un CSV."""
    level = None
    if level_name:
        level = db.session.scalar(select(Level).where(func.lower(Level.name) == level_name.lower()))
        if level is None:
            raise click.ClickException(f"Niveau inconnu : « {level_name} ».")
    try:
        parsed = imports.read_learners_csv(_read(file))
    except imports.ImportFileError as error:
        raise click.ClickException(f"{file} : {error.message} Rien n'a été importé.") from None
    plan = (
        imports.plan_learners(parsed, level)
        if dry_run
        else imports.apply_learners(parsed, level, None)
    )
    _finish(plan, dry_run)


@teachers_cli.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Afficher le résultat sans rien enregistrer.")
def import_teachers(file: Path, dry_run: bool) -> None:
    """Importe (ou met à jour) des enseignants depuis un CSV (Nom, Prénom, E-mail, Niveaux)."""
    try:
        parsed = imports.read_teachers_csv(_read(file))
    except imports.ImportFileError as error:
        raise click.ClickException(f"{file} : {error.message} Rien n'a été importé.") from None
    plan = imports.plan_teachers(parsed) if dry_run else imports.apply_teachers(parsed, None)
    _finish(plan, dry_run)


def register(app: Flask) -> None:
    """Add the `learners` and `teachers` command groups to the app's CLI."""
    app.cli.add_command(learners_cli)
    app.cli.add_command(teachers_cli)
