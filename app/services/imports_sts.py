"""Import of the STS-web export of staff and timetable structure, `sts_emp_<UAI>_<YEAR>.xml`
(STS_EDT): the teachers, and through their services the classes (divisions) they teach, hence
their levels. Same three steps as the CSV import (`app.services.imports`).

Elements read (see docs/imports.md):

- `STS_EDT/PARAMETRES`: UAJ[@CODE], ANNEE_SCOLAIRE[@ANNEE] (shown in the preview);
- `STS_EDT/DONNEES/INDIVIDUS/INDIVIDU[@ID][@TYPE]`: NOM_USAGE or else NOM_PATRONYMIQUE,
  PRENOM, DATE_NAISSANCE (yyyy-mm-dd), CIVILITE, FONCTION (only "ENS", teachers, are
  imported), MEL (optional, rarely present);
- `STS_EDT/DONNEES/STRUCTURE/DIVISIONS/DIVISION[@CODE]`: MEFS_APPARTENANCE/MEF_APPARTENANCE
  [@CODE], and SERVICES/SERVICE/ENSEIGNANTS/ENSEIGNANT[@ID] — who teaches in the division;
- `STS_EDT/DONNEES/STRUCTURE/GROUPES/GROUPE`: DIVISIONS_APPARTENANCE/DIVISION_APPARTENANCE
  [@CODE] and its SERVICES likewise (a group's teachers teach its divisions).

A teacher is keyed on "sts:<INDIVIDU ID>"; a teacher created before (CSV or by hand) is found
by e-mail when the file has one, else by name when exactly one teacher without an STS id bears
it. Teachers get the levels of the classes they teach that exist in Passerelle (import SIECLE
first); levels are added, never removed (a partial file must not cut anyone's access).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.etree.ElementTree import Element

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.models import Level, Teacher, User
from app.services import audit
from app.services.imports import (
    CREATED,
    EXTERNAL_ID_MAX,
    REJECTED,
    UNCHANGED,
    UPDATED,
    ImportFileError,
    ImportPlan,
    PlannedRow,
    _batches,
    _check_email,
    _check_name,
    _classes_by_name,
    _fold,
)
from app.services.imports_xml import read_xml, text, xml_date

WHAT = "l'export STS-web des personnels"
FILE_NAME = "sts_emp_RNE_ANNEE.xml"
MAX_INDIVIDUALS = 3000


@dataclass
class StsRow:
    line: int
    sts_id: str
    last_name: str = ""
    first_name: str = ""
    birth_text: str = ""
    civility: str = ""
    function: str = ""
    email: str = ""
    email_text: str = ""
    divisions: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def key(self) -> str:
        return f"sts:{self.sts_id}"


@dataclass
class StsFile:
    uai: str
    year: str
    rows: list[StsRow]  # teachers only
    others: int  # individuals whose FONCTION is not ENS (direction, vie scolaire…)
    divisions: dict[str, list[str]]  # division → its MEF codes


def read_sts(data: bytes) -> StsFile:
    """Parse sts_emp_*.xml. ImportFileError when the file is unusable."""
    root = read_xml(data, root="STS_EDT", what=WHAT, expected_name=FILE_NAME)
    people = root.findall("DONNEES/INDIVIDUS/INDIVIDU")
    if root.find("DONNEES/INDIVIDUS") is None:
        raise ImportFileError(
            "Ce fichier STS-web ne contient pas la liste des personnels (élément "
            "DONNEES/INDIVIDUS manquant) : exportez « Emploi du temps » depuis STS-web "
            "(Mise à jour > Exports > Emplois du temps)."
        )
    if len(people) > MAX_INDIVIDUALS:
        raise ImportFileError(
            f"Le fichier contient {len(people)} personnels : {MAX_INDIVIDUALS} au maximum."
        )
    divisions: dict[str, list[str]] = {}
    taught: dict[str, list[str]] = {}
    structure = root.find("DONNEES/STRUCTURE")
    for division in structure.iterfind("DIVISIONS/DIVISION") if structure is not None else ():
        code = (division.get("CODE") or "").strip()
        if not code:
            continue
        divisions[code] = [
            (mef.get("CODE") or "").strip()
            for mef in division.iterfind("MEFS_APPARTENANCE/MEF_APPARTENANCE")
        ]
        _teachers_of(division, [code], taught)
    for group in structure.iterfind("GROUPES/GROUPE") if structure is not None else ():
        codes = [
            (link.get("CODE") or "").strip()
            for link in group.iterfind("DIVISIONS_APPARTENANCE/DIVISION_APPARTENANCE")
        ]
        _teachers_of(group, [c for c in codes if c], taught)

    rows: list[StsRow] = []
    others = 0
    seen_emails: dict[str, int] = {}
    seen_ids: dict[str, int] = {}
    for person in people:
        function = text(person, "FONCTION")
        if function != "ENS":
            others += 1
            continue
        row = _row(len(rows) + 1, person, function)
        row.divisions = sorted(set(taught.get(row.sts_id, [])))
        rows.append(row)
        if row.error is None:
            first = seen_ids.setdefault(row.sts_id, row.line)
            if first != row.line:
                row.error = f"identifiant STS en double (même que le n° {first})"
            elif row.email:
                first = seen_emails.setdefault(row.email, row.line)
                if first != row.line:
                    row.error = f"adresse e-mail déjà utilisée par le n° {first} du fichier"
    if not rows:
        raise ImportFileError(
            "Ce fichier STS-web ne contient aucun enseignant (aucun INDIVIDU de FONCTION ENS)."
        )
    uaj = root.find("PARAMETRES/UAJ")
    year = root.find("PARAMETRES/ANNEE_SCOLAIRE")
    return StsFile(
        uai=((uaj.get("CODE") or uaj.text or "") if uaj is not None else "").strip(),
        year=((year.get("ANNEE") or year.text or "") if year is not None else "").strip(),
        rows=rows,
        others=others,
        divisions=divisions,
    )


def _teachers_of(element: Element, division_codes: list[str], taught: dict[str, list[str]]) -> None:
    for teacher in element.iterfind("SERVICES/SERVICE/ENSEIGNANTS/ENSEIGNANT"):
        teacher_id = (teacher.get("ID") or "").strip()
        if teacher_id:
            taught.setdefault(teacher_id, []).extend(division_codes)


def _row(line: int, person: Element, function: str) -> StsRow:
    row = StsRow(
        line=line,
        sts_id=(person.get("ID") or "").strip(),
        last_name=text(person, "NOM_USAGE") or text(person, "NOM_PATRONYMIQUE"),
        first_name=text(person, "PRENOM"),
        birth_text=text(person, "DATE_NAISSANCE"),
        civility=text(person, "CIVILITE"),
        function=function,
        email_text=text(person, "MEL"),
    )
    if not row.sts_id:
        row.error = "identifiant (attribut ID) manquant"
    elif len(row.key) > EXTERNAL_ID_MAX:
        row.error = "identifiant trop long"
    for value, label in ((row.last_name, "nom"), (row.first_name, "prénom")):
        if row.error is None:
            row.error = _check_name(value, label)
    if row.error is None and row.birth_text and xml_date(row.birth_text) is None:
        row.error = f"date de naissance invalide : « {row.birth_text} »"
    if row.error is None and row.email_text:
        email, problem = _check_email(row.email_text)
        row.error = problem
        row.email = email or ""
    return row


# --- planning and applying ---------------------------------------------------------------------


@dataclass
class StsImportPlan(ImportPlan):
    uai: str = ""
    year: str = ""
    others: int = 0
    unknown_divisions: list[str] = field(default_factory=list)


def _name_key(last_name: str, first_name: str) -> str:
    return f"{_fold(last_name)}|{_fold(first_name)}"


def plan_sts(parsed: StsFile) -> StsImportPlan:
    """What importing these teachers would do, without writing (a few queries in all)."""
    teachers = db.session.scalars(select(Teacher).options(selectinload(Teacher.levels))).all()
    by_key = {t.external_id: t for t in teachers if t.external_id}
    by_email = {t.email: t for t in teachers if t.email}
    by_name: dict[str, list[Teacher]] = {}
    for candidate in teachers:
        if not candidate.external_id:
            key = _name_key(candidate.last_name, candidate.first_name)
            by_name.setdefault(key, []).append(candidate)
    valid = [row for row in parsed.rows if row.error is None]
    email_owner: dict[str, User] = {}
    for batch in _batches(sorted({row.email for row in valid if row.email})):
        for user in db.session.scalars(select(User).where(User.email.in_(batch))):
            email_owner[user.email or ""] = user
    classes = _classes_by_name({code for row in valid for code in row.divisions})
    plan = StsImportPlan(kind="sts", rows=[], uai=parsed.uai, year=parsed.year)
    plan.others = parsed.others
    unknown: set[str] = set()
    for row in parsed.rows:
        planned = PlannedRow(line=row.line, cells=_cells(row), status=REJECTED, payload=row)
        plan.rows.append(planned)
        if row.error is not None:
            planned.reason = row.error
            continue
        owner = email_owner.get(row.email) if row.email else None
        if owner is not None and not isinstance(owner, Teacher):
            planned.reason = f"adresse e-mail déjà utilisée par un compte {owner.role_label}"
            continue
        teacher: Teacher | None = by_key.get(row.key) or (
            by_email.get(row.email) if row.email else None
        )
        if teacher is None:
            namesakes = by_name.get(_name_key(row.last_name, row.first_name), [])
            teacher = namesakes[0] if len(namesakes) == 1 else None
        if teacher is not None and teacher.external_id not in (None, row.key):
            planned.reason = "ce compte est déjà relié à un autre identifiant STS"
            continue
        wanted = {classes[_fold(code)].level_id for code in row.divisions if _fold(code) in classes}
        missing = [code for code in row.divisions if _fold(code) not in classes]
        unknown.update(missing)
        if missing:
            planned.note = "classes inconnues de Passerelle : " + ", ".join(missing)
        planned.target = teacher
        planned.payload = (row, wanted)
        if teacher is None:
            planned.status = CREATED
            continue
        changes = []
        if teacher.last_name != row.last_name or teacher.first_name != row.first_name:
            changes.append("nom")
        if teacher.external_id != row.key:
            changes.append("identifiant STS")
        if row.email and teacher.email != row.email:
            changes.append("e-mail")
        if wanted - {level.id for level in teacher.levels}:
            changes.append("niveaux")
        if not teacher.is_active_account:
            changes.append("compte réactivé")
        planned.changes = changes
        planned.status = UPDATED if changes else UNCHANGED
    plan.unknown_divisions = sorted(unknown)
    return plan


def _cells(row: StsRow) -> dict[str, str]:
    return {
        "last_name": row.last_name,
        "first_name": row.first_name,
        "email": row.email_text,
        "levels": ", ".join(row.divisions),
    }


def apply_sts(parsed: StsFile, actor: User | None) -> StsImportPlan:
    """Create and update the teachers of the file; add the levels of the classes they teach.
    Flushes."""
    plan = plan_sts(parsed)
    levels = {level.id: level for level in db.session.scalars(select(Level))}
    written: list[PlannedRow] = []
    for planned in plan.rows:
        if planned.status not in (CREATED, UPDATED):
            continue
        row, wanted = planned.payload
        teacher = planned.target
        if teacher is None:
            teacher = Teacher(email=row.email or None, levels=[])
            db.session.add(teacher)
        teacher.last_name = row.last_name
        teacher.first_name = row.first_name
        teacher.external_id = row.key
        teacher.is_active_account = True
        if row.email:
            teacher.email = row.email
        for level_id in sorted(wanted):
            if levels[level_id] not in teacher.levels:
                teacher.levels.append(levels[level_id])
        planned.target = teacher
        written.append(planned)
    db.session.flush()
    for planned in written:
        action = "account.imported" if planned.status == CREATED else "account.updated_by_import"
        audit.record(actor, action, "user", planned.target.id, changes=planned.changes)
    audit.record(
        actor,
        "import.sts",
        "import",
        None,
        uai=plan.uai,
        year=plan.year,
        unknown_divisions=plan.unknown_divisions,
        **plan.counts,
    )
    db.session.flush()
    return plan
