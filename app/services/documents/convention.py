"""Convention de PFMP, DOCX (python-docx) and PDF (WeasyPrint), in the layout of the national
model convention for the PFMP of vocational-school pupils (convention type, circulaire
n° 2016-053): the parties, the general provisions, the pedagogical annex (dates, hours,
objectives and activities of the liaison sheet) and the financial annex (transport, meals,
lodging, insurance), then the signature blocks.

A whole period is ONE file with the pages of each learner, each learner starting on a new
page (as the pre-agreement batch): it prints in one action. Both formats are built from the
same `ConventionDoc` rows, loaded in a fixed number of queries.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from docx import Document
from docx.document import Document as DocxDocument
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.shared import Mm, Pt, RGBColor
from sqlalchemy import select
from sqlalchemy.orm import raiseload

from app import timefmt
from app.extensions import db
from app.models import Convention, Framework, Period, Portfolio
from app.models.convention import STATE_LABELS, ConventionState
from app.services.conventions import blank_convention, learner_is_minor
from app.services.documents import SchoolIdentity, portfolios_of
from app.services.documents.pdf import render_pdf

DOCX_MIMETYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
ACCENT = RGBColor(0x1F, 0x4E, 0x79)
TITLE = "Convention relative à la formation en milieu professionnel"
TO_FILL = "à compléter"
HEAD = "Le chef d'établissement"

# The general provisions of the national model, condensed (Titre I of the convention type).
ARTICLES: tuple[tuple[str, str], ...] = (
    (
        "Article 1 – Objet",
        "La présente convention règle les rapports entre l'entreprise ou l'organisme "
        "d'accueil, l'établissement d'enseignement et l'élève (ou son représentant légal) "
        "pour l'organisation de la période de formation en milieu professionnel (PFMP) "
        "prévue par le référentiel du diplôme préparé.",
    ),
    (
        "Article 2 – Finalité",
        "La PFMP a pour objet l'acquisition de compétences professionnelles définies dans "
        "l'annexe pédagogique. L'élève y réalise des activités en relation directe avec sa "
        "formation ; il ne peut être affecté qu'à des activités conformes à ses objectifs.",
    ),
    (
        "Article 3 – Annexes",
        "L'annexe pédagogique et l'annexe financière font partie intégrante de la présente "
        "convention. Elles sont signées par les mêmes parties.",
    ),
    (
        "Article 4 – Statut de l'élève",
        "Pendant la PFMP, l'élève demeure sous statut scolaire et sous l'autorité du chef "
        "d'établissement. Il ne peut prétendre à aucune rémunération de l'entreprise ; il est "
        "soumis aux règles d'hygiène, de sécurité et d'horaires de l'entreprise.",
    ),
    (
        "Article 5 – Durée et horaires",
        "La durée hebdomadaire de présence de l'élève ne peut dépasser la durée légale du "
        "travail ; pour un élève mineur, ni 8 heures par jour ni 35 heures par semaine, "
        "avec un repos quotidien de 14 heures consécutives et deux jours de repos "
        "hebdomadaire consécutifs. Le travail de nuit est interdit aux mineurs.",
    ),
    (
        "Article 6 – Encadrement et suivi",
        "Le tuteur désigné par l'entreprise accueille l'élève, l'encadre et participe à son "
        "évaluation avec le professeur référent, qui suit l'élève pendant la période. En fin "
        "de période, l'entreprise remet une attestation de stage.",
    ),
    (
        "Article 7 – Responsabilité et assurance",
        "Le chef d'entreprise prend les dispositions nécessaires pour garantir sa "
        "responsabilité civile chaque fois qu'elle sera engagée ; le chef d'établissement "
        "contracte une assurance couvrant la responsabilité civile de l'élève pour les "
        "dommages qu'il pourrait causer pendant la période.",
    ),
    (
        "Article 8 – Accident",
        "En cas d'accident survenant à l'élève en entreprise ou sur le trajet, le chef "
        "d'entreprise en informe sans délai le chef d'établissement, qui fait la déclaration "
        "d'accident du travail (articles L. 412-8 et R. 412-4 du code de la sécurité sociale).",
    ),
    (
        "Article 9 – Discipline et suspension",
        "En cas de manquement à la discipline, le chef d'entreprise peut mettre fin à la "
        "période après en avoir informé le chef d'établissement. La convention peut être "
        "suspendue ou résiliée par l'une des parties en cas de difficulté.",
    ),
)


@dataclass(frozen=True)
class Signature:
    label: str
    name: str
    signed_on: date | None


@dataclass(frozen=True)
class ConventionDoc:
    """Everything one learner's convention shows, loaded before rendering."""

    learner_name: str
    birth_date: date | None
    class_name: str
    diploma: str
    is_minor: bool
    guardian: list[tuple[str, str]]
    company: list[tuple[str, str]]
    tutor: list[tuple[str, str]]
    referent_teacher: str
    period_name: str
    start: date
    end: date
    weeks: int
    daily_schedule: str
    weekly_hours: str
    objectives: str
    activities: str
    financial: list[tuple[str, str]]
    insurance: list[tuple[str, str]]
    state_label: str
    signatures: list[Signature]


def load_conventions(
    *, period: Period | None = None, portfolio: Portfolio | None = None
) -> list[ConventionDoc]:
    """The conventions of a period (every learner, by name) or of one portfolio: 6 queries."""
    portfolios = portfolios_of(period=period, portfolio=portfolio)
    ids = [p.id for p in portfolios]
    conventions = {
        c.portfolio_id: c
        for c in db.session.scalars(
            select(Convention)
            .where(Convention.portfolio_id.in_(ids or [-1]))
            .options(raiseload("*"))
        )
    }
    diplomas = _diplomas({p.period.level.framework_id for p in portfolios})
    return [_doc(p, conventions.get(p.id) or blank_convention(p), diplomas) for p in portfolios]


def _diplomas(framework_ids: set[int]) -> dict[int, str]:
    if not framework_ids:
        return {}
    rows = db.session.execute(
        select(Framework.id, Framework.title).where(Framework.id.in_(framework_ids))
    )
    return {framework_id: title for framework_id, title in rows}


def _hours(value: Decimal | None) -> str:
    if value is None:
        return ""
    return f"{value:f}".removesuffix(".0").replace(".", ",") + " heures"


def _doc(portfolio: Portfolio, convention: Convention, diplomas: dict[int, str]) -> ConventionDoc:
    period, learner, sheet = portfolio.period, portfolio.learner, portfolio.liaison_sheet
    tutor = portfolio.tutor
    minor = learner_is_minor(learner, period)
    company_name = (sheet.company_name if sheet else "") or (tutor.company_name if tutor else "")
    tutor_name = (sheet.tutor_name if sheet else "") or (tutor.full_name if tutor else "")
    company = [
        ("Raison sociale", company_name or ""),
        ("N° SIRET", sheet.company_siret if sheet else ""),
        ("Adresse du lieu de la PFMP", sheet.company_address if sheet else ""),
        ("Téléphone", sheet.company_phone if sheet else ""),
        ("Représentée par", convention.company_representative),
        ("Fonction du représentant", convention.company_representative_role),
    ]
    tutor_rows = [
        ("Tuteur", tutor_name or ""),
        ("Fonction", (sheet.tutor_role if sheet else "") or (tutor.job_title if tutor else "")),
        ("Courriel", (sheet.tutor_email if sheet else "") or (tutor.email if tutor else "") or ""),
        ("Téléphone", (sheet.tutor_phone if sheet else "") or (tutor.phone if tutor else "")),
    ]
    guardian = [
        ("Nom et prénom", convention.guardian_name),
        ("Adresse", convention.guardian_address),
        ("Téléphone", convention.guardian_phone),
        ("Courriel", convention.guardian_email),
    ]
    signatures = [
        Signature(HEAD, "", convention.head_signed_on),  # named from the school, see head()
        Signature(
            "Pour l'entreprise, le représentant",
            convention.company_representative,
            convention.company_signed_on,
        ),
        Signature("L'élève", learner.full_name, convention.family_signed_on),
    ]
    if minor:
        signatures.append(
            Signature(
                "Le représentant légal", convention.guardian_name, convention.family_signed_on
            )
        )
    referent = portfolio.referent_teacher.full_name if portfolio.referent_teacher else ""
    return ConventionDoc(
        learner_name=learner.full_name,
        birth_date=learner.birth_date,
        class_name=learner.class_name,
        diploma=diplomas.get(period.level.framework_id, ""),
        is_minor=minor,
        guardian=_clean(guardian),
        company=_clean(company),
        tutor=_clean(tutor_rows),
        referent_teacher=referent,
        period_name=period.name,
        start=period.start_date,
        end=period.end_date,
        weeks=len(timefmt.iso_weeks(period.start_date, period.end_date)),
        daily_schedule=convention.daily_schedule,
        weekly_hours=_hours(convention.weekly_hours),
        objectives=(sheet.objectives if sheet else period.objectives) or "",
        activities=(sheet.activities if sheet else period.activities) or "",
        financial=_clean(
            [
                ("Transport", convention.transport),
                ("Restauration", convention.meals),
                ("Hébergement", convention.lodging),
            ]
        ),
        insurance=_clean(
            [
                ("Assureur de l'entreprise (responsabilité civile)", convention.company_insurer),
                ("N° de contrat", convention.company_policy),
                ("Assureur de l'établissement", convention.school_insurer),
            ]
        ),
        state_label=STATE_LABELS[ConventionState(convention.state)],
        signatures=signatures,
    )


def _clean(rows: Sequence[tuple[str, str | None]]) -> list[tuple[str, str]]:
    return [(label, (value or "").strip()) for label, value in rows]


def head(school: SchoolIdentity) -> str:
    """ "Mme Anne Le Goff, chef d'établissement", or the bare title when no name is set."""
    return f"{school.head_name}, chef d'établissement" if school.head_name else HEAD


def learner_rows(doc: ConventionDoc) -> list[tuple[str, str]]:
    return [
        ("Nom et prénom", doc.learner_name),
        ("Date de naissance", timefmt.fr_date(doc.birth_date)),
        ("Classe", doc.class_name),
        ("Diplôme préparé", doc.diploma),
    ]


def period_text(doc: ConventionDoc) -> str:
    weeks = f"{doc.weeks} semaine{'s' if doc.weeks > 1 else ''}"
    return f"du {timefmt.fr_long_date(doc.start)} au {timefmt.fr_long_date(doc.end)} ({weeks})"


# --- DOCX -------------------------------------------------------------------------------------


def convention_docx(docs: list[ConventionDoc], school: SchoolIdentity) -> bytes:
    """One DOCX with every learner's convention, each starting on a new page."""
    document = _base_document(school)
    if not docs:
        document.add_paragraph("Aucun apprenant n'est affecté à cette période.")
    for index, doc in enumerate(docs):
        _write_convention(document, doc, school, new_page=index > 0)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def _base_document(school: SchoolIdentity) -> DocxDocument:
    document = Document()
    section = document.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.left_margin = section.right_margin = Mm(18)
    section.top_margin, section.bottom_margin = Mm(15), Mm(15)
    styles = document.styles
    normal = styles["Normal"]
    normal.font.name = "Calibri"
    normal.font.size = Pt(10)
    normal.paragraph_format.space_after = Pt(3)
    for name, size in (("Heading 1", 15), ("Heading 2", 12), ("Heading 3", 10.5)):
        style = styles[name]
        style.font.size = Pt(size)
        style.font.color.rgb = ACCENT
        style.paragraph_format.space_before = Pt(8)
        style.paragraph_format.space_after = Pt(3)
        style.paragraph_format.keep_with_next = True
    footer = section.footer.paragraphs[0]
    footer.text = f"Convention de PFMP — {school.name}"
    footer.alignment = WD_ALIGN_PARAGRAPH.CENTER
    document.core_properties.title = "Convention de PFMP"
    document.core_properties.author = school.name
    return document


def _write_convention(
    document: DocxDocument, doc: ConventionDoc, school: SchoolIdentity, *, new_page: bool
) -> None:
    top = document.add_paragraph()
    top.paragraph_format.page_break_before = new_page
    if school.logo is not None:
        top.add_run().add_picture(str(school.logo), height=Mm(14))
        top.add_run("  ")
    name = top.add_run(school.name)
    name.bold = True
    name.font.size = Pt(12)
    title = document.add_heading(TITLE, level=1)
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    sub = document.add_paragraph(f"des élèves de lycée professionnel — {doc.period_name}")
    sub.alignment = WD_ALIGN_PARAGRAPH.CENTER
    sub.runs[0].italic = True

    document.add_heading("Entre", level=2)
    document.add_heading("L'établissement d'enseignement", level=3)
    _table(
        document,
        [
            ("Nom", school.name),
            ("Adresse", " – ".join(school.address_lines)),
            ("UAI", school.uai),
            ("Contact", school.contact),
            ("Représenté par", head(school)),
        ],
    )
    document.add_heading("Et l'entreprise ou l'organisme d'accueil", level=3)
    _table(document, doc.company)
    document.add_heading("Et l'élève", level=3)
    _table(document, learner_rows(doc))
    if doc.is_minor:
        document.add_heading("Et son représentant légal (élève mineur)", level=3)
        _table(document, doc.guardian)

    document.add_heading("Titre I – Dispositions générales", level=2)
    for heading, text in ARTICLES:
        paragraph = document.add_paragraph()
        paragraph.add_run(f"{heading}. ").bold = True
        paragraph.add_run(text)

    annex = document.add_heading("Annexe pédagogique", level=2)
    annex.paragraph_format.page_break_before = True  # the annexes start a page, as on paper
    _table(
        document,
        [
            ("Période", period_text(doc)),
            ("Horaires journaliers", doc.daily_schedule),
            ("Durée hebdomadaire", doc.weekly_hours),
            ("Professeur référent", doc.referent_teacher),
            *doc.tutor,
        ],
    )
    document.add_heading("Objectifs de formation", level=3)
    _text(document, doc.objectives)
    document.add_heading("Activités confiées à l'élève", level=3)
    _text(document, doc.activities)

    document.add_heading("Annexe financière", level=2)
    document.add_paragraph("Modalités de prise en charge des frais de l'élève pendant la période :")
    _table(document, doc.financial)
    document.add_heading("Assurances", level=3)
    _table(document, doc.insurance)

    document.add_heading("Signatures", level=2)
    document.add_paragraph(f"État de la convention : {doc.state_label}.")
    _signatures(document, doc.signatures, school)


def _table(document: DocxDocument, rows: list[tuple[str, str]]) -> None:
    table = document.add_table(rows=len(rows), cols=2)
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    table.columns[0].width, table.columns[1].width = Mm(58), Mm(116)  # LibreOffice: the grid
    for row, (label, value) in zip(table.rows, rows, strict=True):
        label_cell, value_cell = row.cells
        label_cell.width, value_cell.width = Mm(58), Mm(116)
        label_cell.paragraphs[0].add_run(label).bold = True
        lines = (value or "").splitlines() or [""]
        if not value:
            value_cell.paragraphs[0].add_run(TO_FILL).italic = True
            continue
        value_cell.paragraphs[0].add_run(lines[0])
        for extra in lines[1:]:
            value_cell.add_paragraph(extra)


def _text(document: DocxDocument, text: str) -> None:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        document.add_paragraph("À préciser avec le professeur référent.").runs[0].italic = True
    for line in lines:
        document.add_paragraph(line.lstrip("-•* "), style="List Bullet")


def _signatures(
    document: DocxDocument, signatures: list[Signature], school: SchoolIdentity
) -> None:
    table = document.add_table(rows=2, cols=len(signatures))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    for cell, signature in zip(table.rows[0].cells, signatures, strict=True):
        cell.paragraphs[0].add_run(signature.label).bold = True
        name = signature.name or (school.head_name if signature.label == HEAD else "")
        if name:
            cell.add_paragraph(name)
        when = timefmt.fr_date(signature.signed_on) if signature.signed_on else "…/…/……"
        cell.add_paragraph(f"Le {when}")
    table.rows[1].height = Mm(24)


# --- PDF --------------------------------------------------------------------------------------


def convention_pdf(docs: list[ConventionDoc], school: SchoolIdentity) -> bytes:
    """The same conventions as PDF (DejaVu fonts: accents render), a page break per learner."""
    return render_pdf(
        "documents/convention_pdf.html",
        logo=school.logo,
        school=school,
        docs=docs,
        articles=ARTICLES,
        title=TITLE,
        learner_rows=learner_rows,
        period_text=period_text,
        head=head(school),
        head_label=HEAD,
    )
