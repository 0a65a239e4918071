"""Document routes: what each person downloads, in which format, and that it is theirs."""

from __future__ import annotations

import io
import subprocess
from datetime import date
from typing import Any

import docx
from flask import Flask

from app.models import Assessment

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
HX = {"HX-Request": "true"}


def pdf_text(pdf: bytes) -> str:
    result = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True)
    return " ".join(result.stdout.decode().split())


def test_teacher_downloads_a_learners_pre_agreement(f: Any, login_as: Any) -> None:
    w = f.world()
    response = login_as(w.teacher).get(f"/portfolios/{w.portfolio.id}/pre-convention.docx")
    assert response.status_code == 200
    assert response.mimetype == DOCX
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and ".docx" in disposition
    assert "private" in response.headers["Cache-Control"]
    document = docx.Document(io.BytesIO(response.data))
    text = "\n".join(p.text for p in document.paragraphs)
    assert "Pré-convention de formation en milieu professionnel" in text
    assert w.period.name in text


def test_learner_downloads_their_own_pre_agreement_only(f: Any, login_as: Any) -> None:
    w = f.world()
    client = login_as(w.learner)
    own = client.get(f"/portfolios/{w.portfolio.id}/pre-convention.docx")
    assert own.status_code == 200
    cells = [
        c.text for t in docx.Document(io.BytesIO(own.data)).tables for r in t.rows for c in r.cells
    ]
    assert w.learner.full_name in cells
    assert (
        client.get(f"/portfolios/{w.classmate_portfolio.id}/pre-convention.docx").status_code == 404
    )


def test_period_pre_agreements_stream_one_document_for_every_learner(f: Any, login_as: Any) -> None:
    w = f.world()
    response = login_as(w.teacher).get(f"/periodes/{w.period.id}/pre-conventions")
    assert response.status_code == 200
    assert response.is_streamed
    assert response.mimetype == DOCX
    document = docx.Document(io.BytesIO(response.get_data()))
    names = [
        row.cells[1].text
        for table in document.tables
        for row in table.rows
        if row.cells[0].text == "Nom et prénom"
    ]
    assert sorted(names) == sorted([w.learner.full_name, w.classmate.full_name])


def test_tutor_gets_their_mentees_meeting_grid_with_a_link_to_the_online_assessment(
    app: Flask, f: Any, login_as: Any
) -> None:
    w = f.world()
    client = login_as(w.tutor)
    response = client.get(f"/portfolios/{w.portfolio.id}/preparer-la-rencontre.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"].startswith("inline;")
    text = pdf_text(response.data)
    assert "Préparer la rencontre" in text and w.learner.full_name in text
    assert f"http://localhost/portfolios/{w.portfolio.id}/bilan" in text
    # Not the apprentice of the master, nor a learner of another level.
    assert (
        client.get(f"/portfolios/{w.classmate_portfolio.id}/preparer-la-rencontre.pdf").status_code
        == 404
    )
    assert (
        client.get(f"/portfolios/{w.other_portfolio.id}/preparer-la-rencontre.pdf").status_code
        == 404
    )


def test_meeting_grid_opens_the_assessment_and_uses_the_public_url(
    app: Flask, f: Any, login_as: Any
) -> None:
    w = f.world()
    portfolio = w.classmate_portfolio  # no assessment yet
    assert portfolio.assessment is None
    app.config["PUBLIC_URL"] = "https://passerelle.lycee.fr"
    try:
        response = login_as(w.master).get(f"/portfolios/{portfolio.id}/preparer-la-rencontre.pdf")
    finally:
        app.config["PUBLIC_URL"] = None
    assert response.status_code == 200
    assert f"https://passerelle.lycee.fr/portfolios/{portfolio.id}/bilan" in pdf_text(response.data)
    assert f.s.query(Assessment).filter_by(portfolio_id=portfolio.id).count() == 1


def test_placement_summary_for_the_learner_and_their_teacher(f: Any, login_as: Any) -> None:
    w = f.world()
    w.portfolio.liaison_sheet.company_name = "Électricité Générale Dupré"
    f.s.flush()
    for user in (w.learner, w.teacher):
        response = login_as(user).get(f"/apprenants/{w.learner.id}/synthese.pdf")
        assert response.status_code == 200
        text = pdf_text(response.data)
        assert w.learner.full_name in text
        assert "Électricité Générale Dupré" in text
        assert w.period.name in text
    assert login_as(w.learner).get(f"/apprenants/{w.classmate.id}/synthese.pdf").status_code == 404
    assert login_as(w.tutor).get(f"/apprenants/{w.learner.id}/synthese.pdf").status_code == 404


def test_level_synthesis_page_lists_every_learner_with_their_periods(f: Any, login_as: Any) -> None:
    w = f.world()
    f.written(w.portfolio.sheets[0])
    w.portfolio.liaison_sheet.company_name = "<script>alert('x')</script> Élec"
    f.s.flush()
    response = login_as(w.teacher).get(f"/niveaux/{w.level.id}/synthese")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert page.startswith("<!doctype html>")
    assert "Synthèse des formations en entreprise" in page
    assert w.learner.full_name in page and w.classmate.full_name in page
    assert w.other_learner.full_name not in page
    assert "1 / 3" in page  # one sheet written out of three
    assert "&lt;script&gt;alert(" in page and "<script>alert(" not in page
    assert f'href="/niveaux/{w.level.id}/synthese.pdf"' in page
    assert "css/documents.css" in page

    fragment = login_as(w.teacher).get(f"/niveaux/{w.level.id}/synthese", headers=HX)
    body = fragment.get_data(as_text=True)
    assert body.lstrip().startswith('<div id="shell-body"') and "<html" not in body


def test_level_synthesis_pdf_prints_the_same_rows(f: Any, login_as: Any) -> None:
    w = f.world()
    w.portfolio.liaison_sheet.company_name = "<b>Élec</b> & Fils"
    f.s.flush()
    response = login_as(w.teacher).get(f"/niveaux/{w.level.id}/synthese.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    text = pdf_text(response.data)
    assert w.learner.full_name in text and w.classmate.full_name in text
    assert "<b>Élec</b> & Fils" in text  # printed as typed, not interpreted
    assert "En cours" in text  # the world's learner has a draft assessment


def test_level_synthesis_page_queries_do_not_grow_with_learners(
    f: Any, login_as: Any, count_queries: Any
) -> None:
    def level_with(size: int) -> Any:
        level = f.level()
        group = f.class_group(level)
        learners = [f.learner(group) for _ in range(size)]
        for start in (date(2026, 1, 5), date(2026, 5, 4)):
            period = f.period(level, learners, start=start)
            for portfolio in period.portfolios:
                f.written(portfolio.sheets[0])
                f.assessment(portfolio)
        return level, f.teacher([level])

    counts = []
    for size in (2, 12):
        level, teacher = level_with(size)
        client = login_as(teacher)
        f.s.expire_all()
        with count_queries() as q:
            response = client.get(f"/niveaux/{level.id}/synthese")
        assert response.status_code == 200
        assert response.get_data(as_text=True).count("learner-group") == size
        counts.append(q.count)
    assert counts[0] == counts[1], counts


def test_unknown_ids_answer_404(f: Any, login_as: Any) -> None:
    w = f.world()
    client = login_as(w.teacher)
    for url in (
        "/portfolios/999999/pre-convention.docx",
        "/periodes/999999/pre-conventions",
        "/portfolios/999999/preparer-la-rencontre.pdf",
        "/apprenants/999999/synthese.pdf",
        "/niveaux/999999/synthese",
        "/niveaux/999999/synthese.pdf",
        f"/apprenants/{w.teacher.id}/synthese.pdf",  # not a learner
    ):
        assert client.get(url).status_code == 404, url
