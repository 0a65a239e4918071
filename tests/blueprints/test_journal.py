"""The journal pages: the learner logs days; the teacher and the tutor read and print."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from app.models import JournalEntry

XSS = "<script>alert('x')</script>"


def _day(w: Any, offset: int = 0, **kw: Any) -> dict[str, Any]:
    data = {
        "entry_date": (w.period.start_date + timedelta(days=offset)).isoformat(),
        "hours": "7,5",
        "description": "Pose de goulottes et de prises.",
    }
    data.update(kw)
    return data


def test_learner_logs_days_and_teacher_and_tutor_read(f: Any, login_as: Any) -> None:
    w = f.world()
    task = w.level.framework.activities[1].tasks[0]
    client = login_as(w.learner)
    page = client.get(f"/portfolios/{w.portfolio.id}/journal").get_data(as_text=True)
    assert "Ajouter une journée" in page and "Aucune journée" in page
    assert f'value="{w.period.start_date.isoformat()}"' in page  # the day defaults into the period
    response = client.post(
        f"/portfolios/{w.portfolio.id}/journal", data=_day(w, 0, tasks=[str(task.id)])
    )
    assert response.status_code == 303
    client.post(f"/portfolios/{w.portfolio.id}/journal", data=_day(w, 1, hours="8"))
    entries = f.s.query(JournalEntry).filter_by(portfolio_id=w.portfolio.id).all()
    assert sorted(e.hours for e in entries) == [Decimal("7.50"), Decimal("8.00")]

    for reader in (w.teacher, w.tutor):
        page = login_as(reader).get(f"/portfolios/{w.portfolio.id}/journal").get_data(as_text=True)
        assert "Pose de goulottes et de prises." in page
        assert "15,5 h au total" in page and "7,5 h" in page
        assert task.code in page
        assert "Ajouter une journée" not in page and "Modifier" not in page
        assert "Imprimer le journal" in page
        assert "css/sheets.css" in page
    assert login_as(w.master).get(f"/portfolios/{w.portfolio.id}/journal").status_code == 404


def test_print_stylesheet_exists(app: Any) -> None:
    from pathlib import Path

    css = (Path(app.static_folder) / "css" / "sheets.css").read_text()
    assert "@media print" in css and ".journal-table" in css


def test_bad_days_come_back_in_french_with_the_input_kept(f: Any, login_as: Any) -> None:
    w = f.world()
    client = login_as(w.learner)
    url = f"/portfolios/{w.portfolio.id}/journal"
    outside = client.post(url, data=_day(w, -3, description="Garde ce texte"))
    assert outside.status_code == 422
    page = outside.get_data(as_text=True)
    assert "Choisissez un jour de la période" in page and "Garde ce texte" in page
    too_many = client.post(url, data=_day(w, 0, hours="30"))
    assert too_many.status_code == 422
    assert "entre 0 et 24" in too_many.get_data(as_text=True)
    assert 'value="30"' in too_many.get_data(as_text=True)
    for data, message in (
        (_day(w, 0, description=""), "Décrivez ce que vous avez fait"),
        (_day(w, 0, entry_date="31/02/2026"), "Saisissez une date valide"),
        (_day(w, 0, entry_date="pas une date"), "Saisissez une date valide"),
        (_day(w, 0, hours=""), "Indiquez le nombre d&#39;heures."),
        (_day(w, 0, tasks=["999999"]), "Choisissez des tâches de la liste."),
        (
            _day(w, 0, tasks=[str(w.other_level.framework.activities[0].tasks[0].id)]),
            "Choisissez des tâches",
        ),
    ):
        response = client.post(url, data=data)
        assert response.status_code == 422, data
        assert message in response.get_data(as_text=True), data
    assert f.s.query(JournalEntry).count() == 0
    client.post(url, data=_day(w, 0))
    twice = client.post(url, data=_day(w, 0))
    assert twice.status_code == 422 and "déjà une entrée" in twice.get_data(as_text=True)


def test_french_date_format_is_accepted(f: Any, login_as: Any) -> None:
    w = f.world()
    day = w.period.start_date
    response = login_as(w.learner).post(
        f"/portfolios/{w.portfolio.id}/journal",
        data=_day(w, 0, entry_date=day.strftime("%d/%m/%Y")),
    )
    assert response.status_code == 303
    assert f.s.query(JournalEntry).one().entry_date == day


def test_edit_and_delete_an_entry(f: Any, login_as: Any) -> None:
    w = f.world()
    client = login_as(w.learner)
    client.post(f"/portfolios/{w.portfolio.id}/journal", data=_day(w, 0))
    entry = f.s.query(JournalEntry).one()
    url = f"/portfolios/{w.portfolio.id}/journal/{entry.id}"
    form = client.get(url).get_data(as_text=True)
    assert "Pose de goulottes" in form and 'value="7,5"' in form
    assert client.post(url, data=_day(w, 2, hours="6", description="Corrigé")).status_code == 303
    f.s.expire_all()
    entry = f.s.get(JournalEntry, entry.id)
    assert (entry.description, entry.hours) == ("Corrigé", Decimal("6.00"))
    assert entry.entry_date == w.period.start_date + timedelta(days=2)
    assert login_as(w.tutor).post(f"{url}/supprimer").status_code == 403
    assert client.post(f"{url}/supprimer").status_code == 303
    assert f.s.query(JournalEntry).count() == 0
    # Another learner's entry through this portfolio's URL: 404.
    other = JournalEntry(
        portfolio_id=w.classmate_portfolio.id, entry_date=w.period.start_date,
        hours=Decimal(7), description="x",
    )  # fmt: skip
    f.s.add(other)
    f.s.flush()
    assert client.get(f"/portfolios/{w.portfolio.id}/journal/{other.id}").status_code == 404
    assert (
        client.post(f"/portfolios/{w.portfolio.id}/journal/{other.id}/supprimer").status_code == 404
    )


def test_html_in_the_journal_is_escaped(f: Any, login_as: Any) -> None:
    w = f.world()
    login_as(w.learner).post(
        f"/portfolios/{w.portfolio.id}/journal", data=_day(w, 0, description=XSS)
    )
    for reader in (w.learner, w.teacher, w.tutor):
        page = login_as(reader).get(f"/portfolios/{w.portfolio.id}/journal").get_data(as_text=True)
        assert "<script>alert" not in page and "&lt;script&gt;" in page


def test_journal_query_count_does_not_grow(f: Any, login_as: Any, count_queries: Any) -> None:
    w = f.world()
    tasks = w.level.framework.activities[0].tasks
    client = login_as(w.teacher)
    url = f"/portfolios/{w.portfolio.id}/journal"

    def measure() -> Any:
        client.get(url)
        f.s.expunge_all()
        with count_queries() as counter:
            assert client.get(url).status_code == 200
        return counter

    def add(offset: int) -> None:
        entry = JournalEntry(
            portfolio_id=w.portfolio.id,
            entry_date=w.period.start_date + timedelta(days=offset),
            hours=Decimal(7),
            description=f"Jour {offset}",
        )
        entry.tasks = [f.s.merge(t) for t in tasks[:2]]
        f.s.add(entry)
        f.s.flush()

    add(0)
    small = measure()
    for offset in range(1, 13):
        add(offset)
    large = measure()
    assert large.count == small.count, large.statements
