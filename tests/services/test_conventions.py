"""Conventions and attestations of PFMP (issue 13 §3): the signature workflow, the scan, the
attendance rules, the weeks towards the diploma, and both documents read back the way a user
would (python-docx, pdftotext)."""

from __future__ import annotations

import io
import re
import subprocess
import time
from datetime import date, timedelta
from typing import Any

import docx
import pytest
from flask import Flask

from app.errors import InvalidInput
from app.models import Attestation, Convention, ConventionState, LiaisonSheet, Period
from app.services import attestations, conventions
from app.services.documents import school_identity
from app.services.documents.attestation import attestation_pdf, load_attestations
from app.services.documents.convention import (
    convention_docx,
    convention_pdf,
    load_conventions,
)
from app.services.periods import FieldError

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def pdf_text(pdf: bytes) -> str:
    result = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", "-", "-"], input=pdf, capture_output=True, check=True
    )
    return " ".join(result.stdout.decode().split())


def pdf_pages(pdf: bytes) -> int:
    info = subprocess.run(["pdfinfo", "-"], input=pdf, capture_output=True, check=True)
    match = re.search(r"^Pages:\s+(\d+)", info.stdout.decode(), re.MULTILINE)
    assert match
    return int(match.group(1))


def docx_text(data: bytes) -> str:
    document = docx.Document(io.BytesIO(data))
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.extend(cell.text for cell in row.cells)
    return "\n".join(parts)


def _past_period(f: Any, w: Any) -> Period:
    """w.period moved to a month ago: its attendance can be recorded, whatever today is."""
    period: Period = w.period
    period.start_date = conventions.today() - timedelta(days=32)
    period.end_date = period.start_date + timedelta(days=18)  # Monday + 18 days: 3 weeks
    f.s.flush()
    return period


def _fill_liaison(w: Any) -> None:
    sheet: LiaisonSheet = w.portfolio.liaison_sheet
    sheet.company_name = "Électricité Martin & Fils"
    sheet.company_siret = "73282932000074"
    sheet.company_address = "12 rue de la Forge\n35000 Rennes"
    sheet.tutor_name = "Jean Martin"
    sheet.tutor_role = "Chef d'équipe électricien"
    sheet.activities = "- Câblage d'armoires\n- Mise en service"


# --- signatures -------------------------------------------------------------------------------


def test_signatures_follow_the_paper_order_with_date_and_recorder(f: Any) -> None:
    w = f.world()
    convention = conventions.ensure_convention(w.portfolio)
    assert convention.state == ConventionState.TO_SIGN
    day = conventions.today() - timedelta(days=5)
    with pytest.raises(InvalidInput, match="rechargez la page"):
        conventions.record_signature(w.teacher, convention, "signed_by_family", day)
    for state in ("signed_by_company", "signed_by_family", "signed_by_head"):
        conventions.record_signature(w.teacher, convention, state, day)
    assert convention.state == ConventionState.SIGNED_BY_HEAD and convention.is_signed
    assert convention.company_signed_on == day
    assert convention.head_recorded_by_id == w.teacher.id
    assert convention.family_recorded_at is not None
    with pytest.raises(InvalidInput, match="déjà signée par toutes les parties"):
        conventions.record_signature(w.teacher, convention, "signed_by_head", day)
    conventions.undo_signature(w.teacher, convention)
    assert convention.state == ConventionState.SIGNED_BY_FAMILY
    assert convention.head_signed_on is None


def test_a_signature_cannot_be_dated_in_the_future_nor_before_the_previous_one(f: Any) -> None:
    w = f.world()
    convention = conventions.ensure_convention(w.portfolio)
    with pytest.raises(FieldError, match="dans le futur"):
        conventions.record_signature(
            w.teacher, convention, "signed_by_company", conventions.today() + timedelta(days=1)
        )
    day = conventions.today() - timedelta(days=3)
    conventions.record_signature(w.teacher, convention, "signed_by_company", day)
    with pytest.raises(FieldError, match="ne peut pas être antérieure"):
        conventions.record_signature(
            w.teacher, convention, "signed_by_family", day - timedelta(days=1)
        )
    with pytest.raises(FieldError, match="03/06/2026"):
        conventions.parse_day("31/02/2026", "signed_on")


def test_a_scan_of_the_signed_paper_records_the_missing_signatures(app: Flask, f: Any) -> None:
    w = f.world()
    convention = conventions.ensure_convention(w.portfolio)
    day = conventions.today()
    conventions.attach_scan(w.teacher, convention, io.BytesIO(PDF), "../../scan.pdf", day)
    assert convention.state == ConventionState.SIGNED_BY_HEAD
    assert convention.scan_original_name == "scan.pdf"
    path = conventions.scan_path(convention)
    assert path is not None and path.read_bytes() == PDF
    with pytest.raises(InvalidInput, match=r"pas accepté ici\. Types acceptés : PDF, image PNG"):
        conventions.attach_scan(
            w.teacher, convention, io.BytesIO("Signée, promis.".encode()), "scan.txt", day
        )
    with pytest.raises(InvalidInput, match="programme"):
        conventions.attach_scan(w.teacher, convention, io.BytesIO(b"MZ\x90\0"), "a.pdf", day)


def test_details_check_hours_and_the_guardian_of_a_minor(f: Any) -> None:
    w = f.world()
    convention = conventions.ensure_convention(w.portfolio)
    with pytest.raises(FieldError, match="représentant légal") as error:
        conventions.update_details(
            w.teacher, convention, conventions.DetailsInput(weekly_hours="35"), minor=True
        )
    assert error.value.field == "guardian_name"
    with pytest.raises(FieldError, match="35 heures pour un apprenant mineur"):
        conventions.update_details(
            w.teacher,
            convention,
            conventions.DetailsInput(guardian_name="Paul Garay", weekly_hours="39"),
            minor=True,
        )
    with pytest.raises(FieldError, match="nombre d'heures"):
        conventions.parse_hours("trente", minor=False)
    conventions.update_details(
        w.teacher,
        convention,
        conventions.DetailsInput(guardian_name=" Paul  Garay ", weekly_hours="35,5 h"),
        minor=False,
    )
    assert convention.guardian_name == "Paul Garay"
    assert str(convention.weekly_hours) == "35.5"


# --- attendance -------------------------------------------------------------------------------


def test_attendance_is_checked_against_the_period(f: Any) -> None:
    w = f.world()
    period = _past_period(f, w)
    record = attestations.record_attendance
    with pytest.raises(FieldError, match="19 jours du premier au dernier jour"):
        record(w.tutor, w.portfolio, attestations.AttendanceInput(days_done="25"))
    with pytest.raises(FieldError, match="nombre entier"):
        record(w.tutor, w.portfolio, attestations.AttendanceInput(days_done="quinze"))
    outside = (period.end_date + timedelta(days=2)).strftime("%d/%m/%Y")
    with pytest.raises(FieldError, match="n'est pas dans la période"):
        record(
            w.tutor,
            w.portfolio,
            attestations.AttendanceInput(days_done="14", absence_dates=outside),
        )
    with pytest.raises(FieldError, match="motif"):
        record(w.tutor, w.portfolio, attestations.AttendanceInput("14", absence_days="1"))
    with pytest.raises(FieldError, match="signataire"):
        record(w.tutor, w.portfolio, attestations.AttendanceInput("14", sign=True))
    absent = (period.start_date + timedelta(days=2)).strftime("%d/%m/%Y")
    attestation, created = record(
        w.tutor,
        w.portfolio,
        attestations.AttendanceInput(
            "14", "", absent, "Malade", sign=True, signer_name="Jean Martin"
        ),
    )
    assert created and attestation.is_signed and attestation.absence_days == 1
    assert attestation.signed_by_id == w.tutor.id
    # Changing the figures withdraws the signature: what was signed is what is printed.
    attestation, created = record(
        w.teacher, w.portfolio, attestations.AttendanceInput("15", "", absent, "Malade")
    )
    assert not created and not attestation.is_signed and attestation.days_done == 15


def test_attendance_of_a_period_that_has_not_started_is_refused(f: Any) -> None:
    w = f.world()
    w.period.start_date = conventions.today() + timedelta(days=10)
    w.period.end_date = w.period.start_date + timedelta(days=20)
    f.s.flush()
    with pytest.raises(InvalidInput, match="pas encore commencé"):
        attestations.record_attendance(
            w.tutor, w.portfolio, attestations.AttendanceInput(days_done="5")
        )


def test_attested_weeks_add_up_towards_what_the_diploma_requires(f: Any) -> None:
    w = f.world()
    w.level.framework.required_placement_weeks = 22
    second = f.period(w.level, [w.learner])
    for portfolio, days in ((w.portfolio, 19), (second.portfolios[0], 20)):
        f.s.add(Attestation(portfolio_id=portfolio.id, days_done=days))
    f.s.flush()
    progress = attestations.placement_progress(w.learner)
    assert (progress.days, progress.required_weeks) == (39, 22)
    assert progress.weeks_label == "7,8" and not progress.complete
    assert attestations.weeks_and_days(22) == "4 semaines et 2 jours"
    assert attestations.weeks_and_days(3) == "3 jours"


def test_the_shipped_bac_pro_frameworks_require_22_weeks(f: Any) -> None:
    from sqlalchemy import select

    from app.models import Framework

    weeks = dict(f.s.execute(select(Framework.code, Framework.required_placement_weeks)).all())
    assert weeks["BACPRO-MELEC"] == 22 and weeks["BACPRO-MEE"] == 22
    assert weeks["BTS-MS-A"] is None  # not in the file: the learner view shows no total


# --- documents --------------------------------------------------------------------------------


def _signed_convention(f: Any, w: Any) -> Convention:
    convention = conventions.ensure_convention(w.portfolio)
    conventions.update_details(
        w.teacher,
        convention,
        conventions.DetailsInput(
            company_representative="Hélène Martin",
            company_representative_role="Gérante",
            daily_schedule="Du lundi au vendredi, 8 h – 12 h et 13 h 30 – 16 h 30",
            weekly_hours="35",
            transport="Carte de bus prise en charge par la Région",
            meals="Cantine de l'entreprise, 3,80 € à la charge de la famille",
            lodging="Sans objet",
            company_insurer="MAAF Pro",
            company_policy="RC-118734",
            school_insurer="MAE",
        ),
        minor=False,
    )
    conventions.record_signature(w.teacher, convention, "signed_by_company", date(2026, 5, 20))
    return convention


def test_convention_docx_reads_back_with_the_learner_s_data(app: Flask, f: Any) -> None:
    w = f.world()
    w.school.head_name = "Mme Anne Le Goff"
    _fill_liaison(w)
    _signed_convention(f, w)
    with app.test_request_context():
        data = convention_docx(load_conventions(portfolio=w.portfolio), school_identity())
    text = docx_text(data)
    for expected in (
        "Convention relative à la formation en milieu professionnel",
        w.learner.full_name,
        "Électricité Martin & Fils",
        "73282932000074",
        "Hélène Martin",
        "Annexe pédagogique",
        "Mise en service",
        "Annexe financière",
        "Carte de bus prise en charge par la Région",
        "3,80 €",
        "35 heures",
        "MAAF Pro",
        "Le 20/05/2026",  # the company's signature date
        "Signée par l'entreprise",
        "Mme Anne Le Goff, chef d'établissement",  # the school's party
    ):
        assert expected in text, expected
    assert "représentant légal (élève mineur)" not in text  # born 2007: an adult


def test_convention_pdf_of_a_period_is_one_file_with_each_learner(app: Flask, f: Any) -> None:
    w = f.world()
    w.classmate.birth_date = w.period.start_date - timedelta(days=16 * 365)  # a minor
    f.s.flush()
    _fill_liaison(w)
    with app.test_request_context():
        docs = load_conventions(period=w.period)
        started = time.perf_counter()
        pdf = convention_pdf(docs, school_identity())
        elapsed = time.perf_counter() - started
        data = convention_docx(docs, school_identity())
    print(f"\n2 conventions as PDF: {elapsed:.2f} s, {pdf_pages(pdf)} pages")
    text = pdf_text(pdf)
    assert w.learner.full_name in text and w.classmate.full_name in text
    assert "Et son représentant légal (élève mineur)" in text  # the classmate's pages
    assert "Accident" in text and "Annexe financière" in text
    assert pdf_pages(pdf) >= 4  # each learner starts on a new page
    document = docx.Document(io.BytesIO(data))
    breaks = [p.text for p in document.paragraphs if p.paragraph_format.page_break_before]
    # The second learner starts a page; each learner's annexes too.
    assert [text == "Annexe pédagogique" for text in breaks] == [True, False, True]
    assert school_identity().name in breaks[1]
    assert w.classmate.full_name in docx_text(data)


def test_attestation_pdf_shows_dates_weeks_days_activities_company_and_signature(
    app: Flask, f: Any
) -> None:
    w = f.world()
    period = _past_period(f, w)
    _fill_liaison(w)
    absent = period.start_date + timedelta(days=1)
    attestations.record_attendance(
        w.tutor,
        w.portfolio,
        attestations.AttendanceInput(
            "14",
            "1",
            absent.strftime("%d/%m/%Y"),
            "Rendez-vous médical",
            sign=True,
            signer_name="Jean Martin, chef d'équipe",
        ),
    )
    with app.test_request_context():
        pdf = attestation_pdf(load_attestations(period=period), school_identity())
    text = pdf_text(pdf)
    for expected in (
        "Attestation de période de formation en milieu professionnel",
        w.learner.full_name,
        "2 semaines et 4 jours",
        "14 jours de présence",
        absent.strftime("%d/%m/%Y"),
        "Rendez-vous médical",
        "Câblage d'armoires",
        "Électricité Martin & Fils",
        "Signée par Jean Martin, chef d'équipe",
    ):
        assert expected in text, expected
    # The classmate has no attestation yet: their page is a blank form to fill.
    assert w.classmate.full_name in text and "à compléter par l'entreprise" in text
    assert pdf_pages(pdf) == 2


# --- personal data (GDPR) ---------------------------------------------------------------------


def test_export_holds_the_convention_and_its_scan_and_erasure_removes_them(
    app: Flask, f: Any
) -> None:
    import json
    import zipfile

    from app.extensions import db
    from app.services import gdpr

    w = f.world()
    convention = conventions.ensure_convention(w.portfolio)
    conventions.update_details(
        w.teacher, convention, conventions.DetailsInput(guardian_name="Paul Garay"), minor=True
    )
    conventions.attach_scan(
        w.teacher, convention, io.BytesIO(PDF), "convention signée.pdf", conventions.today()
    )
    f.s.add(Attestation(portfolio_id=w.portfolio.id, days_done=12, absence_reason="Malade"))
    db.session.commit()  # a savepoint release in tests: the scan is now on disk for good
    path = conventions.scan_path(convention)
    assert path is not None and path.is_file()
    archive = zipfile.ZipFile(io.BytesIO(gdpr.build_export(w.learner).read()))
    data = json.loads(archive.read("data.json"))
    mine = next(p for p in data["portfolios"] if p["id"] == w.portfolio.id)
    assert mine["convention"]["guardian_name"] == "Paul Garay"
    assert mine["convention"]["state"] == "signed_by_head"
    assert archive.read(mine["convention"]["scan"]) == PDF
    assert mine["attestation"]["absence_reason"] == "Malade"
    portfolio_id = w.portfolio.id
    gdpr.erase_learner(w.admin, w.learner)
    db.session.commit()
    assert not path.exists()
    assert f.s.query(Convention).filter_by(portfolio_id=portfolio_id).count() == 0
