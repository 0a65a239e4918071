"""`flask reminders send [--now ISO]`: the scheduled job of issue 16 (cron or systemd timer),
and `flask reminders vapid-keys` to create the Web Push key pair."""

from __future__ import annotations

from datetime import UTC, datetime

import click
from flask import Flask
from flask.cli import AppGroup

reminders_cli = AppGroup("reminders", help="Rappels, résumés et invitations de visite.")


def _parse_now(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as error:
        raise click.BadParameter(
            "date et heure ISO attendues, par exemple 2026-12-07T08:00+01:00", param_hint="--now"
        ) from error
    if moment.tzinfo is None:
        from app.timefmt import PARIS

        moment = moment.replace(tzinfo=PARIS)
    return moment.astimezone(UTC)


@reminders_cli.command("send")
@click.option("--now", "now_text", help="Faire comme s'il était cette date (ISO 8601).")
def send(now_text: str | None) -> None:
    """Send what is due and was not sent yet; running it twice sends nothing twice."""
    from app.services import reminders

    report = reminders.run(_parse_now(now_text))
    click.echo(f"Rappels : {report.summary()}")
    for key, reason in report.failed:
        click.echo(f"  échec {key} : {reason}", err=True)


@reminders_cli.command("vapid-keys")
def vapid_keys() -> None:
    """Print a new VAPID key pair for the environment (Web Push)."""
    from app.services.push import generate_vapid_keys

    private, public = generate_vapid_keys()
    click.echo(f"VAPID_PRIVATE_KEY={private}\nVAPID_PUBLIC_KEY={public}")


def register(app: Flask) -> None:
    app.cli.add_command(reminders_cli)
