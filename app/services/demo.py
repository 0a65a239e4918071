"""Demo data: a school with real frameworks, classes, learners, teachers, tutors, periods,
sheets in every state, attachments and assessments in draft and completed.

Loaded by `make run` on an empty database and by `make demo` (reset). Every demo account has
the password DEMO_PASSWORD; no account exists outside the demo data."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from uuid import uuid4

from sqlalchemy import func, select

from app import timefmt
from app.extensions import db
from app.models import (
    ActivitySheet,
    Admin,
    Assessment,
    AssessmentItem,
    AssessmentItemChange,
    Attachment,
    Attestation,
    ClassGroup,
    Competency,
    Convention,
    ConventionState,
    Criterion,
    Framework,
    JournalEntry,
    Learner,
    Level,
    LiaisonSheet,
    PedagogicalAnnex,
    Period,
    Portfolio,
    School,
    SheetCompetency,
    SheetCriterion,
    SheetKind,
    SheetRead,
    SheetTask,
    Task,
    Teacher,
    Tutor,
)
from app.services.attachments import upload_dir as attachment_dir
from app.services.auth import hash_password
from app.services.frameworks import import_framework_files, shipped_framework_paths

DEMO_PASSWORD = "passerelle-demo"  # noqa: S105 — documented demo password
DEMO_LOGINS = [
    ("Administrateur", "admin@demo.passerelle.fr"),
    ("Enseignant", "prof@demo.passerelle.fr"),
    ("Élève (TMELEC)", "eleve@demo.passerelle.fr"),
    ("Tuteur de stage", "tuteur@demo.passerelle.fr"),
    ("Maître d'apprentissage", "maitre@demo.passerelle.fr"),
]

FIRST_NAMES = [
    "Inès", "Lucas", "Emilie", "Yanis", "Fatma", "Hugo", "Chloé", "Mathéo", "Léa", "Noé",
    "Camille", "Rayan", "Jade", "Théo", "Manon", "Adam", "Zoé", "Enzo", "Lina", "Gabriel",
    "Sarah", "Louis", "Maëlys", "Nathan",
]  # fmt: skip
LAST_NAMES = [
    "Garay", "Martin", "Temmam", "Benali", "Weng", "Lefèvre", "Costeira Barbosa", "Dubois",
    "Faucheux", "Febvre", "Egrève", "Falzon", "Moreau", "Nguyen", "Rousseau", "Girard",
    "Bonnet", "Da Silva", "Mercier", "Lambert", "Fontaine", "Chevalier", "Perrin", "Morel",
]  # fmt: skip
COMPANIES = [
    ("Électricité Martin & Fils", "73282932000074", "12 rue de la Forge, 35000 Rennes"),
    ("SARL Lumière de l'Ouest", "44306184100047", "4 avenue des Champs Blancs, 35510 Cesson"),
    ("Énergies Bretagne Services", "55210055400013", "ZA du Bois Vert, 35135 Chantepie"),
    ("Domotique Armor", "38012986600032", "8 quai Duguay-Trouin, 35000 Rennes"),
]
DESCRIPTIONS = [
    (
        "Cette semaine j'ai préparé le chantier de rénovation d'une armoire électrique : "
        "lecture du schéma, liste du matériel, vérification de l'outillage avec mon tuteur.",
        "J'ai compris l'importance de bien préparer avant d'intervenir. La prochaine fois je "
        "vérifierai plus tôt les références des disjoncteurs.",
    ),
    (
        "J'ai posé des goulottes et tiré des câbles dans un local commercial, puis raccordé "
        "les prises et l'éclairage sous la surveillance du chef d'équipe.",
        "Le travail en hauteur demande de l'organisation. J'ai appris à repérer les circuits "
        "avant de raccorder.",
    ),
    (
        "Mise en service d'un tableau : contrôle de continuité, mesure d'isolement et essais "
        "des dispositifs différentiels avec le multimètre et le contrôleur d'installation.",
        "J'ai été autonome sur les mesures mais j'ai besoin de revoir l'interprétation des "
        "valeurs d'isolement.",
    ),
    (
        "Dépannage chez un client : recherche de la cause d'un déclenchement intempestif, "
        "remplacement d'un interrupteur différentiel défectueux.",
        "Expliquer au client ce que j'avais fait m'a obligé à clarifier ma démarche.",
    ),
]


@dataclass
class DemoSummary:
    learners: int = 0
    periods: int = 0
    sheets: int = 0
    assessments: int = 0

    def __str__(self) -> str:
        return (
            f"{self.learners} apprenants, {self.periods} périodes, {self.sheets} fiches, "
            f"{self.assessments} bilans"
        )


def wipe() -> None:
    """Delete every row (the demo reset); frameworks are re-imported by load()."""
    for table in reversed(db.metadata.sorted_tables):
        db.session.execute(table.delete())
    db.session.flush()


def load() -> DemoSummary:
    """Create the whole demo school. Flushes; the caller commits."""
    import_framework_files(shipped_framework_paths())
    summary = DemoSummary()
    frameworks = {f.code: f for f in db.session.scalars(select(Framework))}
    school = School(
        name="Lycée professionnel Marie Curie",
        uai="0351234A",
        address="3 rue des Écoles",
        postal_code="35000",
        city="Rennes",
        phone="02 99 00 00 00",
        email="ce.0351234a@ac-rennes.fr",
        head_name="Mme Anne Le Goff",
    )
    db.session.add(school)
    password = hash_password(DEMO_PASSWORD)

    levels = {
        "2": Level(name="Seconde Bac Pro MTNE", framework=frameworks["BACPRO-MELEC"], position=1),
        "1": Level(name="Première Bac Pro MELEC", framework=frameworks["BACPRO-MELEC"], position=2),
        "T": Level(
            name="Terminale Bac Pro MELEC", framework=frameworks["BACPRO-MELEC"], position=3
        ),
        "BTS": Level(name="Première année de BTS MS", framework=frameworks["BTS-MS-A"], position=4),
    }
    classes = {
        "2": ClassGroup(name="2MTNE", level=levels["2"]),
        "1": ClassGroup(name="1MELEC", level=levels["1"]),
        "T": ClassGroup(name="TMELEC", level=levels["T"]),
        "BTS": ClassGroup(name="1BTS MS", level=levels["BTS"]),
    }
    db.session.add_all([*levels.values(), *classes.values()])

    db.session.add(
        Admin(
            email="admin@demo.passerelle.fr",
            first_name="Claire",
            last_name="Vasseur",
            password_hash=password,
        )
    )
    prof = Teacher(
        email="prof@demo.passerelle.fr",
        first_name="Marc",
        last_name="Delaunay",
        password_hash=password,
        levels=list(levels.values()),
    )
    prof2 = Teacher(
        email="prof2@demo.passerelle.fr",
        first_name="Sophie",
        last_name="Kerbrat",
        password_hash=password,
        levels=[levels["BTS"], levels["T"]],
    )
    tutor = Tutor(
        email="tuteur@demo.passerelle.fr",
        first_name="Jean",
        last_name="Martin",
        tutor_kind="internship",
        company_name=COMPANIES[0][0],
        job_title="Chef d'équipe électricien",
        phone="06 12 34 56 78",
        password_hash=password,
    )
    master = Tutor(
        email="maitre@demo.passerelle.fr",
        first_name="Nadia",
        last_name="Haddad",
        tutor_kind="apprenticeship",
        company_name="Maintenance Industrielle Vilaine",
        job_title="Responsable maintenance",
        password_hash=password,
    )
    db.session.add_all([prof, prof2, tutor, master])

    learners: dict[str, list[Learner]] = {}
    name_index = 0
    for key in ("T", "BTS", "1", "2"):  # the demo pupil (first of TMELEC) is Inès GARAY
        group = classes[key]
        learners[key] = []
        for i in range(6):
            first, last = FIRST_NAMES[name_index % 24], LAST_NAMES[name_index % 24]
            name_index += 1
            apprentice = key == "BTS" and i < 3
            email = None
            if key == "T" and i == 0:
                email = "eleve@demo.passerelle.fr"
            elif key == "BTS" and i == 0:
                email = "apprenti@demo.passerelle.fr"
            learner = Learner(
                first_name=first,
                last_name=last,
                email=email,
                password_hash=password if email else None,
                learner_status="apprentice" if apprentice else "pupil",
                birth_date=date(2008 - (key == "BTS") * 2, 1 + i, 3 + i * 4),
                class_group=group,
                external_id=f"demo-{key}-{i}",
            )
            learners[key].append(learner)
            db.session.add(learner)
    summary.learners = sum(len(v) for v in learners.values())
    db.session.flush()

    annex_t = PedagogicalAnnex(
        level=levels["T"],
        name="PFMP de Terminale",
        created_by_id=prof.id,
        objectives="Réaliser en autonomie une installation électrique complète et sa mise en "
        "service.\nCommuniquer avec le client et l'équipe.",
        activities="Préparation des opérations\nRéalisation et mise en service\nMaintenance",
    )
    db.session.add(annex_t)
    db.session.flush()

    pfmp1 = _period(
        "PFMP 1 - TMELEC",
        levels["T"],
        annex_t,
        prof,
        learners["T"],
        date(2026, 9, 14),
        date(2026, 10, 9),
        {learners["T"][0].id: tutor},
        summary,
    )
    pfmp2 = _period(
        "PFMP 2 - TMELEC",
        levels["T"],
        annex_t,
        prof,
        learners["T"],
        date(2026, 11, 16),
        date(2026, 12, 11),
        {learners["T"][0].id: tutor},
        summary,
    )
    bts = _period(
        "Période 1 - Apprentis - 1BTS MS",
        levels["BTS"],
        None,
        prof2,
        learners["BTS"][:3],
        date(2026, 10, 5),
        date(2026, 10, 30),
        {learners["BTS"][0].id: master},
        summary,
    )
    melec1 = _period(
        "PFMP 1 - 1MELEC",
        levels["1"],
        None,
        prof,
        learners["1"],
        date(2027, 1, 11),
        date(2027, 2, 5),
        {},
        summary,
    )
    db.session.flush()

    # The folder the attachment routes read from (UPLOAD_DIR/attachments), not UPLOAD_DIR.
    upload_dir = attachment_dir()
    upload_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Past period: every sheet written, some read; assessments of the first three completed.
    for index, portfolio in enumerate(pfmp1.portfolios):
        _fill_sheets(portfolio, portfolio.sheets, prof, read=index % 2 == 0)
        _company(portfolio, COMPANIES[index % len(COMPANIES)], tutor if index == 0 else None)
        completed = index < 3
        _assessment(portfolio, prof, tutor if index == 0 else None, completed, summary)
    # Current period: two weeks written, unread (green) for the teacher.
    for index, portfolio in enumerate(pfmp2.portfolios):
        _fill_sheets(portfolio, portfolio.sheets[:2], prof, read=False)
        _company(portfolio, COMPANIES[(index + 1) % len(COMPANIES)], tutor if index == 0 else None)
        _assessment(portfolio, prof, None, False, summary, rate=index == 0)
    _attachments(pfmp2.portfolios[0].sheets[0], upload_dir)
    for index, portfolio in enumerate(bts.portfolios):
        _fill_sheets(portfolio, portfolio.sheets[:3], prof2, read=index == 1)
        _company(
            portfolio,
            (
                "Maintenance Industrielle Vilaine",
                "81234567800019",
                "Parc d'activités de la Janais, 35131 Chartres-de-Bretagne",
            ),
            master if index == 0 else None,
        )
        _assessment(portfolio, prof2, master if index == 0 else None, index == 1, summary)
    _conventions(pfmp1, pfmp2, melec1, prof)
    # A free sheet for the demo pupil.
    db.session.add(
        ActivitySheet(
            learner_id=learners["T"][0].id,
            kind=SheetKind.FREE,
            title="Stage d'observation (juin)",
            description="Une semaine d'observation dans une entreprise de domotique.",
            learner_updated_at=_at(date(2026, 6, 20)),
        )
    )
    db.session.flush()
    _visits(pfmp1, pfmp2, prof)
    summary.sheets = db.session.scalar(select(func.count(ActivitySheet.id))) or 0
    db.session.flush()
    return summary


def _visits(past: Period, current: Period, teacher: Teacher) -> None:
    """Company visits in every state (issue 16): written up and done in the past period,
    planned in the current one (the first at the demo pupil's company), the rest to plan."""
    from app.models import Visit, VisitReport

    for index, portfolio in enumerate(past.portfolios[:2]):
        day = past.start_date + timedelta(days=8 + index)
        status = "report_written" if index == 0 else "done"
        db.session.add(
            Visit(
                portfolio_id=portfolio.id,
                status=status,
                planned_start=datetime.combine(day, time(10), tzinfo=timefmt.PARIS),
                duration_minutes=60,
                place=portfolio.liaison_sheet.company_address if portfolio.liaison_sheet else "",
                planned_by_id=teacher.id,
            )
        )
        if index == 0:
            db.session.add(
                VisitReport(
                    portfolio_id=portfolio.id,
                    done_on=day,
                    met="Le tuteur et le chef de chantier.",
                    conditions="Bon accueil, EPI fournis, travail en binôme sur des chantiers de "
                    "rénovation.",
                    points_to_watch="Consolider la lecture de schémas avant la prochaine période.",
                    author_id=teacher.id,
                )
            )
    today = datetime.now(timefmt.PARIS).date()
    first = min(max(today + timedelta(days=1), current.start_date), current.end_date)
    for index, portfolio in enumerate(current.portfolios[:2]):
        day = min(first + timedelta(days=index), current.end_date)
        db.session.add(
            Visit(
                portfolio_id=portfolio.id,
                status="planned",
                planned_start=datetime.combine(day, time(10 + 4 * index), tzinfo=timefmt.PARIS),
                duration_minutes=60,
                place=portfolio.liaison_sheet.company_address if portfolio.liaison_sheet else "",
                planned_by_id=teacher.id,
            )
        )
    db.session.flush()


def _at(day: date, hour: int = 17) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def _period(
    name: str,
    level: Level,
    annex: PedagogicalAnnex | None,
    teacher: Teacher,
    learners: list[Learner],
    start: date,
    end: date,
    tutors: dict[int, Tutor],
    summary: DemoSummary,
) -> Period:
    period = Period(
        name=name,
        level=level,
        annex=annex,
        start_date=start,
        end_date=end,
        created_by_id=teacher.id,
        objectives=annex.objectives
        if annex
        else "Découvrir les métiers de l'entreprise et s'intégrer à une équipe.",
        activities=annex.activities if annex else "Activités de préparation et de réalisation.",
    )
    db.session.add(period)
    db.session.flush()
    for learner in learners:
        tutor = tutors.get(learner.id)
        portfolio = Portfolio(
            period=period,
            learner_id=learner.id,
            referent_teacher_id=teacher.id,
            tutor_id=tutor.id if tutor else None,
        )
        db.session.add(portfolio)
        db.session.add(
            LiaisonSheet(
                portfolio=portfolio, objectives=period.objectives, activities=period.activities
            )
        )
        for position, (year, week) in enumerate(timefmt.iso_weeks(start, end)):
            db.session.add(
                ActivitySheet(
                    learner_id=learner.id,
                    portfolio=portfolio,
                    kind=SheetKind.WEEK,
                    iso_year=year,
                    iso_week=week,
                    position=position,
                    title=timefmt.week_title(year, week),
                )
            )
    summary.periods += 1
    db.session.flush()
    db.session.refresh(period)
    return period


def _framework_of(portfolio: Portfolio) -> Framework:
    return portfolio.period.level.framework


def _fill_sheets(
    portfolio: Portfolio, sheets: list[ActivitySheet], teacher: Teacher, read: bool
) -> None:
    framework = _framework_of(portfolio)
    tasks = list(
        db.session.scalars(select(Task).where(Task.framework_id == framework.id).order_by(Task.id))
    )
    for index, sheet in enumerate(sheets):
        description, analysis = DESCRIPTIONS[index % len(DESCRIPTIONS)]
        sheet.company = ""
        sheet.conditions = "accompanied" if index == 0 else "autonomous"
        sheet.description = description
        sheet.analysis = analysis
        monday = date.fromisocalendar(sheet.iso_year or 2026, sheet.iso_week or 1, 5)
        sheet.learner_updated_at = _at(monday)
        task = tasks[(index * 3) % len(tasks)]
        sheet.activity_id = task.activity_id
        db.session.add(
            SheetTask(
                sheet=sheet,
                task_id=task.id,
                ticked_by_learner=True,
                confirmed_by_id=teacher.id if read else None,
                confirmed_at=_at(monday, 19) if read else None,
            )
        )
        if read:
            for competency in task.competencies[:2]:
                if competency.position % 2 == 0 and competency.criteria:
                    db.session.add(
                        SheetCompetency(
                            sheet=sheet,
                            task_id=task.id,
                            competency_id=competency.id,
                            mode="criteria",
                        )
                    )
                    for criterion in competency.criteria[:3]:
                        db.session.add(
                            SheetCriterion(sheet=sheet, task_id=task.id, criterion_id=criterion.id)
                        )
                else:
                    db.session.add(
                        SheetCompetency(
                            sheet=sheet, task_id=task.id, competency_id=competency.id, mode="global"
                        )
                    )
            db.session.add(
                SheetRead(sheet_id=sheet.id, teacher_id=teacher.id, read_at=_at(monday, 20))
            )
        if portfolio.journal_entries is not None and index == 0:
            for offset in range(3):
                day = date.fromisocalendar(sheet.iso_year or 2026, sheet.iso_week or 1, 1 + offset)
                db.session.add(
                    JournalEntry(
                        portfolio=portfolio,
                        entry_date=day,
                        hours=7,
                        description=description.split(":")[0] + ".",
                    )
                )


def _company(portfolio: Portfolio, company: tuple[str, str, str], tutor: Tutor | None) -> None:
    liaison = portfolio.liaison_sheet
    assert liaison is not None
    liaison.company_name, liaison.company_siret, liaison.company_address = company
    liaison.company_phone = "02 99 12 34 56"
    if tutor is not None:
        liaison.tutor_name = tutor.full_name
        liaison.tutor_role = tutor.job_title or ""
        liaison.tutor_email = tutor.email or ""
        liaison.tutor_phone = tutor.phone
    else:
        liaison.tutor_name = "Paul Lemaire"
        liaison.tutor_role = "Chef de chantier"
        liaison.tutor_email = "p.lemaire@example.fr"


def _assessment(
    portfolio: Portfolio,
    teacher: Teacher,
    tutor: Tutor | None,
    completed: bool,
    summary: DemoSummary,
    rate: bool = True,
) -> None:
    assessment = Assessment(portfolio=portfolio)
    db.session.add(assessment)
    summary.assessments += 1
    if not (completed or rate):
        return
    db.session.flush()
    framework = _framework_of(portfolio)
    selected_criteria = list(
        db.session.scalars(
            select(Criterion)
            .join(SheetCriterion, SheetCriterion.criterion_id == Criterion.id)
            .join(ActivitySheet, SheetCriterion.sheet_id == ActivitySheet.id)
            .where(ActivitySheet.portfolio_id == portfolio.id)
            .distinct()
        )
    )
    selected_global = list(
        db.session.scalars(
            select(Competency)
            .join(SheetCompetency, SheetCompetency.competency_id == Competency.id)
            .join(ActivitySheet, SheetCompetency.sheet_id == ActivitySheet.id)
            .where(ActivitySheet.portfolio_id == portfolio.id, SheetCompetency.mode == "global")
            .distinct()
        )
    )
    codes = [level.code for level in framework.scale]
    meeting = portfolio.period.end_date
    moment = _at(meeting, 10)
    values: list[tuple[str, str, int | None, int | None, str]] = []
    for i, criterion in enumerate(selected_criteria):
        values.append(
            (
                f"criterion:{criterion.id}",
                "criterion",
                criterion.competency_id,
                criterion.id,
                codes[2 + (i % 4)],
            )
        )
    for i, competency in enumerate(selected_global):
        values.append(
            (f"competency:{competency.id}", "competency", competency.id, None, codes[3 + (i % 3)])
        )
    values.append(("engagement", "engagement", None, None, "3"))
    values.append(("meeting_date", "meeting_date", None, None, meeting.isoformat()))
    values.append(
        (
            "comment",
            "comment",
            None,
            None,
            "Apprenant sérieux et impliqué. Continuer à gagner en autonomie sur les mesures.",
        )
    )
    for i, (key, kind, competency_id, criterion_id, value) in enumerate(values):
        author = tutor if (tutor is not None and i % 2) else teacher
        role = "tutor" if isinstance(author, Tutor) else "teacher"
        item = AssessmentItem(
            assessment=assessment,
            item_key=key,
            kind=kind,
            competency_id=competency_id,
            criterion_id=criterion_id,
            value=value,
            version=1,
            author_id=author.id,
            author_role=role,
            device_time=moment,
            server_time=moment + timedelta(seconds=2),
        )
        db.session.add(item)
        db.session.add(
            AssessmentItemChange(
                item=item,
                change_uuid=str(uuid4()),
                value=value,
                previous_value=None,
                base_version=0,
                resulting_version=1,
                author_id=author.id,
                author_role=role,
                device_time=moment,
                server_time=moment + timedelta(seconds=2),
            )
        )
    if completed:
        assessment.status = "completed"
        assessment.completed_at = _at(meeting, 12)
        assessment.completed_by_id = teacher.id


# A tiny valid PDF and PNG so the demo has real attachments to download.
_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]"
    b"/Count 1>>endobj\n3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 100]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


def _png() -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    raw = b"".join(b"\x00" + b"\x1f\x4e\x79" * 16 for _ in range(16))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 16, 16, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def _attachments(sheet: ActivitySheet, upload_dir: Path) -> None:
    for name, content, ctype in [
        ("schema-armoire.pdf", _PDF, "application/pdf"),
        ("photo-tableau.png", _png(), "image/png"),
    ]:
        stored = secrets.token_hex(16)
        (upload_dir / stored).write_bytes(content)
        db.session.add(
            Attachment(
                sheet=sheet,
                kind="file",
                original_name=name,
                stored_name=stored,
                content_type=ctype,
                size=len(content),
            )
        )
    db.session.add(
        Attachment(
            sheet=sheet,
            kind="url",
            url="https://fr.wikipedia.org/wiki/Tableau_%C3%A9lectrique",
            original_name="Tableau électrique (Wikipédia)",
        )
    )


def _conventions(past: Period, current: Period, future: Period, prof: Teacher) -> None:
    """Conventions in every state (all signed for the past period, mixed for the current
    one, mostly missing before the future one starts) and the past period's attestations."""
    plan = [
        (past, [ConventionState.SIGNED_BY_HEAD] * len(past.portfolios)),
        (
            current,
            [
                ConventionState.SIGNED_BY_HEAD,
                ConventionState.SIGNED_BY_FAMILY,
                ConventionState.SIGNED_BY_COMPANY,
                ConventionState.TO_SIGN,
            ],
        ),
        (future, [ConventionState.SIGNED_BY_HEAD, ConventionState.SIGNED_BY_COMPANY]),
    ]
    order = list(ConventionState)
    for period, states in plan:
        for portfolio, state in zip(period.portfolios, states, strict=False):
            convention = Convention(
                portfolio_id=portfolio.id,
                state=state,
                company_representative="Jean Martin",
                company_representative_role="Gérant",
                daily_schedule="Du lundi au vendredi : 8 h – 12 h et 13 h 30 – 16 h 30",
                weekly_hours=35,
                transport="Carte de bus du réseau STAR, prise en charge par la Région.",
                meals="Repas au restaurant d'entreprise, 3,80 € à la charge de la famille.",
                lodging="Sans objet (retour au domicile chaque soir).",
                company_insurer="MAAF Pro",
                company_policy="RC-2026-118734",
                school_insurer="MAE (Mutuelle Assurance Élève)",
            )
            signed_on = period.start_date - timedelta(days=21)
            for prefix, step_state in zip(("company", "family", "head"), order[1:], strict=True):
                if order.index(state) >= order.index(step_state):
                    setattr(convention, f"{prefix}_signed_on", signed_on)
                    setattr(convention, f"{prefix}_recorded_by_id", prof.id)
                    setattr(convention, f"{prefix}_recorded_at", _at(signed_on))
                    signed_on += timedelta(days=3)
            db.session.add(convention)
    for index, portfolio in enumerate(past.portfolios):
        absent = index == 0
        db.session.add(
            Attestation(
                portfolio_id=portfolio.id,
                days_done=19 if absent else 20,
                absence_days=1 if absent else 0,
                absence_dates=date(2026, 9, 25).isoformat() if absent else "",
                absence_reason="Rendez-vous médical (justificatif fourni)." if absent else "",
                recorded_by_id=prof.id,
                recorded_at=_at(past.end_date),
                signer_name="Jean Martin, chef d'équipe électricien",
                signed_by_id=prof.id,
                signed_at=_at(past.end_date),
            )
        )
