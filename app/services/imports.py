"""CSV imports of learners (with their classes) and of teachers, as a school information
system exports them.

Three steps, so that what the admin confirms is exactly what they previewed:

1. `read_learners_csv` / `read_teachers_csv` are pure: bytes → typed rows, each row either
   valid or carrying the French reason it is rejected. A file that cannot be read at all
   (empty, binary, unknown encoding, missing columns, too large) raises `ImportFileError`
   and nothing is ever written.
2. `plan_learners` / `plan_teachers` compare the rows with the database (read only) and say
   per row whether it will be created, updated, left unchanged or rejected, and why.
3. `apply_learners` / `apply_teachers` run the same plan again on the current database and
   write it (flush, never commit).

Re-importing the same file updates instead of duplicating: learners are keyed on an INE/ID
column when the file has one, otherwise on their normalised name and birth date
(`Learner.external_id`); teachers on their e-mail address.

The parsed upload is kept between the preview and the confirmation in a private directory
(`stash_upload`), see the comment there.
"""

from __future__ import annotations

import csv
import io
import json
import re
import secrets
import time
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select

from app.errors import InvalidInput
from app.extensions import db
from app.models import ClassGroup, Learner, LearnerStatus, Level, Teacher, User
from app.services import audit

MAX_IMPORT_BYTES = 2 * 1024 * 1024  # a school of 3,000 learners is about 300 kB
MAX_ROWS = 5000
NAME_MAX = 80  # users.first_name / last_name
CLASS_MAX = 40  # class_groups.name
EMAIL_MAX = 254
EXTERNAL_ID_MAX = 120
PHONE_MAX = 30

CREATED = "created"
UPDATED = "updated"
UNCHANGED = "unchanged"
REJECTED = "rejected"
STATUS_LABELS = {
    CREATED: "créé",
    UPDATED: "mis à jour",
    UNCHANGED: "inchangé",
    REJECTED: "rejeté",
}


class ImportFileError(InvalidInput):
    """The whole file is unusable; the message says why, in French, and nothing is written."""


# --- reading the file ------------------------------------------------------------------------


def _fold(text: str) -> str:
    """Lower case, no accents, words separated by single spaces: "Prénom " → "prenom"."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"[^a-z0-9]+", " ", plain.lower()).strip()


# Column names seen in the exports of French school information systems (SIECLE/ONDE/Pronote,
# CFA software) and their English equivalents, folded with `_fold`.
LEARNER_COLUMNS: dict[str, tuple[str, ...]] = {
    "last_name": ("nom", "nom de famille", "nom d usage", "nom eleve", "nom apprenant", "last name",
                  "lastname", "family name", "surname"),
    "first_name": ("prenom", "prenom 1", "premier prenom", "prenom eleve", "prenom apprenant",
                   "first name", "firstname", "given name"),
    "birth_date": ("date de naissance", "date naissance", "ne e le", "ne le", "naissance",
                   "birth date", "birthdate", "date of birth"),
    "class_name": ("classe", "division", "classe division", "classe actuelle", "groupe", "class"),
    "status": ("statut", "status", "statut apprenant", "regime", "type"),
    "email": ("e mail", "email", "mail", "courriel", "adresse e mail", "adresse mail",
              "adresse electronique"),
    "ine": ("ine", "id", "identifiant", "numero ine", "no ine", "n ine", "id national",
            "identifiant national", "ine eleve"),
}  # fmt: skip
LEARNER_REQUIRED = ("last_name", "first_name", "birth_date", "class_name")

TEACHER_COLUMNS: dict[str, tuple[str, ...]] = {
    "last_name": LEARNER_COLUMNS["last_name"] + ("nom enseignant", "nom professeur"),
    "first_name": LEARNER_COLUMNS["first_name"] + ("prenom enseignant", "prenom professeur"),
    "email": LEARNER_COLUMNS["email"],
    "levels": ("niveaux", "niveau", "niveaux de classe", "levels", "level"),
    "phone": ("telephone", "tel", "portable", "phone"),
}
TEACHER_REQUIRED = ("last_name", "first_name", "email")

COLUMN_LABELS = {
    "last_name": "Nom",
    "first_name": "Prénom",
    "birth_date": "Date de naissance",
    "class_name": "Classe",
    "status": "Statut",
    "email": "E-mail",
    "ine": "INE / identifiant",
    "levels": "Niveaux",
    "phone": "Téléphone",
}

STATUS_WORDS = {
    "": LearnerStatus.PUPIL,
    "scolaire": LearnerStatus.PUPIL,
    "sous statut scolaire": LearnerStatus.PUPIL,
    "statut scolaire": LearnerStatus.PUPIL,
    "eleve": LearnerStatus.PUPIL,
    "etudiant": LearnerStatus.PUPIL,
    "pupil": LearnerStatus.PUPIL,
    "student": LearnerStatus.PUPIL,
    "apprenti": LearnerStatus.APPRENTICE,
    "apprentie": LearnerStatus.APPRENTICE,
    "apprentissage": LearnerStatus.APPRENTICE,
    "apprentice": LearnerStatus.APPRENTICE,
}


def decode_csv(data: bytes) -> str:
    """The text of an uploaded CSV: UTF-8 (with or without BOM), UTF-16 with BOM (Excel's
    "Unicode text"), otherwise Windows-1252 (Excel's "CSV (séparateur : point-virgule)")."""
    if len(data) > MAX_IMPORT_BYTES:
        raise ImportFileError(
            f"Le fichier est trop volumineux ({len(data) // 1024} ko) : "
            f"{MAX_IMPORT_BYTES // (1024 * 1024)} Mo au maximum."
        )
    if not data.strip():
        raise ImportFileError("Le fichier est vide.")
    if data.startswith(b"PK\x03\x04"):
        raise ImportFileError(
            "Ce fichier est un classeur (Excel ou LibreOffice), pas un CSV : ouvrez-le et "
            "enregistrez-le au format « CSV (séparateur : point-virgule) »."
        )
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            raise ImportFileError("Le fichier n'est pas un texte lisible.") from None
        if "\x00" in text:
            raise ImportFileError("Ce fichier n'est pas un fichier texte CSV (contenu binaire).")
        return text
    if b"\x00" in data:
        raise ImportFileError(
            "Ce fichier n'est pas un fichier texte CSV (contenu binaire). "
            "Exportez la liste au format CSV."
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        raise ImportFileError(
            "Encodage du fichier non reconnu : enregistrez-le en UTF-8 ou en Windows-1252 (ANSI)."
        ) from None
    controls = sum(1 for c in text if ord(c) < 32 and c not in "\r\n\t")
    if controls > max(3, len(text) // 100):
        raise ImportFileError("Ce fichier n'est pas un fichier texte CSV (contenu binaire).")
    return text


def _delimiter(header_line: str) -> str:
    """`;` (French Excel), `,` or tab: the one the header line uses most."""
    counts = {d: header_line.count(d) for d in (";", ",", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ";"


@dataclass
class RawTable:
    columns: dict[str, int]  # our field → index in the row
    headers: list[str]
    rows: list[tuple[int, list[str]]]  # (line number in the file, cells)


def _read_table(
    data: bytes, synonyms: dict[str, tuple[str, ...]], required: Iterable[str]
) -> RawTable:
    text = decode_csv(data)
    lines = text.splitlines()
    first = next((line for line in lines if line.strip()), "")
    delimiter = _delimiter(first)
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        records = [(reader.line_num, row) for row in reader]
    except csv.Error as error:
        raise ImportFileError(f"Le fichier CSV est mal formé : {error}.") from None
    records = [(line, row) for line, row in records if any(cell.strip() for cell in row)]
    if not records:
        raise ImportFileError("Le fichier est vide.")
    _, headers = records[0]
    lookup = {name: key for key, names in synonyms.items() for name in names}
    columns: dict[str, int] = {}
    for index, header in enumerate(headers):
        key = lookup.get(_fold(header))
        if key is not None and key not in columns:
            columns[key] = index
    missing = [COLUMN_LABELS[key] for key in required if key not in columns]
    if missing:
        found = ", ".join(f"« {h.strip()} »" for h in headers if h.strip())[:300]
        plural = "s" if len(missing) > 1 else ""
        raise ImportFileError(
            f"Colonne{plural} manquante{plural} : {', '.join(missing)}. "
            f"Colonnes trouvées : {found or 'aucune'}. "
            "La première ligne doit contenir les noms des colonnes."
        )
    rows = records[1:]
    if not rows:
        raise ImportFileError("Le fichier ne contient que la ligne des titres de colonnes.")
    if len(rows) > MAX_ROWS:
        raise ImportFileError(
            f"Le fichier contient {len(rows)} lignes : {MAX_ROWS} au maximum par import."
        )
    return RawTable(columns=columns, headers=headers, rows=rows)


def _cell(table: RawTable, row: list[str], key: str) -> str:
    index = table.columns.get(key)
    if index is None or index >= len(row):
        return ""
    return " ".join(row[index].split())  # trims and collapses inner whitespace


def parse_date(text: str) -> date | None:
    """dd/mm/yyyy (also with - or .), d/m/yyyy, or ISO yyyy-mm-dd; None when not a date."""
    text = text.strip()
    match = re.fullmatch(r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})", text)
    try:
        if match:
            day, month, year = (int(g) for g in match.groups())
            return date(year, month, day)
        match = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ].*)?", text)
        if match:
            year, month, day = (int(g) for g in match.groups())
            return date(year, month, day)
    except ValueError:
        return None
    return None


def _check_email(value: str) -> tuple[str | None, str | None]:
    """(normalised address, None) or (None, reason)."""
    if len(value) > EMAIL_MAX:
        return None, "adresse e-mail trop longue"
    try:
        checked = validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return None, f"adresse e-mail invalide : « {value} »"
    return checked.normalized.lower(), None


def _check_name(value: str, label: str) -> str | None:
    if not value:
        return f"{label} manquant"
    if len(value) > NAME_MAX:
        return f"{label} trop long ({NAME_MAX} caractères au maximum)"
    return None


def name_key(last_name: str, first_name: str, birth_date: date) -> str:
    """The re-import key of a learner without an INE column: "nom:garay|ines|2007-05-14"."""
    last = _fold(last_name).replace(" ", "-")
    first = _fold(first_name).replace(" ", "-")
    return f"nom:{last}|{first}|{birth_date.isoformat()}"[:EXTERNAL_ID_MAX]


@dataclass
class LearnerRow:
    line: int
    last_name: str = ""
    first_name: str = ""
    birth_date: date | None = None
    birth_text: str = ""
    class_name: str = ""
    status: str = LearnerStatus.PUPIL
    status_text: str = ""
    email: str | None = None
    email_text: str = ""
    ine: str = ""
    error: str | None = None

    @property
    def key(self) -> str:
        if self.ine:
            return f"ine:{self.ine}"
        assert self.birth_date is not None
        return name_key(self.last_name, self.first_name, self.birth_date)


@dataclass
class TeacherRow:
    line: int
    last_name: str = ""
    first_name: str = ""
    email: str = ""
    email_text: str = ""
    phone: str = ""
    level_names: list[str] = field(default_factory=list)
    levels_text: str = ""
    error: str | None = None


@dataclass
class LearnerFile:
    rows: list[LearnerRow]
    has_ine: bool


@dataclass
class TeacherFile:
    rows: list[TeacherRow]
    has_levels: bool


def read_learners_csv(data: bytes) -> LearnerFile:
    """Parse a learners CSV. Raises ImportFileError when the file is unusable; a bad row only
    gets its `error` set."""
    table = _read_table(data, LEARNER_COLUMNS, LEARNER_REQUIRED)
    rows: list[LearnerRow] = []
    seen: dict[str, int] = {}
    seen_emails: dict[str, int] = {}
    for line, cells in table.rows:
        row = LearnerRow(
            line=line,
            last_name=_cell(table, cells, "last_name"),
            first_name=_cell(table, cells, "first_name"),
            birth_text=_cell(table, cells, "birth_date"),
            class_name=_cell(table, cells, "class_name"),
            status_text=_cell(table, cells, "status"),
            email_text=_cell(table, cells, "email"),
            ine=_cell(table, cells, "ine").replace(" ", "").upper(),
        )
        row.error = _check_learner_row(row)
        if row.error is None:
            first_line = seen.setdefault(row.key, line)
            if first_line != line:
                row.error = f"en double dans le fichier (même apprenant qu'à la ligne {first_line})"
            elif row.email:
                first_line = seen_emails.setdefault(row.email, line)
                if first_line != line:
                    row.error = f"adresse e-mail déjà utilisée à la ligne {first_line} du fichier"
        rows.append(row)
    return LearnerFile(rows=rows, has_ine="ine" in table.columns)


def _check_learner_row(row: LearnerRow) -> str | None:
    for value, label in ((row.last_name, "nom"), (row.first_name, "prénom")):
        if problem := _check_name(value, label):
            return problem
    if not row.birth_text:
        return "date de naissance manquante"
    row.birth_date = parse_date(row.birth_text)
    if row.birth_date is None:
        return f"date de naissance invalide : « {row.birth_text} » (attendu jj/mm/aaaa)"
    if not date(1900, 1, 1) <= row.birth_date <= date.today():
        return f"date de naissance impossible : « {row.birth_text} »"
    if not row.class_name:
        return "classe manquante"
    if len(row.class_name) > CLASS_MAX:
        return f"nom de classe trop long ({CLASS_MAX} caractères au maximum)"
    status = STATUS_WORDS.get(_fold(row.status_text))
    if status is None:
        return f"statut inconnu : « {row.status_text} » (attendu : scolaire ou apprenti)"
    row.status = status
    if row.email_text:
        row.email, problem = _check_email(row.email_text)
        if problem:
            return problem
    if len(row.ine) > EXTERNAL_ID_MAX - 4:
        return "identifiant trop long"
    return None


def _split_levels(text: str) -> list[str]:
    return [part.strip() for part in re.split(r"[|;,+]", text) if part.strip()]


def read_teachers_csv(data: bytes) -> TeacherFile:
    """Parse a teachers CSV (Nom, Prénom, E-mail, optional Niveaux separated by | ; , or +)."""
    table = _read_table(data, TEACHER_COLUMNS, TEACHER_REQUIRED)
    rows: list[TeacherRow] = []
    seen: dict[str, int] = {}
    for line, cells in table.rows:
        row = TeacherRow(
            line=line,
            last_name=_cell(table, cells, "last_name"),
            first_name=_cell(table, cells, "first_name"),
            email_text=_cell(table, cells, "email"),
            phone=_cell(table, cells, "phone"),
            levels_text=_cell(table, cells, "levels"),
        )
        row.level_names = _split_levels(row.levels_text)
        row.error = _check_teacher_row(row)
        if row.error is None:
            first_line = seen.setdefault(row.email, line)
            if first_line != line:
                row.error = f"en double dans le fichier (même adresse qu'à la ligne {first_line})"
        rows.append(row)
    return TeacherFile(rows=rows, has_levels="levels" in table.columns)


def _check_teacher_row(row: TeacherRow) -> str | None:
    for value, label in ((row.last_name, "nom"), (row.first_name, "prénom")):
        if problem := _check_name(value, label):
            return problem
    if not row.email_text:
        return "adresse e-mail manquante"
    email, problem = _check_email(row.email_text)
    if problem:
        return problem
    row.email = email or ""
    if len(row.phone) > PHONE_MAX:
        return "numéro de téléphone trop long"
    return None


# --- planning against the database -----------------------------------------------------------


@dataclass
class PlannedRow:
    """One line of the preview and of the report."""

    line: int
    cells: dict[str, str]  # what the file said, for display
    status: str
    reason: str = ""
    changes: list[str] = field(default_factory=list)
    note: str = ""  # shown whatever the status (e.g. classes unknown to Passerelle)
    target: Any = None  # the existing Learner/Teacher to update
    payload: Any = None  # the parsed row

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]


@dataclass
class ImportPlan:
    kind: str  # "learners" | "teachers"
    rows: list[PlannedRow]
    new_classes: list[str] = field(default_factory=list)
    level: Level | None = None

    def count(self, status: str) -> int:
        return sum(1 for row in self.rows if row.status == status)

    @property
    def counts(self) -> dict[str, int]:
        return {status: self.count(status) for status in STATUS_LABELS}

    @property
    def rejected(self) -> list[PlannedRow]:
        return [row for row in self.rows if row.status == REJECTED]

    @property
    def writes(self) -> int:
        return self.count(CREATED) + self.count(UPDATED)


def _learner_cells(row: LearnerRow) -> dict[str, str]:
    return {
        "last_name": row.last_name,
        "first_name": row.first_name,
        "birth_date": row.birth_text,
        "class_name": row.class_name,
        "status": row.status_text,
        "email": row.email_text,
        "ine": row.ine,
    }


def plan_learners(parsed: LearnerFile, level: Level | None) -> ImportPlan:
    """What importing these rows would do, without writing (a few queries in all)."""
    valid = [row for row in parsed.rows if row.error is None]
    keys = {row.key for row in valid}
    keys |= {name_key(r.last_name, r.first_name, r.birth_date) for r in valid if r.birth_date}
    existing: dict[str, Learner] = {}
    for batch in _batches(sorted(keys)):
        for found in db.session.scalars(select(Learner).where(Learner.external_id.in_(batch))):
            existing[found.external_id or ""] = found
    emails = sorted({row.email for row in valid if row.email})
    email_owner: dict[str, User] = {}
    for batch in _batches(emails):
        for user in db.session.scalars(select(User).where(User.email.in_(batch))):
            email_owner[user.email or ""] = user
    classes = _classes_by_name({row.class_name for row in valid})

    plan = ImportPlan(kind="learners", rows=[], level=level)
    new_classes: set[str] = set()
    for row in parsed.rows:
        planned = PlannedRow(line=row.line, cells=_learner_cells(row), status=REJECTED, payload=row)
        plan.rows.append(planned)
        if row.error is not None:
            planned.reason = row.error
            continue
        learner: Learner | None = existing.get(row.key)
        if learner is None and row.ine and row.birth_date:
            # A file with INE after one without: find the learner by name and birth date.
            learner = existing.get(name_key(row.last_name, row.first_name, row.birth_date))
        group = classes.get(_fold(row.class_name))
        if group is None and level is None:
            planned.reason = (
                f"classe « {row.class_name} » inconnue : choisissez le niveau sous lequel "
                "créer les nouvelles classes"
            )
            continue
        owner = email_owner.get(row.email) if row.email else None
        if owner is not None and (learner is None or owner.id != learner.id):
            planned.reason = (
                f"adresse e-mail déjà utilisée par un autre compte ({owner.role_label})"
            )
            continue
        if group is None:
            new_classes.add(row.class_name)
        planned.target = learner
        if learner is None:
            planned.status = CREATED
            continue
        planned.changes = _learner_changes(learner, row, group)
        planned.status = UPDATED if planned.changes else UNCHANGED
    plan.new_classes = sorted(new_classes)
    return plan


def _learner_changes(learner: Learner, row: LearnerRow, group: ClassGroup | None) -> list[str]:
    changes: list[str] = []
    if learner.last_name != row.last_name or learner.first_name != row.first_name:
        changes.append("nom")
    if learner.birth_date != row.birth_date:
        changes.append("date de naissance")
    if group is None or learner.class_group_id != group.id:
        changes.append("classe")
    if learner.learner_status != row.status:
        changes.append("statut")
    if row.email and learner.email != row.email:
        changes.append("e-mail")
    if row.ine and learner.external_id != row.key:
        changes.append("identifiant")
    return changes


def _classes_by_name(names: Iterable[str]) -> dict[str, ClassGroup]:
    """Existing classes matched case- and accent-insensitively (one query)."""
    wanted = {_fold(name) for name in names}
    if not wanted:
        return {}
    groups = db.session.scalars(select(ClassGroup)).all()
    return {_fold(g.name): g for g in groups if _fold(g.name) in wanted}


def _batches(values: list[str], size: int = 500) -> Iterable[list[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def apply_learners(parsed: LearnerFile, level: Level | None, actor: User | None) -> ImportPlan:
    """Create and update the learners (and new classes) of a parsed file. Flushes."""
    plan = plan_learners(parsed, level)
    classes = _classes_by_name(row.payload.class_name for row in plan.rows if row.payload)
    for name in plan.new_classes:
        assert level is not None
        group = ClassGroup(name=name, level_id=level.id)
        db.session.add(group)
        classes[_fold(name)] = group
    db.session.flush()
    for planned in plan.rows:
        row: LearnerRow = planned.payload
        if planned.status not in (CREATED, UPDATED):
            continue
        group = classes[_fold(row.class_name)]
        learner = planned.target
        if learner is None:
            learner = Learner(email=row.email)
            db.session.add(learner)
        learner.last_name = row.last_name
        learner.first_name = row.first_name
        learner.birth_date = row.birth_date
        learner.class_group_id = group.id
        learner.learner_status = row.status
        learner.external_id = row.key
        if row.email:
            learner.email = row.email
        db.session.flush()
        planned.target = learner
        action = "account.imported" if planned.status == CREATED else "account.updated_by_import"
        audit.record(
            actor, action, "user", learner.id, learner_id=learner.id, changes=planned.changes
        )
    audit.record(
        actor,
        "import.learners",
        "import",
        None,
        level=level.name if level else None,
        classes_created=plan.new_classes,
        **plan.counts,
    )
    db.session.flush()
    return plan


def plan_teachers(parsed: TeacherFile) -> ImportPlan:
    """What importing these teachers would do, without writing."""
    valid = [row for row in parsed.rows if row.error is None]
    owners: dict[str, User] = {}
    for batch in _batches(sorted({row.email for row in valid})):
        for user in db.session.scalars(select(User).where(User.email.in_(batch))):
            owners[user.email or ""] = user
    levels = {_fold(level.name): level for level in db.session.scalars(select(Level))}
    current_levels = _teacher_level_ids([u.id for u in owners.values() if isinstance(u, Teacher)])
    plan = ImportPlan(kind="teachers", rows=[])
    for row in parsed.rows:
        cells = {
            "last_name": row.last_name,
            "first_name": row.first_name,
            "email": row.email_text,
            "levels": row.levels_text,
            "phone": row.phone,
        }
        planned = PlannedRow(line=row.line, cells=cells, status=REJECTED, payload=row)
        plan.rows.append(planned)
        if row.error is not None:
            planned.reason = row.error
            continue
        unknown = [name for name in row.level_names if _fold(name) not in levels]
        if unknown:
            planned.reason = "niveau inconnu : " + ", ".join(f"« {n} »" for n in unknown)
            continue
        wanted = {levels[_fold(name)].id for name in row.level_names}
        owner = owners.get(row.email)
        if owner is not None and not isinstance(owner, Teacher):
            planned.reason = f"adresse e-mail déjà utilisée par un compte {owner.role_label}"
            continue
        planned.target = owner
        if owner is None:
            planned.status = CREATED
            continue
        changes = []
        if owner.last_name != row.last_name or owner.first_name != row.first_name:
            changes.append("nom")
        if row.phone and owner.phone != row.phone:
            changes.append("téléphone")
        if wanted - current_levels.get(owner.id, set()):
            changes.append("niveaux")
        planned.changes = changes
        planned.status = UPDATED if changes else UNCHANGED
    return plan


def _teacher_level_ids(teacher_ids: list[int]) -> dict[int, set[int]]:
    from app.models.school import teacher_levels

    result: dict[int, set[int]] = {}
    if not teacher_ids:
        return result
    rows = db.session.execute(
        select(teacher_levels.c.teacher_id, teacher_levels.c.level_id).where(
            teacher_levels.c.teacher_id.in_(teacher_ids)
        )
    )
    for teacher_id, level_id in rows:
        result.setdefault(teacher_id, set()).add(level_id)
    return result


def apply_teachers(parsed: TeacherFile, actor: User | None) -> ImportPlan:
    """Create and update teachers; listed levels are added (never removed: removing a level
    is done on the account page, so a partial file cannot silently cut a teacher's access)."""
    plan = plan_teachers(parsed)
    levels = {_fold(level.name): level for level in db.session.scalars(select(Level))}
    for planned in plan.rows:
        if planned.status not in (CREATED, UPDATED):
            continue
        row: TeacherRow = planned.payload
        teacher = planned.target
        if teacher is None:
            teacher = Teacher(email=row.email, levels=[])
            db.session.add(teacher)
        teacher.last_name = row.last_name
        teacher.first_name = row.first_name
        if row.phone:
            teacher.phone = row.phone
        for name in row.level_names:
            level = levels[_fold(name)]
            if level not in teacher.levels:
                teacher.levels.append(level)
        db.session.flush()
        planned.target = teacher
        action = "account.imported" if planned.status == CREATED else "account.updated_by_import"
        audit.record(actor, action, "user", teacher.id, changes=planned.changes)
    audit.record(actor, "import.teachers", "import", None, **plan.counts)
    db.session.flush()
    return plan


# --- keeping the upload between preview and confirmation -------------------------------------
#
# Why keep the file server-side rather than ask for it again: a browser cannot re-send a file
# input from the preview page, so "Importer" would need a second upload of possibly another
# file; carrying the rows in hidden fields would let a tampered form skip the checks. The raw
# bytes are stored in a private directory (not under static/) under a random token, tied to
# the admin who uploaded them, re-parsed and re-checked on confirmation, deleted right after
# the import, and purged after STASH_TTL_SECONDS (they hold learners' personal data).

STASH_TTL_SECONDS = 3600
_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,64}")


def stash_upload(directory: Path, data: bytes, *, kind: str, user_id: int, **meta: Any) -> str:
    """Keep an uploaded file until its import is confirmed; returns the token."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    purge_stale_uploads(directory)
    token = secrets.token_urlsafe(24)
    (directory / f"{token}.csv").write_bytes(data)
    info = {"kind": kind, "user_id": user_id, "at": time.time(), **meta}
    (directory / f"{token}.json").write_text(json.dumps(info))
    return token


def load_upload(
    directory: Path, token: str, *, kind: str, user_id: int
) -> tuple[bytes, dict[str, Any]]:
    """The stashed file of this admin and kind; InvalidInput when unknown, expired or not theirs."""
    gone = ImportFileError(
        "Ce fichier n'est plus disponible (import déjà effectué ou délai dépassé) : "
        "envoyez-le de nouveau."
    )
    if not _TOKEN.fullmatch(token):
        raise gone
    try:
        info = json.loads((directory / f"{token}.json").read_text())
        data = (directory / f"{token}.csv").read_bytes()
    except (OSError, ValueError):
        raise gone from None
    fresh = time.time() - float(info.get("at", 0)) < STASH_TTL_SECONDS
    if info.get("kind") != kind or info.get("user_id") != user_id or not fresh:
        raise gone
    return data, info


def drop_upload(directory: Path, token: str) -> None:
    if not _TOKEN.fullmatch(token):
        return
    for suffix in (".csv", ".json"):
        (directory / f"{token}{suffix}").unlink(missing_ok=True)


def purge_stale_uploads(directory: Path) -> None:
    limit = time.time() - STASH_TTL_SECONDS
    for path in directory.glob("*.*"):
        try:
            if path.stat().st_mtime < limit:
                path.unlink(missing_ok=True)
        except OSError:
            continue


def report_lines(plan: ImportPlan) -> list[str]:
    """A plain-text report (CLI): counts, then every rejected line with its reason."""
    c = plan.counts
    lines = [
        f"{c[CREATED]} créé(s), {c[UPDATED]} mis à jour, {c[UNCHANGED]} inchangé(s), "
        f"{c[REJECTED]} rejeté(s)."
    ]
    if plan.new_classes:
        lines.append("Classes créées : " + ", ".join(plan.new_classes))
    for row in plan.rejected:
        who = " ".join(v for v in (row.cells.get("last_name"), row.cells.get("first_name")) if v)
        lines.append(f"  ligne {row.line} ({who or 'vide'}) : {row.reason}")
    return lines
