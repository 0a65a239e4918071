"""Pré-convention (pre-agreement), DOCX: one learner, or every learner of a period.

A whole period gives ONE document with a page per learner, not a ZIP of one file per learner:
the pre-agreements are printed and handed out in class, and one file opens and prints in one
action on any school computer or phone, with no unzipping and no thirty files to open. Each
learner starts on a new page (`page_break_before` on the first paragraph of their pages), so
the printed pile splits naturally.

The batch is streamed, so a large period cannot time out behind a proxy and memory stays flat:
the package parts that do not depend on the learners (styles, settings, footer, logo…) are
written first, then `word/document.xml` is written learner by learner into a ZIP entry with a
data descriptor (ZIP flag bit 3, which Word and LibreOffice themselves write), and each
learner's chunk is sent to the client as soon as it is built. Measured on this machine:
35 learners in about 0.5 s of CPU (printed by tests/services/test_documents.py with -s).
"""

from __future__ import annotations

import io
import re
import time
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date

from docx import Document
from docx.document import Document as DocxDocument
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Length, Mm, Pt, RGBColor
from docx.table import Table, _Row
from lxml import etree

from app import timefmt
from app.models import Learner, Period, Portfolio
from app.models.user import LearnerStatus
from app.services.documents import SchoolIdentity, portfolios_of

DOCX_MIMETYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
DAYS = ["Lundi", "Mardi", "Mercredi", "Jeudi", "Vendredi", "Samedi"]
ACCENT = RGBColor(0x1F, 0x4E, 0x79)
BULLET = re.compile(r"^\s*(?:[-*•–]\s+)")


# --- data -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreAgreement:
    """Everything one learner's page shows, loaded before generation starts."""

    learner_name: str
    class_name: str
    status_label: str
    is_minor: bool
    period_name: str
    start: date
    end: date
    weeks: int
    objectives: str
    activities: str
    company: list[tuple[str, str]]
    company_known: bool
    referent_teacher: str


def load_pre_agreements(
    *, period: Period | None = None, portfolio: Portfolio | None = None
) -> list[PreAgreement]:
    """The pages of a period (every learner, by name) or of one portfolio: 5 queries."""
    return [_page(p) for p in portfolios_of(period=period, portfolio=portfolio)]


def _page(portfolio: Portfolio) -> PreAgreement:
    period, learner, sheet = portfolio.period, portfolio.learner, portfolio.liaison_sheet
    tutor = portfolio.tutor
    company_name = (sheet.company_name if sheet else "") or (tutor.company_name if tutor else "")
    tutor_name = (sheet.tutor_name if sheet else "") or (tutor.full_name if tutor else "")
    company = [
        ("Raison sociale", company_name or ""),
        ("N° SIRET", sheet.company_siret if sheet else ""),
        ("Adresse", sheet.company_address if sheet else ""),
        ("Téléphone", sheet.company_phone if sheet else ""),
        ("Tuteur ou maître d'apprentissage", tutor_name or ""),
        ("Fonction", (sheet.tutor_role if sheet else "") or (tutor.job_title if tutor else "")),
        ("Courriel", (sheet.tutor_email if sheet else "") or (tutor.email if tutor else "") or ""),
        ("Téléphone du tuteur", sheet.tutor_phone if sheet else ""),
    ]
    return PreAgreement(
        learner_name=learner.full_name,
        class_name=learner.class_name,
        status_label=_status_label(learner),
        is_minor=_is_minor(learner.birth_date, period.start_date),
        period_name=period.name,
        start=period.start_date,
        end=period.end_date,
        weeks=len(timefmt.iso_weeks(period.start_date, period.end_date)),
        objectives=(sheet.objectives if sheet else period.objectives) or "",
        activities=(sheet.activities if sheet else period.activities) or "",
        company=[(label, (value or "").strip()) for label, value in company],
        company_known=bool(company_name.strip()),
        referent_teacher=portfolio.referent_teacher.full_name if portfolio.referent_teacher else "",
    )


def _status_label(learner: Learner) -> str:
    if learner.learner_status == LearnerStatus.APPRENTICE:
        return "Apprenti(e)"
    return "Élève sous statut scolaire"


def _is_minor(birth: date | None, on: date) -> bool:
    if birth is None:
        return False
    age = on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))
    return age < 18


# --- generation -------------------------------------------------------------------------------


def pre_agreement_docx(pages: list[PreAgreement], school: SchoolIdentity) -> bytes:
    """The whole document in memory (one learner, tests)."""
    return b"".join(stream_pre_agreements(pages, school))


def stream_pre_agreements(pages: Iterable[PreAgreement], school: SchoolIdentity) -> Iterator[bytes]:
    """Yield the bytes of one DOCX holding a page per learner, a learner at a time."""
    document = _base_document(school)
    shell = io.BytesIO()
    document.save(shell)
    body = document.element.body
    sink = _Sink()
    with (
        zipfile.ZipFile(shell) as source,
        zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as package,
    ):
        main_xml = source.read("word/document.xml")
        split = main_xml.rfind(b"<w:sectPr")
        head, tail = main_xml[:split], main_xml[split:]
        # [Content_Types].xml first, as Office writes it.
        names = sorted(source.namelist(), key=lambda n: n != "[Content_Types].xml")
        for name in names:
            if name != "word/document.xml":
                package.writestr(name, source.read(name))
        yield sink.drain()
        shape_ids = iter(range(1, 1_000_000))
        # The root element already declares these; each serialised child would repeat them.
        declared = [
            f' xmlns:{prefix}="{uri}"'.encode()
            for prefix, uri in document.element.nsmap.items()
            if prefix
        ]
        entry_info = zipfile.ZipInfo("word/document.xml", time.localtime()[:6])
        entry_info.compress_type = zipfile.ZIP_DEFLATED
        with package.open(entry_info, "w") as entry:
            entry.write(head)
            for index, page in enumerate(list(pages) or [None]):
                if page is None:  # a period without learners still gives a document
                    document.add_paragraph("Aucun apprenant n'est affecté à cette période.")
                else:
                    _write_page(document, page, school, first=index == 0)
                for element in list(body)[:-1]:  # everything but the section properties
                    for doc_pr in element.iter(qn("wp:docPr")):
                        doc_pr.set("id", str(next(shape_ids)))  # unique across learners
                    xml = etree.tostring(element, encoding="utf-8", xml_declaration=False)
                    entry.write(_without_declarations(xml, declared))
                    body.remove(element)
                yield sink.drain()
            entry.write(tail)
    yield sink.drain()


def _without_declarations(xml: bytes, declared: list[bytes]) -> bytes:
    end = xml.index(b">")
    start_tag = xml[:end]
    for declaration in declared:
        start_tag = start_tag.replace(declaration, b"")
    return start_tag + xml[end:]


class _Sink:
    """A write-only, unseekable stream: zipfile then writes data descriptors, and the bytes
    written so far can be handed to the client."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def drain(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def _base_document(school: SchoolIdentity) -> DocxDocument:
    """Styles, A4 page, margins, footer and the logo part, without any learner."""
    document = Document()
    section = document.sections[0]
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.left_margin = section.right_margin = Mm(18)
    section.top_margin, section.bottom_margin = Mm(15), Mm(15)
    section.header_distance = section.footer_distance = Mm(8)
    styles = document.styles
    normal = styles["Normal"]
    normal.font.name = "Calibri"
    normal.font.size = Pt(10.5)
    normal.paragraph_format.space_after = Pt(3)
    for name, size in (("Heading 1", 16), ("Heading 2", 12.5)):
        style = styles[name]
        style.font.size = Pt(size)
        style.font.color.rgb = ACCENT
        style.paragraph_format.space_before = Pt(10 if name == "Heading 2" else 4)
        style.paragraph_format.space_after = Pt(4)
        style.paragraph_format.keep_with_next = True
    footer = section.footer.paragraphs[0]
    footer.text = f"Pré-convention — {school.name}"
    footer.alignment = WD_ALIGN_PARAGRAPH.CENTER
    footer.style = styles["Footer"]
    if school.logo is not None:
        document.part.get_or_add_image(str(school.logo))  # shared by every learner's page
    package_rels = document.part.package.rels
    for rel_id, rel in list(package_rels.items()):
        if rel.reltype.endswith("/thumbnail"):  # the blank template's preview image
            del package_rels[rel_id]
    document.core_properties.title = "Pré-convention"
    document.core_properties.author = school.name
    return document


def _write_page(
    doc: DocxDocument, page: PreAgreement, school: SchoolIdentity, *, first: bool
) -> None:
    _school_header(doc, school, new_page=not first)
    title = doc.add_heading("Pré-convention de formation en milieu professionnel", level=1)
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    subtitle = doc.add_paragraph(page.period_name)
    subtitle.alignment = WD_ALIGN_PARAGRAPH.CENTER
    subtitle.runs[0].bold = True

    doc.add_heading("Apprenant", level=2)
    _label_table(
        doc,
        [
            ("Nom et prénom", page.learner_name),
            ("Classe", page.class_name),
            ("Statut", page.status_label),
            (
                "Période",
                f"du {timefmt.fr_long_date(page.start)} au {timefmt.fr_long_date(page.end)} "
                f"({page.weeks} semaine{'s' if page.weeks > 1 else ''})",
            ),
            ("Professeur référent", page.referent_teacher),
        ],
    )

    doc.add_heading("Objectifs de formation", level=2)
    _text_block(doc, page.objectives, "Objectifs à préciser avec le professeur référent.")
    doc.add_heading("Activités prévues en milieu professionnel", level=2)
    _text_block(doc, page.activities, "Activités à préciser avec le professeur référent.")

    doc.add_heading("Entreprise d'accueil", level=2)
    if not page.company_known:
        doc.add_paragraph("À compléter par l'entreprise d'accueil.").runs[0].italic = True
    _label_table(doc, page.company)

    doc.add_heading("Horaires hebdomadaires de l'apprenant", level=2)
    doc.add_paragraph("À compléter par l'entreprise (horaires de chaque demi-journée).")
    _timetable(doc)

    doc.add_heading("Signatures", level=2)
    signers = ["L'apprenant(e)", "Pour l'entreprise", "Le professeur référent"]
    if page.is_minor:
        signers.insert(1, "Le représentant légal")
    _signatures(doc, signers)


def _school_header(doc: DocxDocument, school: SchoolIdentity, *, new_page: bool) -> None:
    first = doc.add_paragraph()
    first.paragraph_format.page_break_before = new_page
    first.paragraph_format.space_after = Pt(0)
    if school.logo is not None:
        first.add_run().add_picture(str(school.logo), height=Mm(16))
        first.add_run("  ")
    name = first.add_run(school.name)
    name.bold = True
    name.font.size = Pt(13)
    details = [*school.address_lines]
    if school.uai:
        details.append(f"UAI : {school.uai}")
    if school.contact:
        details.append(school.contact)
    if details:
        line = doc.add_paragraph(" — ".join(details))
        line.runs[0].font.size = Pt(9)
        line.paragraph_format.space_after = Pt(6)


def _text_block(doc: DocxDocument, text: str, empty: str) -> None:
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    if not lines:
        doc.add_paragraph(empty).runs[0].italic = True
        return
    for line in lines:
        if BULLET.match(line):
            doc.add_paragraph(BULLET.sub("", line), style="List Bullet")
        else:
            doc.add_paragraph(line)


def _label_table(doc: DocxDocument, rows: list[tuple[str, str]]) -> None:
    table = doc.add_table(rows=len(rows), cols=2)
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    _set_widths(table, [Mm(55), Mm(119)])
    for row, (label, value) in zip(table.rows, rows, strict=True):
        label_cell, value_cell = row.cells
        label_cell.paragraphs[0].add_run(label).bold = True
        lines = value.splitlines() or [""]
        value_cell.paragraphs[0].add_run(lines[0])
        for extra in lines[1:]:
            value_cell.add_paragraph(extra)


def _timetable(doc: DocxDocument) -> None:
    header = ["Jour", "Matin : de … à …", "Après-midi : de … à …", "Heures"]
    table = doc.add_table(rows=len(DAYS) + 2, cols=len(header))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    _set_widths(table, [Mm(34), Mm(58), Mm(58), Mm(24)])
    rows = table.rows
    for cell, text in zip(rows[0].cells, header, strict=True):
        cell.paragraphs[0].add_run(text).bold = True
    for row, day in zip(rows[1:], [*DAYS, "Total de la semaine"], strict=True):
        row.height = Mm(8)
        row.cells[0].paragraphs[0].add_run(day).bold = day.startswith("Total")
    _repeat_header(rows[0])


def _signatures(doc: DocxDocument, signers: list[str]) -> None:
    table = doc.add_table(rows=2, cols=len(signers))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    _set_widths(table, [Mm(174 / len(signers))] * len(signers))
    for cell, signer in zip(table.rows[0].cells, signers, strict=True):
        cell.paragraphs[0].add_run(signer).bold = True
        cell.add_paragraph("Date et signature")
    table.rows[1].height = Mm(25)


def _set_widths(table: Table, widths: list[Length]) -> None:
    """Word reads the cell widths, LibreOffice the grid: set both."""
    table.autofit = False
    for column, width in zip(table.columns, widths, strict=True):
        column.width = width
    for row in table.rows:
        for cell, width in zip(row.cells, widths, strict=True):
            cell.width = width


def _repeat_header(row: _Row) -> None:
    tr_pr = row._tr.get_or_add_trPr()
    element = etree.SubElement(tr_pr, qn("w:tblHeader"))
    element.set(qn("w:val"), "true")


def download_name(*parts: str) -> str:
    """An ASCII file name: "pre-convention-ines-garay.docx"."""
    text = "-".join(parts)
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^A-Za-z0-9]+", "-", ascii_text).strip("-").lower()
    return slug[:80] or "document"
