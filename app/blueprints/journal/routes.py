"""Journal activité entreprise (SPEC F5): the learner's day-by-day log of a period, read and
printed by the teachers of the level and the tutor of the portfolio."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, make_response, redirect, render_template, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from app import access
from app.blueprints.journal.forms import JournalEntryForm, default_day
from app.errors import InvalidInput
from app.extensions import db
from app.models import JournalEntry, Portfolio
from app.services import journal as service
from app.services import sheets as sheet_service
from app.timefmt import PARIS

bp = Blueprint("journal", __name__)


def _portfolio_or_404(portfolio_id: int) -> Portfolio:
    portfolio = sheet_service.load_portfolio(portfolio_id)
    access.ensure(portfolio is not None and access.can_view_journal(current_user, portfolio))
    assert portfolio is not None
    return portfolio


def _entry_or_404(portfolio: Portfolio, entry_id: int) -> JournalEntry:
    entry = db.session.get(JournalEntry, entry_id)
    access.ensure(entry is not None and entry.portfolio_id == portfolio.id)
    assert entry is not None
    return entry


def _form(
    portfolio: Portfolio, entry: JournalEntry | None = None, **kwargs: Any
) -> JournalEntryForm:
    groups = service.framework_tasks(portfolio.period.level.framework_id)
    return JournalEntryForm(portfolio, groups, entry, **kwargs)


def _journal_page(
    portfolio: Portfolio, form: JournalEntryForm | None, status: int = 200
) -> Response:
    entries = service.load_entries(portfolio.id)
    journal = service.Journal(portfolio, entries)
    html = render_template(
        "journal/page.html",
        portfolio=portfolio,
        journal=journal,
        form=form,
        can_write=access.can_write_journal(current_user, portfolio),
        format_hours=service.format_hours,
    )
    return make_response(html, status)


@bp.get("/portfolios/<int:portfolio_id>/journal")
@login_required
def index(portfolio_id: int) -> Response:
    portfolio = _portfolio_or_404(portfolio_id)
    form = None
    if access.can_write_journal(current_user, portfolio):
        from app.models.base import utcnow

        form = _form(portfolio, formdata=None)
        form.entry_date.data = default_day(portfolio, utcnow().astimezone(PARIS).date())
    return _journal_page(portfolio, form)


@bp.post("/portfolios/<int:portfolio_id>/journal")
@login_required
def create(portfolio_id: int) -> Response:
    portfolio = _portfolio_or_404(portfolio_id)
    access.ensure(access.can_write_journal(current_user, portfolio), hide=False)
    form = _form(portfolio)
    if form.validate_on_submit() and _save(portfolio, form, None):
        flash("Journée ajoutée au journal.", "success")
        return redirect(url_for("journal.index", portfolio_id=portfolio.id), 303)
    return _journal_page(portfolio, form, 422)


def _save(portfolio: Portfolio, form: JournalEntryForm, entry: JournalEntry | None) -> bool:
    assert form.entry_date.data is not None
    try:
        service.save_entry(
            portfolio,
            current_user,
            entry=entry,
            entry_date=form.entry_date.data,
            hours=form.hours.data,
            description=form.description.data or "",
            task_ids=form.task_ids,
        )
    except InvalidInput as error:
        form.description.errors = [*form.description.errors, error.message]
        return False
    db.session.commit()
    return True


@bp.route("/portfolios/<int:portfolio_id>/journal/<int:entry_id>", methods=["GET", "POST"])
@login_required
def edit(portfolio_id: int, entry_id: int) -> Response:
    portfolio = _portfolio_or_404(portfolio_id)
    entry = _entry_or_404(portfolio, entry_id)
    access.ensure(access.can_write_journal(current_user, portfolio), hide=False)
    form = _form(portfolio, entry)
    if form.is_submitted():
        if form.validate() and _save(portfolio, form, entry):
            flash("Journée modifiée.", "success")
            return redirect(url_for("journal.index", portfolio_id=portfolio.id), 303)
        status = 422
    else:
        form = _form(portfolio, entry, formdata=None)
        form.entry_date.data = entry.entry_date
        form.hours.data = f"{entry.hours.normalize():f}".replace(".", ",")
        form.description.data = entry.description
        form.tasks.data = [str(task.id) for task in entry.tasks]
        status = 200
    html = render_template("journal/edit.html", portfolio=portfolio, entry=entry, form=form)
    return make_response(html, status)


@bp.post("/portfolios/<int:portfolio_id>/journal/<int:entry_id>/supprimer")
@login_required
def delete(portfolio_id: int, entry_id: int) -> Response:
    portfolio = _portfolio_or_404(portfolio_id)
    entry = _entry_or_404(portfolio, entry_id)
    access.ensure(access.can_write_journal(current_user, portfolio), hide=False)
    service.delete_entry(entry, current_user)
    db.session.commit()
    flash("Journée retirée du journal.", "success")
    return redirect(url_for("journal.index", portfolio_id=portfolio.id), 303)
