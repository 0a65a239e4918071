"""`flask frameworks …`: import référentiel files, as a school administrator would."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db
from app.services.frameworks import (
    FrameworkFileError,
    ImportReport,
    import_framework_files,
    shipped_framework_paths,
)

frameworks_cli = AppGroup("frameworks", help="Référentiels des diplômes.")

# French labels of ImportReport.counts, in display order; grammatical gender matters for the
# past participles ("3 tâches créées", "2 blocs créés").
_KIND_LABELS: dict[str, tuple[str, bool]] = {
    "blocks": ("blocs", False),
    "activities": ("activités", True),
    "tasks": ("tâches", True),
    "competencies": ("compétences", True),
    "criteria": ("critères", False),
    "links": ("liens tâche-compétence", False),
    "scale": ("niveaux de l'échelle", False),
}


def _participle(count: int, word: str, feminine: bool) -> str:
    # French puts 0 and 1 in the singular: "0 créé", "1 créée", "2 créées".
    return f"{count} {word}{'e' if feminine else ''}{'s' if count > 1 else ''}"


def format_report(report: ImportReport) -> str:
    """A short French summary of one import, one line per kind of entry."""
    if report.created:
        status = "créé"
    elif report.changed:
        status = "mis à jour"
    else:
        status = "déjà à jour"
    lines = [f"{report.source} : {report.short_title} ({report.code}) — {status}"]
    for kind, (label, feminine) in _KIND_LABELS.items():
        c = report.counts[kind]
        parts = [_participle(c.created, "créé", feminine)]
        if kind != "links":
            parts.append(_participle(c.updated, "modifié", feminine))
        parts.append(_participle(c.deleted, "supprimé", feminine))
        lines.append(f"  {label} : {c.total} ({', '.join(parts)})")
    return "\n".join(lines)


def _run_import(paths: Sequence[Path]) -> None:
    try:
        reports = import_framework_files(paths)
        db.session.commit()
    except FrameworkFileError as exc:
        db.session.rollback()
        click.echo(str(exc), err=True)
        click.echo("Import annulé : aucun référentiel n'a été modifié.", err=True)
        raise click.exceptions.Exit(1) from None
    except SQLAlchemyError as exc:
        db.session.rollback()
        click.echo(f"Erreur de la base de données : {exc.__class__.__name__}", err=True)
        click.echo("Import annulé : aucun référentiel n'a été modifié.", err=True)
        raise click.exceptions.Exit(1) from None
    for report in reports:
        click.echo(format_report(report))


@frameworks_cli.command("import")
@click.argument(
    "files",
    nargs=-1,
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
)
def import_command(files: tuple[Path, ...]) -> None:
    """Importe (ou met à jour) des référentiels depuis des fichiers YAML ou JSON.

    Tous les fichiers sont vérifiés avant d'écrire quoi que ce soit.
    """
    _run_import(files)


@frameworks_cli.command("import-shipped")
def import_shipped_command() -> None:
    """Importe (ou met à jour) les référentiels livrés avec l'application."""
    _run_import(shipped_framework_paths())


def register(app: Flask) -> None:
    """Add the `frameworks` command group to the app's CLI."""
    app.cli.add_command(frameworks_cli)
