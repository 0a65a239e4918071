"""School-scale benchmark data: 20 classes, 600 learners, 3 periods of 6 weeks per class, every
sheet written with framework selections, half the assessments completed with ratings, the
Bac Pro MEE framework (the largest grid) for the 35-learner class the benchmark measures.

Written with bulk inserts (`session.execute(insert(Model), rows)`) and ids chosen here, so a
whole school takes seconds; on PostgreSQL the id sequences are moved past them afterwards.

    python -m bench.generate                      # SQLite in instance/bench/bench.sqlite
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/passerelle_bench \\
        python -m bench.generate --postgresql

The PostgreSQL database is emptied (DROP SCHEMA public CASCADE) and created when missing; its
name must contain "bench" so a mistyped URL cannot wipe real data.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.engine import make_url

from app import create_app, timefmt
from app.extensions import db
from app.models import (
    Activity,
    ActivitySheet,
    Admin,
    Assessment,
    AssessmentItem,
    AssessmentItemChange,
    Attachment,
    AuditLog,
    ClassGroup,
    Competency,
    Criterion,
    Framework,
    InterimReview,
    InterimReviewPosition,
    Learner,
    Level,
    LiaisonSheet,
    PedagogicalAnnex,
    Period,
    Portfolio,
    ScaleLevel,
    School,
    SheetCompetency,
    SheetCriterion,
    SheetKind,
    SheetRead,
    SheetTask,
    Task,
    Teacher,
    Tutor,
    interim_review_assessments,
    task_competencies,
)
from app.models.period import annex_tasks, period_tasks
from app.models.school import teacher_levels

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "instance" / "bench"
SQLITE_PATH = DATA_DIR / "bench.sqlite"
SECRET_KEY = os.environ.get("BENCH_SECRET_KEY", "passerelle-bench-secret-key-not-for-production")
PASSWORD = "bench-passerelle"  # noqa: S105 — benchmark accounts only, on 127.0.0.1
TEACHER_EMAIL = "prof@bench.passerelle.fr"

MAIN_FRAMEWORK = "BACPRO-MEE"  # the largest grid (13 competencies, 179 criteria)
OTHER_FRAMEWORKS = [
    "BACPRO-MELEC",
    "BACPRO-CIEL",
    "BACPRO-MFER",
    "BACPRO-ICCER",
    "BACPRO-MEE",
    "BTS-MS-A",
]
FIRST_NAMES = [
    "Inès", "Lucas", "Emilie", "Yanis", "Fatma", "Hugo", "Chloé", "Mathéo", "Léa", "Noé",
    "Camille", "Rayan", "Jade", "Théo", "Manon", "Adam", "Zoé", "Enzo", "Lina", "Gabriel",
    "Sarah", "Louis", "Maëlys", "Nathan", "Aya", "Jules", "Nina", "Sacha", "Lou", "Ilyes",
]  # fmt: skip
LAST_NAMES = [
    "Garay", "Martin", "Temmam", "Benali", "Weng", "Lefèvre", "Dubois", "Faucheux", "Febvre",
    "Egrève", "Falzon", "Moreau", "Nguyen", "Rousseau", "Girard", "Bonnet", "Mercier",
    "Lambert", "Fontaine", "Chevalier", "Perrin", "Morel", "Roux", "Blanc", "Guérin", "Muller",
    "Henry", "Roussel", "Nicolas", "Perrot", "Morin", "Mathieu", "Clément", "Gauthier",
]  # fmt: skip
DESCRIPTION = (
    "Cette semaine j'ai préparé l'intervention avec mon tuteur : lecture du dossier technique, "
    "liste du matériel et de l'outillage, consignation de l'installation. J'ai ensuite réalisé "
    "la dépose de l'ancien équipement, le câblage du nouveau coffret et les essais. J'ai noté "
    "les mesures relevées dans le carnet de l'entreprise et rangé le chantier en fin de journée."
)
ANALYSIS = (
    "J'ai compris pourquoi la consignation se fait avant toute intervention. Je dois encore "
    "progresser dans la lecture des schémas ; mon tuteur m'a montré une méthode que j'ai "
    "appliquée le jeudi."
)
COMMENT = (
    "Apprenant ponctuel et volontaire, à l'écoute des consignes de sécurité. Doit gagner en "
    "autonomie sur la préparation du poste et la rédaction des comptes rendus."
)


@dataclass
class Size:
    classes: int = 20
    learners: int = 600
    periods: int = 3
    weeks: int = 6
    largest_class: int = 35
    teachers: int = 40


@dataclass
class Scenario:
    """What the benchmark measures, by id, in the generated database."""

    url: str
    dialect: str
    teacher_email: str
    password: str
    period_id: int  # the current period of the 35-learner MEE class
    period_learners: int
    learner_id: int  # a learner of that class (3 portfolios, 18 sheets)
    portfolio_id: int  # their current portfolio: draft MEE assessment, half rated
    assessment_id: int
    sheet_id: int  # a written sheet of that portfolio, with framework selections
    criterion_ids: list[int]  # criteria of the MEE grid, for rating saves and sync batches
    level_id: int
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


# --- database ----------------------------------------------------------------------------------


def sqlite_url() -> str:
    return f"sqlite:///{SQLITE_PATH}"


def bench_app(url: str) -> Flask:
    """The application against the benchmark database, configured as in production except for
    plain-HTTP cookies (127.0.0.1) and no Redis or mail."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    return create_app(
        SQLALCHEMY_DATABASE_URI=url,
        SECRET_KEY=SECRET_KEY,
        SESSION_COOKIE_SECURE=False,
        REDIS_URL=None,
        SMTP_HOST=None,
        UPLOAD_DIR=str(DATA_DIR / "uploads"),
    )


def _reset_database(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{parsed.database}{suffix}").unlink(missing_ok=True)
        return
    name = parsed.database or ""
    if "bench" not in name:
        raise SystemExit(
            f"Refusing to empty the PostgreSQL database {name!r}: its name must contain "
            "'bench' (BENCH_DATABASE_URL)."
        )
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    engine = create_engine(parsed)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def _bulk(target: Any, rows: Sequence[dict[str, Any]], chunk: int = 5000) -> None:
    """INSERT many rows at once (executemany / insertmanyvalues), a chunk at a time."""
    for start in range(0, len(rows), chunk):
        db.session.execute(insert(target), list(rows[start : start + chunk]))


def _fix_sequences() -> None:
    """PostgreSQL: explicit ids do not advance SERIAL sequences; move each one past its max."""
    if db.engine.dialect.name != "postgresql":
        return
    for table in db.metadata.sorted_tables:
        pk = list(table.primary_key.columns)
        if len(pk) == 1 and pk[0].name == "id" and pk[0].autoincrement in (True, "auto"):
            # Table names come from our own metadata, never from input.
            statement = (
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "  # noqa: S608
                f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"
            )
            db.session.execute(text(statement))


# --- framework structure ------------------------------------------------------------------------


@dataclass
class FrameworkData:
    id: int
    code: str
    activities: list[int]
    tasks: list[tuple[int, int]]  # (task id, activity id), tasks that have competencies
    task_competencies: dict[int, list[int]]
    criteria: dict[int, list[int]]  # competency id → criterion ids
    competencies: list[int]
    scale: list[str]  # codes, position order; [0] is "not assessed"


def _load_frameworks() -> dict[str, FrameworkData]:
    result: dict[str, FrameworkData] = {}
    for fw in db.session.scalars(select(Framework)):
        activities = list(
            db.session.scalars(
                select(Activity.id)
                .where(Activity.framework_id == fw.id)
                .order_by(Activity.position)
            )
        )
        links: dict[int, list[int]] = {}
        for task_id, competency_id in db.session.execute(
            select(task_competencies.c.task_id, task_competencies.c.competency_id)
            .join(Task, Task.id == task_competencies.c.task_id)
            .where(Task.framework_id == fw.id)
            .order_by(task_competencies.c.task_id, task_competencies.c.competency_id)
        ):
            links.setdefault(task_id, []).append(competency_id)
        tasks = [
            (row.id, row.activity_id)
            for row in db.session.execute(
                select(Task.id, Task.activity_id)
                .where(Task.framework_id == fw.id)
                .order_by(Task.position, Task.id)
            )
            if row.id in links
        ]
        competencies = list(
            db.session.scalars(
                select(Competency.id)
                .where(Competency.framework_id == fw.id)
                .order_by(Competency.position, Competency.id)
            )
        )
        criteria: dict[int, list[int]] = {cid: [] for cid in competencies}
        for criterion_id, competency_id in db.session.execute(
            select(Criterion.id, Criterion.competency_id)
            .where(Criterion.framework_id == fw.id)
            .order_by(Criterion.position, Criterion.id)
        ):
            criteria[competency_id].append(criterion_id)
        scale = list(
            db.session.scalars(
                select(ScaleLevel.code)
                .where(ScaleLevel.framework_id == fw.id)
                .order_by(ScaleLevel.position)
            )
        )
        result[fw.code] = FrameworkData(
            fw.id, fw.code, activities, tasks, links, criteria, competencies, scale
        )
    return result


# --- the generator ------------------------------------------------------------------------------


class _Ids:
    """Explicit primary keys, table by table (the tables start empty)."""

    def __init__(self) -> None:
        self._next: dict[str, int] = {}

    def __call__(self, table: str) -> int:
        value = self._next.get(table, 1)
        self._next[table] = value + 1
        return value


def _class_sizes(size: Size) -> list[int]:
    others = size.classes - 1
    rest = size.learners - size.largest_class
    base, extra = divmod(rest, others)
    return [size.largest_class] + [base + (1 if i < extra else 0) for i in range(others)]


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, 0, tzinfo=UTC)


def generate(url: str, size: Size | None = None, seed: int = 2026) -> Scenario:
    """Empty the database at `url`, create the schema, import the shipped frameworks and
    insert a whole school. Returns the ids the benchmark measures."""
    size = size or Size()
    started = time.perf_counter()
    _reset_database(url)
    app = bench_app(url)
    with app.app_context():
        from app.services.auth import hash_password
        from app.services.frameworks import import_framework_files, shipped_framework_paths

        db.create_all()
        import_framework_files(shipped_framework_paths())
        db.session.commit()
        scenario = _populate(size, random.Random(seed), _load_frameworks(), hash_password(PASSWORD))
        _fix_sequences()
        db.session.commit()
        with db.engine.connect() as conn:  # fresh statistics, as autovacuum would keep them
            conn.execute(text("ANALYZE"))
            conn.commit()
        scenario.url = url
        scenario.dialect = db.engine.dialect.name
        db.session.remove()
        db.engine.dispose()
    scenario.seconds = round(time.perf_counter() - started, 1)
    save_scenario(scenario)
    return scenario


def _populate(
    size: Size, rng: random.Random, frameworks: dict[str, FrameworkData], password_hash: str
) -> Scenario:
    ids = _Ids()
    rows: dict[str, list[dict[str, Any]]] = {}

    def add(table: str, **values: Any) -> dict[str, Any]:
        rows.setdefault(table, []).append(values)
        return values

    def uid() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    today = date.today()
    current_start = _monday(today) - timedelta(weeks=3)
    starts = [current_start - timedelta(weeks=30), current_start - timedelta(weeks=15)]
    starts = [*starts, current_start][-size.periods :]
    created = _at(today - timedelta(days=400))

    add("schools", id=ids("schools"), name="Lycée professionnel du banc d'essai", city="Rennes")
    admin_id = ids("users")
    add(
        "admins",
        id=admin_id,
        role="admin",
        email="admin@bench.passerelle.fr",
        first_name="Alice",
        last_name="Admin",
        password_hash=password_hash,
        created_at=created,
    )

    # Levels and classes: one class per level; class 0 (35 learners) prepares Bac Pro MEE.
    sizes = _class_sizes(size)
    levels: list[tuple[int, FrameworkData, int]] = []  # (level id, framework, class id)
    for index in range(size.classes):
        fw = frameworks[MAIN_FRAMEWORK if index == 0 else OTHER_FRAMEWORKS[index % 6]]
        level_id, class_id = ids("levels"), ids("class_groups")
        grade = ("Terminale", "Première", "Seconde")[index % 3]
        add(
            "levels",
            id=level_id,
            name=f"{grade} {fw.code} groupe {index + 1:02d}",
            framework_id=fw.id,
            position=index,
        )
        add("class_groups", id=class_id, name=f"{fw.code[-4:]}-{index + 1:02d}", level_id=level_id)
        levels.append((level_id, fw, class_id))

    # Teachers: the benchmark's teacher teaches the first three levels; the others two each.
    teacher_ids: list[int] = []
    level_teacher: dict[int, int] = {}
    for index in range(size.teachers):
        teacher_id = ids("users")
        teacher_ids.append(teacher_id)
        add(
            "teachers",
            id=teacher_id,
            role="teacher",
            email=TEACHER_EMAIL if index == 0 else f"prof{index}@bench.passerelle.fr",
            first_name=FIRST_NAMES[index % len(FIRST_NAMES)],
            last_name=f"Professeur{index}",
            password_hash=password_hash if index == 0 else None,
            created_at=created,
        )
        taught = {0, 1, 2} if index == 0 else {index % size.classes, (index + 7) % size.classes}
        for position in sorted(taught):
            add("teacher_levels", teacher_id=teacher_id, level_id=levels[position][0])
            level_teacher.setdefault(levels[position][0], teacher_id)
    bench_teacher = teacher_ids[0]
    level_teacher[levels[0][0]] = bench_teacher

    # Learners.
    learners_by_class: dict[int, list[int]] = {}
    learner_number = 0
    for (_, fw, class_id), count in zip(levels, sizes, strict=True):
        for _ in range(count):
            learner_number += 1
            learner_id = ids("users")
            learners_by_class.setdefault(class_id, []).append(learner_id)
            add(
                "learners",
                id=learner_id,
                role="learner",
                email=f"apprenant{learner_number}@bench.passerelle.fr",
                first_name=FIRST_NAMES[learner_number % len(FIRST_NAMES)],
                last_name=f"{LAST_NAMES[learner_number % len(LAST_NAMES)]}{learner_number}",
                password_hash=password_hash if learner_number == 1 else None,
                learner_status="apprentice" if fw.code.startswith("BTS") else "pupil",
                birth_date=date(2008, 1 + learner_number % 12, 1 + learner_number % 28),
                class_group_id=class_id,
                created_at=created,
            )

    # Periods (with an annex and entrusted tasks), portfolios, liaison sheets, tutors, sheets,
    # selections, assessments with items and history, reads, attachments, interim reviews.
    scenario: Scenario | None = None
    tutor_number = 0
    for level_index, (level_id, fw, class_id) in enumerate(levels):
        teacher_id = level_teacher.get(level_id, bench_teacher)
        annex_id = ids("pedagogical_annexes")
        add(
            "pedagogical_annexes",
            id=annex_id,
            level_id=level_id,
            name="Annexe pédagogique PFMP",
            objectives="Découvrir l'entreprise, ses métiers et ses règles de sécurité.",
            activities="Préparation, réalisation et mise en service d'installations.",
            created_by_id=teacher_id,
            created_at=created,
            updated_at=created,
        )
        entrusted = [task_id for task_id, _ in fw.tasks[:5]]
        for task_id in entrusted:
            add("annex_tasks", annex_id=annex_id, task_id=task_id)
        learners = learners_by_class[class_id]
        masters: dict[int, int] = {}
        previous_assessment: dict[int, int] = {}
        for period_index, start in enumerate(starts):
            end = start + timedelta(days=7 * size.weeks - 3)
            period_id = ids("periods")
            add(
                "periods",
                id=period_id,
                level_id=level_id,
                annex_id=annex_id,
                name=f"PFMP {period_index + 1}",
                start_date=start,
                end_date=end,
                objectives="Découvrir l'entreprise, ses métiers et ses règles de sécurité.",
                activities="Préparation, réalisation et mise en service d'installations.",
                created_by_id=teacher_id,
                created_at=_at(start - timedelta(days=60)),
                updated_at=_at(start - timedelta(days=60)),
            )
            for task_id in entrusted:
                add("period_tasks", period_id=period_id, task_id=task_id)
            current = period_index == len(starts) - 1
            weeks = timefmt.iso_weeks(start, end)
            for learner_index, learner_id in enumerate(learners):
                apprentice = fw.code.startswith("BTS")
                if apprentice and learner_id in masters:
                    tutor_id = masters[learner_id]
                else:
                    tutor_number += 1
                    tutor_id = ids("users")
                    add(
                        "tutors",
                        id=tutor_id,
                        role="tutor",
                        email=f"tuteur{tutor_number}@bench.passerelle.fr",
                        first_name=FIRST_NAMES[(tutor_number * 7) % len(FIRST_NAMES)],
                        last_name=f"Tuteur{tutor_number}",
                        password_hash=None,
                        tutor_kind="apprenticeship" if apprentice else "internship",
                        company_name=f"Entreprise {tutor_number % 450 + 1}",
                        job_title="Chef d'équipe",
                        created_by_id=teacher_id,
                        created_at=created,
                    )
                    masters[learner_id] = tutor_id
                company = f"Entreprise {tutor_number % 450 + 1}"
                portfolio_id = ids("portfolios")
                add(
                    "portfolios",
                    id=portfolio_id,
                    period_id=period_id,
                    learner_id=learner_id,
                    referent_teacher_id=teacher_id,
                    tutor_id=tutor_id,
                    created_at=_at(start - timedelta(days=60)),
                )
                add(
                    "liaison_sheets",
                    id=ids("liaison_sheets"),
                    portfolio_id=portfolio_id,
                    company_name=company,
                    company_siret=f"{rng.randrange(10**13, 10**14)}",
                    company_address=f"{tutor_number % 90 + 1} rue des Artisans, 35000 Rennes",
                    company_phone="02 99 00 00 00",
                    tutor_name=f"Tuteur{tutor_number}",
                    tutor_role="Chef d'équipe",
                    tutor_email=f"tuteur{tutor_number}@bench.passerelle.fr",
                    tutor_phone="06 00 00 00 00",
                    objectives="Découvrir l'entreprise, ses métiers et ses règles de sécurité.",
                    activities="Préparation, réalisation et mise en service d'installations.",
                    updated_at=_at(start - timedelta(days=30)),
                )
                # Week sheets, all written, each with two tasks: one competency rated as a
                # whole and one through 2–3 criteria per task.
                global_comps: set[int] = set()
                criteria_comps: set[int] = set()
                first_sheet = 0
                for position, (year, week) in enumerate(weeks):
                    sheet_id = ids("activity_sheets")
                    first_sheet = first_sheet or sheet_id
                    monday = date.fromisocalendar(year, week, 1)
                    written_at = _at(monday + timedelta(days=4), 17)
                    tasks = rng.sample(fw.tasks, k=min(2, len(fw.tasks)))
                    add(
                        "activity_sheets",
                        id=sheet_id,
                        learner_id=learner_id,
                        portfolio_id=portfolio_id,
                        kind=SheetKind.WEEK,
                        iso_year=year,
                        iso_week=week,
                        position=position,
                        title=timefmt.week_title(year, week),
                        company=company,
                        conditions="autonomous" if position % 2 else "accompanied",
                        activity_id=tasks[0][1],
                        description=DESCRIPTION,
                        analysis=ANALYSIS,
                        created_at=_at(start - timedelta(days=60)),
                        learner_updated_at=written_at,
                        updated_at=written_at,
                    )
                    for task_id, _ in tasks:
                        confirmed = rng.random() < 0.5
                        add(
                            "sheet_tasks",
                            id=ids("sheet_tasks"),
                            sheet_id=sheet_id,
                            task_id=task_id,
                            ticked_by_learner=True,
                            confirmed_by_id=teacher_id if confirmed else None,
                            confirmed_at=written_at + timedelta(days=3) if confirmed else None,
                        )
                        comps = fw.task_competencies[task_id]
                        picked = rng.sample(comps, k=min(2, len(comps)))
                        add(
                            "sheet_competencies",
                            id=ids("sheet_competencies"),
                            sheet_id=sheet_id,
                            task_id=task_id,
                            competency_id=picked[0],
                            mode="global",
                        )
                        global_comps.add(picked[0])
                        if len(picked) > 1 and fw.criteria[picked[1]]:
                            add(
                                "sheet_competencies",
                                id=ids("sheet_competencies"),
                                sheet_id=sheet_id,
                                task_id=task_id,
                                competency_id=picked[1],
                                mode="criteria",
                            )
                            criteria_comps.add(picked[1])
                            pool = fw.criteria[picked[1]]
                            for criterion_id in rng.sample(pool, k=min(len(pool), 3)):
                                add(
                                    "sheet_criteria",
                                    id=ids("sheet_criteria"),
                                    sheet_id=sheet_id,
                                    task_id=task_id,
                                    criterion_id=criterion_id,
                                )
                    if position % 3 == 0:
                        add(
                            "attachments",
                            id=ids("attachments"),
                            sheet_id=sheet_id,
                            kind="url",
                            original_name="",
                            stored_name=None,
                            content_type="",
                            size=0,
                            url=f"https://www.example.org/chantier/{sheet_id}",
                            created_at=written_at,
                        )
                    if position % 2 == 0:  # the others stay unread (green) for the teacher
                        add(
                            "sheet_reads",
                            sheet_id=sheet_id,
                            teacher_id=teacher_id,
                            read_at=written_at + timedelta(days=2),
                        )

                # The assessment: completed for the first period and half of the second;
                # drafts rated halfway otherwise. Criteria-mode competencies are rated
                # criterion by criterion (all of them), the others as a whole.
                completed = period_index == 0 or (period_index == 1 and learner_index % 2 == 0)
                assessment_id = ids("assessments")
                meeting = end - timedelta(days=1)
                add(
                    "assessments",
                    id=assessment_id,
                    portfolio_id=portfolio_id,
                    status="completed" if completed else "draft",
                    completed_at=_at(meeting, 16) if completed else None,
                    completed_by_id=teacher_id if completed else None,
                    created_at=_at(end - timedelta(days=10)),
                    updated_at=_at(meeting, 16),
                )
                keys: list[tuple[str, str, int | None, int | None, str]] = []
                for competency_id in fw.competencies:
                    if competency_id in criteria_comps:
                        for criterion_id in fw.criteria[competency_id]:
                            value = fw.scale[rng.choice((2, 3, 4, 4, 5, 5))]
                            keys.append(
                                (f"criterion:{criterion_id}", "criterion", competency_id,
                                 criterion_id, value)
                            )  # fmt: skip
                    elif competency_id in global_comps:
                        value = fw.scale[rng.choice((2, 3, 4, 4, 5))]
                        keys.append(
                            (
                                f"competency:{competency_id}",
                                "competency",
                                competency_id,
                                None,
                                value,
                            )
                        )
                keys += [
                    ("engagement", "engagement", None, None, str(rng.randint(2, 4))),
                    ("meeting_date", "meeting_date", None, None, meeting.isoformat()),
                    ("comment", "comment", None, None, COMMENT),
                ]
                if not completed:
                    keys = keys[::2]
                for number, (key, kind, comp_id, crit_id, value) in enumerate(keys):
                    item_id = ids("assessment_items")
                    by_tutor = number % 2 == 1
                    moment = _at(meeting, 9) + timedelta(minutes=number)
                    add(
                        "assessment_items",
                        id=item_id,
                        assessment_id=assessment_id,
                        item_key=key,
                        kind=kind,
                        competency_id=comp_id,
                        criterion_id=crit_id,
                        value=value,
                        version=1,
                        author_id=tutor_id if by_tutor else teacher_id,
                        author_role="tutor" if by_tutor else "teacher",
                        device_time=moment,
                        server_time=moment,
                        conflict=False,
                        conflict_value=None,
                        conflict_change_id=None,
                    )
                    add(
                        "assessment_item_changes",
                        id=ids("assessment_item_changes"),
                        item_id=item_id,
                        change_uuid=uid(),
                        value=value,
                        previous_value=None,
                        base_version=0,
                        resulting_version=1,
                        outcome="applied",
                        author_id=tutor_id if by_tutor else teacher_id,
                        author_role="tutor" if by_tutor else "teacher",
                        device_time=moment,
                        server_time=moment,
                        via_sync=by_tutor and number % 4 == 1,
                    )
                if completed:
                    add(
                        "audit_log",
                        id=ids("audit_log"),
                        at=_at(meeting, 16),
                        actor_id=teacher_id,
                        actor_label=f"Professeur ({teacher_id})",
                        action="assessment.completed",
                        object_type="assessment",
                        object_id=assessment_id,
                        learner_id=learner_id,
                        details={"portfolio_id": portfolio_id},
                    )
                if period_index == 0:
                    previous_assessment[learner_id] = assessment_id
                if (
                    level_index == 0
                    and current
                    and learner_index == 0
                    and fw.code == MAIN_FRAMEWORK
                ):
                    mee_criteria = [c for comp in fw.competencies for c in fw.criteria[comp]]
                    scenario = Scenario(
                        url="",
                        dialect="",
                        teacher_email=TEACHER_EMAIL,
                        password=PASSWORD,
                        period_id=period_id,
                        period_learners=len(learners),
                        learner_id=learner_id,
                        portfolio_id=portfolio_id,
                        assessment_id=assessment_id,
                        sheet_id=first_sheet + 1,
                        criterion_ids=mee_criteria[:60],
                        level_id=level_id,
                    )

        # One interim review per learner, after the second period, on every competency.
        for learner_id in learners:
            review_id = ids("interim_reviews")
            add(
                "interim_reviews",
                id=review_id,
                learner_id=learner_id,
                teacher_id=teacher_id,
                review_date=starts[-1] - timedelta(days=14),
                comment="Positionnement à mi-parcours.",
                created_at=_at(starts[-1] - timedelta(days=14)),
            )
            for competency_id in fw.competencies:
                add(
                    "interim_review_positions",
                    review_id=review_id,
                    competency_id=competency_id,
                    value=fw.scale[rng.choice((2, 3, 4, 5))],
                    comment="",
                )
            if learner_id in previous_assessment:
                add(
                    "interim_review_assessments",
                    review_id=review_id,
                    assessment_id=previous_assessment[learner_id],
                )

    targets: list[tuple[str, Any]] = [
        ("schools", School),
        ("admins", Admin),
        ("levels", Level),
        ("class_groups", ClassGroup),
        ("teachers", Teacher),
        ("teacher_levels", teacher_levels),
        ("learners", Learner),
        ("tutors", Tutor),
        ("pedagogical_annexes", PedagogicalAnnex),
        ("annex_tasks", annex_tasks),
        ("periods", Period),
        ("period_tasks", period_tasks),
        ("portfolios", Portfolio),
        ("liaison_sheets", LiaisonSheet),
        ("activity_sheets", ActivitySheet),
        ("sheet_tasks", SheetTask),
        ("sheet_competencies", SheetCompetency),
        ("sheet_criteria", SheetCriterion),
        ("attachments", Attachment),
        ("sheet_reads", SheetRead),
        ("assessments", Assessment),
        ("assessment_items", AssessmentItem),
        ("assessment_item_changes", AssessmentItemChange),
        ("audit_log", AuditLog),
        ("interim_reviews", InterimReview),
        ("interim_review_positions", InterimReviewPosition),
        ("interim_review_assessments", interim_review_assessments),
    ]
    for name, target in targets:
        _bulk(target, rows.get(name, []))
    assert scenario is not None
    scenario.counts = {name: len(rows.get(name, [])) for name, _ in targets}
    return scenario


# --- scenario files -----------------------------------------------------------------------------


def scenario_path(dialect: str) -> Path:
    return DATA_DIR / f"scenario-{dialect}.json"


def save_scenario(scenario: Scenario) -> None:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    scenario_path(scenario.dialect).write_text(json.dumps(asdict(scenario), indent=2))


def load_scenario(dialect: str) -> Scenario | None:
    path = scenario_path(dialect)
    if not path.exists():
        return None
    return Scenario(**json.loads(path.read_text()))


def postgresql_url() -> str | None:
    url = os.environ.get("BENCH_DATABASE_URL")
    return url.replace("postgres://", "postgresql+psycopg://", 1) if url else None


def main(argv: Iterable[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--postgresql", action="store_true", help="generate into BENCH_DATABASE_URL instead"
    )
    args = parser.parse_args(list(argv) if argv is not None else None)
    url = postgresql_url() if args.postgresql else sqlite_url()
    if url is None:
        raise SystemExit("Set BENCH_DATABASE_URL=postgresql+psycopg://user@host/passerelle_bench")
    scenario = generate(url)
    print(f"{scenario.dialect}: {sum(scenario.counts.values())} rows in {scenario.seconds} s")
    for name, count in scenario.counts.items():
        print(f"  {name:28} {count:>8}")


if __name__ == "__main__":
    main()
