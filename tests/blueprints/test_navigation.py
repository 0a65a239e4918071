"""The shell: each role's home, level/period/learner navigation, fragments vs full pages."""

from __future__ import annotations

from typing import Any

HX = {"HX-Request": "true"}


def test_teacher_lands_on_the_period_view_of_their_first_level(f: Any, login_as: Any) -> None:
    w = f.world()
    client = login_as(w.teacher)
    response = client.get("/", follow_redirects=True)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Vue par périodes" in page and "Vue par apprenants" in page
    assert w.period.name in page
    assert w.level.name in page


def test_period_view_shows_a_folder_per_learner_with_class_and_count(f: Any, login_as: Any) -> None:
    w = f.world()
    f.written(w.portfolio.sheets[0])
    f.written(w.portfolio.sheets[1])
    page = login_as(w.teacher).get(f"/periodes/{w.period.id}").get_data(as_text=True)
    expected = f"{w.learner.full_name} ({w.class_group.name}) (2 fiches)"
    assert expected in page
    assert f"{w.classmate.full_name} ({w.class_group.name}) (0 fiche)" in page
    assert "Fiche activité : semaine 24 [2026]" in page


def test_written_sheet_is_green_until_this_teacher_reads_it(f: Any, login_as: Any) -> None:
    from app.models import SheetRead
    from app.models.base import utcnow

    w = f.world()
    f.written(w.sheet)
    client = login_as(w.teacher)
    page = client.get(f"/periodes/{w.period.id}").get_data(as_text=True)
    assert 'class="sheet-title unread"' in page
    f.s.add(SheetRead(sheet_id=w.sheet.id, teacher_id=w.teacher.id, read_at=utcnow()))
    f.s.flush()
    page = client.get(f"/periodes/{w.period.id}").get_data(as_text=True)
    assert 'class="sheet-title unread"' not in page


def test_fragment_request_returns_the_shell_body_only(f: Any, login_as: Any) -> None:
    w = f.world()
    client = login_as(w.teacher)
    fragment = client.get(f"/periodes/{w.period.id}", headers=HX)
    assert fragment.status_code == 200
    body = fragment.get_data(as_text=True)
    assert body.lstrip().startswith('<div id="shell-body"')
    assert "<html" not in body
    assert "HX-Request" in fragment.headers.get("Vary", "")
    full = client.get(f"/periodes/{w.period.id}").get_data(as_text=True)
    assert full.startswith("<!doctype html>") and 'id="shell-body"' in full


def test_history_restore_gets_the_whole_page(f: Any, login_as: Any) -> None:
    w = f.world()
    headers = {**HX, "HX-History-Restore-Request": "true"}
    body = (
        login_as(w.teacher).get(f"/periodes/{w.period.id}", headers=headers).get_data(as_text=True)
    )
    assert body.startswith("<!doctype html>")


def test_learner_view_lists_portfolios_and_free_sheets(f: Any, login_as: Any) -> None:
    w = f.world()
    f.free_sheet(w.learner, title="Stage d'observation")
    page = login_as(w.teacher).get(f"/apprenants/{w.learner.id}").get_data(as_text=True)
    assert w.period.name in page
    assert "Fiches libres" in page and "Stage d&#39;observation" in page
    assert "Imprimer la synthèse des PFMP" in page


def test_learners_tab_lists_learners_of_the_level(f: Any, login_as: Any) -> None:
    w = f.world()
    page = login_as(w.teacher).get(f"/niveaux/{w.level.id}/apprenants").get_data(as_text=True)
    assert w.learner.last_name.upper() in page and w.classmate.last_name.upper() in page
    assert w.other_learner.last_name.upper() not in page


def test_each_role_lands_on_its_own_home(f: Any, login_as: Any) -> None:
    w = f.world()
    assert login_as(w.learner).get("/").headers["Location"].endswith("/mes-portfolios")
    assert login_as(w.tutor).get("/").headers["Location"].endswith("/mes-apprenants")
    assert login_as(w.admin).get("/").headers["Location"].endswith("/administration")
    learner_page = login_as(w.learner).get("/mes-portfolios").get_data(as_text=True)
    assert w.period.name in learner_page
    tutor_page = login_as(w.tutor).get("/mes-apprenants").get_data(as_text=True)
    assert w.learner.full_name in tutor_page and w.classmate.full_name not in tutor_page


def test_level_selector_fallback_redirects_to_the_level(f: Any, login_as: Any) -> None:
    w = f.world()
    client = login_as(w.teacher)
    assert client.get(f"/niveaux?level_id={w.level.id}").status_code == 302
    assert client.get(f"/niveaux?level_id={w.other_level.id}").status_code == 404
    assert client.get("/niveaux?level_id=abc").status_code == 404


def test_period_view_query_count_does_not_grow_with_learners(
    f: Any, login_as: Any, count_queries: Any
) -> None:
    w = f.world()
    client = login_as(w.teacher)
    url = f"/periodes/{w.period.id}"
    client.get(url)
    with count_queries() as small:
        assert client.get(url).status_code == 200
    for _ in range(8):
        learner = f.learner(w.class_group)
        for sheet in f.portfolio(w.period, learner).sheets:
            f.written(sheet)
    with count_queries() as large:
        page = client.get(url)
    assert page.status_code == 200
    assert large.count == small.count, large.statements
