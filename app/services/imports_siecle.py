"""Import of the SIECLE export of pupils, `ElevesSansAdresses.xml` (BEE_ELEVES), with the
classes (divisions) and levels (MEF) it describes. Same three steps as the CSV import
(`app.services.imports`): read (pure) → plan (read only) → apply (flush, never commit).

Elements read (see docs/imports.md):

- `BEE_ELEVES/PARAMETRES`: UAJ, ANNEE_SCOLAIRE (shown in the preview);
- `BEE_ELEVES/DONNEES/ELEVES/ELEVE[@ELEVE_ID]`: ID_NATIONAL (INE), NOM_USAGE or else
  NOM_DE_FAMILLE (or NOM in older files), PRENOM, DATE_NAISS (dd/mm/yyyy), CODE_MEF,
  CODE_STATUT (AP = apprentice), DATE_SORTIE, MEL (optional);
- `BEE_ELEVES/DONNEES/STRUCTURES/STRUCTURES_ELEVE[@ELEVE_ID]/STRUCTURE`: CODE_STRUCTURE with
  TYPE_STRUCTURE "D" (the division = Passerelle's class; groups "G" are ignored);
- `MEFS/MEF[@CODE_MEF]` wherever it is (`BEE_ELEVES/NOMENCLATURES` or `DONNEES`): FORMATION,
  LIBELLE_LONG, LIBELLE_EDITION — the level a new class is created under.

A pupil is keyed on "ine:<INE>" (what the CSV import and the ENT sign-in use), else on their
name and birth date. Pupils of the database absent from the file, or whose DATE_SORTIE is past,
are listed as departures; they are deactivated only when the admin asks for it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from xml.etree.ElementTree import Element

from sqlalchemy import func, insert, select
from sqlalchemy.orm import joinedload

from app.errors import InvalidInput
from app.extensions import db
from app.models import AuditLog, ClassGroup, Framework, Learner, Level, User
from app.services import accounts, audit
from app.services.imports import (
    CREATED,
    REJECTED,
    UNCHANGED,
    UPDATED,
    ImportFileError,
    ImportPlan,
    LearnerRow,
    PlannedRow,
    _batches,
    _check_learner_row,
    _classes_by_name,
    _fold,
    _learner_changes,
    name_key,
)
from app.services.imports_xml import read_xml, text, xml_date

LEVEL_MAX = 120  # levels.name
MAX_PUPILS = 6000
WHAT = "l'export SIECLE des élèves"
FILE_NAME = "ElevesSansAdresses.xml"


class LevelChoiceMissing(InvalidInput):
    """A level to create has no framework: the admin must choose one in the preview."""

    def __init__(self, message: str, plan: SiecleImportPlan) -> None:
        super().__init__(message)
        self.plan = plan


@dataclass
class Mef:
    code: str
    formation: str = ""
    long_label: str = ""
    edition_label: str = ""

    @property
    def labels(self) -> list[str]:
        return [label for label in (self.edition_label, self.long_label, self.formation) if label]

    @property
    def level_name(self) -> str:
        name = self.edition_label or self.long_label or self.formation or f"MEF {self.code}"
        return (name[:1].upper() + name[1:])[:LEVEL_MAX]


@dataclass
class SiecleRow(LearnerRow):
    eleve_id: str = ""
    mef_code: str = ""
    left_on: date | None = None
    departed: bool = False  # DATE_SORTIE is past


@dataclass
class SiecleFile:
    uai: str
    year: str
    rows: list[SiecleRow]
    mefs: dict[str, Mef]
    division_mef: dict[str, str]  # division → the MEF most of its pupils follow


def read_siecle(data: bytes, today: date | None = None) -> SiecleFile:
    """Parse ElevesSansAdresses.xml. ImportFileError when the file is unusable; a bad pupil
    only gets its `error` set."""
    today = today or date.today()
    root = read_xml(data, root="BEE_ELEVES", what=WHAT, expected_name=FILE_NAME)
    pupils = root.findall("DONNEES/ELEVES/ELEVE")
    if root.find("DONNEES") is None or root.find("DONNEES/ELEVES") is None:
        raise ImportFileError(
            "Ce fichier SIECLE ne contient pas la liste des élèves (élément "
            "DONNEES/ELEVES manquant) : exportez « ElevesSansAdresses » depuis SIECLE "
            "(Base élèves établissement > Exportations > En XML)."
        )
    if not pupils:
        raise ImportFileError("Ce fichier SIECLE ne contient aucun élève (aucun élément ELEVE).")
    if len(pupils) > MAX_PUPILS:
        raise ImportFileError(
            f"Le fichier contient {len(pupils)} élèves : {MAX_PUPILS} au maximum par import."
        )
    divisions = _divisions(root)
    mefs = _mefs(root)
    rows: list[SiecleRow] = []
    seen: dict[str, int] = {}
    seen_emails: dict[str, int] = {}
    for position, pupil in enumerate(pupils, start=1):
        row = _row(position, pupil, divisions, today)
        rows.append(row)
        if row.error is not None:
            continue
        first = seen.setdefault(row.key, position)
        if first != position:
            row.error = f"en double dans le fichier (même élève qu'au n° {first})"
        elif row.email:
            first = seen_emails.setdefault(row.email, position)
            if first != position:
                row.error = f"adresse e-mail déjà utilisée par l'élève n° {first} du fichier"
    return SiecleFile(
        uai=text(root, "PARAMETRES/UAJ"),
        year=text(root, "PARAMETRES/ANNEE_SCOLAIRE"),
        rows=rows,
        mefs=mefs,
        division_mef=_division_mefs(rows),
    )


def _divisions(root: Element) -> dict[str, str]:
    """ELEVE_ID → division code (TYPE_STRUCTURE D; "Inactifs" is SIECLE's parking lot)."""
    result: dict[str, str] = {}
    for links in root.iterfind("DONNEES/STRUCTURES/STRUCTURES_ELEVE"):
        eleve_id = (links.get("ELEVE_ID") or "").strip()
        for structure in links.iterfind("STRUCTURE"):
            code = text(structure, "CODE_STRUCTURE")
            if text(structure, "TYPE_STRUCTURE") == "D" and code and code != "Inactifs":
                result[eleve_id] = code
                break
    return result


def _mefs(root: Element) -> dict[str, Mef]:
    result: dict[str, Mef] = {}
    for mef in root.iterfind(".//MEFS/MEF"):
        code = (mef.get("CODE_MEF") or mef.get("CODE") or "").strip()
        if code:
            result[code] = Mef(
                code=code,
                formation=text(mef, "FORMATION"),
                long_label=text(mef, "LIBELLE_LONG"),
                edition_label=text(mef, "LIBELLE_EDITION"),
            )
    return result


def _row(position: int, pupil: Element, divisions: dict[str, str], today: date) -> SiecleRow:
    eleve_id = (pupil.get("ELEVE_ID") or "").strip()
    last_name = text(pupil, "NOM_USAGE") or text(pupil, "NOM_DE_FAMILLE") or text(pupil, "NOM")
    row = SiecleRow(
        line=position,
        eleve_id=eleve_id,
        last_name=last_name,
        first_name=text(pupil, "PRENOM"),
        birth_text=text(pupil, "DATE_NAISS"),
        class_name=divisions.get(eleve_id, ""),
        status_text="apprenti" if text(pupil, "CODE_STATUT") == "AP" else "scolaire",
        email_text=text(pupil, "MEL"),
        ine=text(pupil, "ID_NATIONAL").replace(" ", "").upper(),
        mef_code=text(pupil, "CODE_MEF"),
    )
    left_text = text(pupil, "DATE_SORTIE")
    row.left_on = xml_date(left_text)
    if not row.class_name and row.last_name and row.first_name:
        row.error = "aucune division (classe) pour cet élève dans STRUCTURES"
        return row
    row.error = _check_learner_row(row)
    if row.left_on is not None and row.left_on <= today:
        row.departed = True
        row.error = row.error or f"sorti(e) de l'établissement le {row.left_on:%d/%m/%Y}"
    return row


def _division_mefs(rows: list[SiecleRow]) -> dict[str, str]:
    votes: dict[str, Counter[str]] = {}
    for row in rows:
        if row.class_name and row.mef_code:
            votes.setdefault(row.class_name, Counter())[row.mef_code] += 1
    return {
        division: min(counter.items(), key=lambda item: (-item[1], item[0]))[0]
        for division, counter in votes.items()
    }


# --- planning ----------------------------------------------------------------------------------


@dataclass
class NewLevel:
    """A level the import will create, for the new classes of one MEF."""

    key: str  # form field suffix, stable between the preview and the confirmation
    name: str
    mef_code: str
    labels: list[str]
    classes: list[str] = field(default_factory=list)
    framework: Framework | None = None
    guessed: bool = False
    error: str = ""


@dataclass
class Departure:
    learner: Learner
    reason: str


@dataclass
class SiecleImportPlan(ImportPlan):
    uai: str = ""
    year: str = ""
    new_levels: list[NewLevel] = field(default_factory=list)
    departures: list[Departure] = field(default_factory=list)
    class_levels: dict[str, str] = field(default_factory=dict)  # new class → level name
    frameworks: list[Framework] = field(default_factory=list)


_PREFIXES = (
    "baccalaureat professionnel ",
    "brevet de technicien superieur ",
    "certificat d aptitude professionnelle ",
    "brevet professionnel ",
)


def _title_words(framework: Framework) -> set[str]:
    title = _fold(framework.title)
    for prefix in _PREFIXES:
        title = title.removeprefix(prefix)
    return {word for word in title.split() if len(word) >= 4}


def guess_framework(labels: list[str], frameworks: list[Framework]) -> Framework | None:
    """The framework whose diploma title's words all appear in the MEF's labels
    ("1ERE PRO METIERS ELECTRICITE ENVIRONNEMENTS CONNECTES" → Bac Pro MELEC); None when no
    framework or several fit equally (a seconde of a "famille de métiers" fits five)."""
    words = set(" ".join(_fold(label) for label in labels).split())
    scored: list[tuple[int, Framework]] = []
    for framework in frameworks:
        wanted = _title_words(framework)
        if len(wanted) >= 2 and wanted <= words:
            scored.append((len(wanted), framework))
    if not scored:
        return None
    scored.sort(key=lambda item: -item[0])
    if len(scored) > 1 and scored[0][0] == scored[1][0]:
        return None
    return scored[0][1]


def level_key(name: str) -> str:
    return _fold(name).replace(" ", "-")[:80] or "niveau"


def plan_siecle(
    parsed: SiecleFile, chosen: dict[str, int | None] | None = None
) -> SiecleImportPlan:
    """What importing this file would do, without writing, in a fixed number of queries.
    `chosen` maps a new level's key to the framework id the admin picked in the preview."""
    chosen = chosen or {}
    learners = (
        db.session.scalars(select(Learner).options(joinedload(Learner.class_group))).unique().all()
    )
    by_key = {learner.external_id: learner for learner in learners if learner.external_id}
    valid = [row for row in parsed.rows if row.error is None]
    email_owner: dict[str, User] = {}
    for batch in _batches(sorted({row.email for row in valid if row.email})):
        for user in db.session.scalars(select(User).where(User.email.in_(batch))):
            email_owner[user.email or ""] = user
    classes = _classes_by_name({row.class_name for row in valid})
    levels = {_fold(level.name): level for level in db.session.scalars(select(Level))}
    frameworks = list(db.session.scalars(select(Framework).order_by(Framework.short_title)))
    frameworks_by_id = {framework.id: framework for framework in frameworks}

    plan = SiecleImportPlan(
        kind="siecle", rows=[], uai=parsed.uai, year=parsed.year, frameworks=frameworks
    )
    new_levels: dict[str, NewLevel] = {}
    matched: set[int] = set()
    left: dict[int, str] = {}
    for row in parsed.rows:
        planned = PlannedRow(line=row.line, cells=_cells(row), status=REJECTED, payload=row)
        plan.rows.append(planned)
        learner = _match(row, by_key)
        if learner is not None:
            if row.departed:
                left[learner.id] = row.error or ""
            else:
                matched.add(learner.id)
        if row.error is not None:
            planned.reason = row.error
            continue
        owner = email_owner.get(row.email) if row.email else None
        if owner is not None and (learner is None or owner.id != learner.id):
            planned.reason = (
                f"adresse e-mail déjà utilisée par un autre compte ({owner.role_label})"
            )
            continue
        if learner is not None and learner.anonymised_at is not None:
            planned.reason = "compte anonymisé (RGPD) : il ne peut pas être réimporté"
            continue
        group = classes.get(_fold(row.class_name))
        if group is None and row.class_name not in plan.class_levels:
            _plan_new_class(row.class_name, parsed, levels, new_levels, plan)
        planned.target = learner
        if learner is None:
            planned.status = CREATED
            continue
        planned.changes = _learner_changes(learner, row, group)
        if not learner.is_active_account:
            planned.changes.append("compte réactivé")
        planned.status = UPDATED if planned.changes else UNCHANGED

    for new_level in new_levels.values():
        picked = chosen.get(new_level.key)
        if picked is not None and picked in frameworks_by_id:
            new_level.framework = frameworks_by_id[picked]
            new_level.guessed = False
        else:
            new_level.framework = guess_framework(new_level.labels, frameworks)
            new_level.guessed = new_level.framework is not None
    plan.new_levels = sorted(new_levels.values(), key=lambda lvl: lvl.name)
    plan.new_classes = sorted(plan.class_levels)
    plan.departures = [
        Departure(learner, left.get(learner.id, "absent(e) du fichier SIECLE"))
        for learner in sorted(learners, key=lambda lr: (lr.last_name, lr.first_name))
        if learner.id not in matched and learner.is_active_account and learner.anonymised_at is None
    ]
    return plan


def _match(row: SiecleRow, by_key: dict[str, Learner]) -> Learner | None:
    if not row.last_name or (row.birth_date is None and not row.ine):
        return None
    if row.ine:
        found = by_key.get(f"ine:{row.ine}")
        if found is not None or row.birth_date is None:
            return found
    assert row.birth_date is not None
    return by_key.get(name_key(row.last_name, row.first_name, row.birth_date))


def _plan_new_class(
    division: str,
    parsed: SiecleFile,
    levels: dict[str, Level],
    new_levels: dict[str, NewLevel],
    plan: SiecleImportPlan,
) -> None:
    mef_code = parsed.division_mef.get(division, "")
    mef = parsed.mefs.get(mef_code) if mef_code else None
    if mef is None:
        label = "" if mef_code else f"Niveau de la classe {division}"
        mef = Mef(code=mef_code, edition_label=label)
    for label in [mef.level_name, *mef.labels]:
        existing = levels.get(_fold(label))
        if existing is not None:
            plan.class_levels[division] = existing.name
            return
    key = level_key(mef.level_name)
    new_level = new_levels.setdefault(
        key, NewLevel(key=key, name=mef.level_name, mef_code=mef.code, labels=mef.labels)
    )
    new_level.classes.append(division)
    plan.class_levels[division] = new_level.name


def _cells(row: SiecleRow) -> dict[str, str]:
    return {
        "last_name": row.last_name,
        "first_name": row.first_name,
        "birth_date": row.birth_text,
        "class_name": row.class_name,
        "status": row.status_text,
        "email": row.email_text,
        "ine": row.ine,
        "mef": row.mef_code,
    }


# --- applying ----------------------------------------------------------------------------------


def apply_siecle(
    parsed: SiecleFile, chosen: dict[str, int | None], actor: User | None
) -> SiecleImportPlan:
    """Create the levels, classes and pupils of the file and update the known pupils.
    LevelChoiceMissing (nothing written) when a new level has no framework. Flushes."""
    plan = plan_siecle(parsed, chosen)
    missing = [new_level for new_level in plan.new_levels if new_level.framework is None]
    if missing:
        for new_level in missing:
            new_level.error = "Choisissez le diplôme préparé par ce niveau."
        raise LevelChoiceMissing(
            "Choisissez le diplôme préparé pour chaque nouveau niveau : "
            + ", ".join(f"« {lvl.name} »" for lvl in missing)
            + ".",
            plan,
        )
    levels = {level.name: level for level in db.session.scalars(select(Level))}
    position = (db.session.scalar(select(func.max(Level.position))) or 0) + 1
    for new_level in plan.new_levels:
        assert new_level.framework is not None
        level = Level(name=new_level.name, framework_id=new_level.framework.id, position=position)
        position += 1
        db.session.add(level)
        levels[level.name] = level
    db.session.flush()
    classes = _classes_by_name(row.payload.class_name for row in plan.rows if row.payload)
    for name, level_name in plan.class_levels.items():
        group = ClassGroup(name=name, level_id=levels[level_name].id)
        db.session.add(group)
        classes[_fold(name)] = group
    db.session.flush()
    # New pupils: one multi-row INSERT (the unit of work would send one statement per pupil,
    # as SQLite cannot return the ids of a batch in order), then their ids in a few SELECTs.
    fresh = [p for p in plan.rows if p.status == CREATED]
    if fresh:
        db.session.execute(
            insert(Learner),
            [_learner_values(p.payload, classes) | {"email": p.payload.email} for p in fresh],
        )
    ids = _ids_by_key([p.payload.key for p in fresh])
    for planned in plan.rows:
        if planned.status == UPDATED:
            row: SiecleRow = planned.payload
            learner: Learner = planned.target
            for name, value in _learner_values(row, classes).items():
                setattr(learner, name, value)
            if row.email:
                learner.email = row.email
            ids[row.key] = learner.id
    db.session.flush()
    actor_id, actor_label = audit_actor(actor)
    entries = [
        {
            "actor_id": actor_id,
            "actor_label": actor_label,
            "action": "account.imported" if p.status == CREATED else "account.updated_by_import",
            "object_type": "user",
            "object_id": ids[p.payload.key],
            "learner_id": ids[p.payload.key],
            "details": {"changes": p.changes},
        }
        for p in plan.rows
        if p.status in (CREATED, UPDATED)
    ]
    if entries:
        db.session.execute(insert(AuditLog), entries)
    audit.record(
        actor,
        "import.siecle",
        "import",
        None,
        uai=plan.uai,
        year=plan.year,
        levels_created=[lvl.name for lvl in plan.new_levels],
        classes_created=plan.new_classes,
        departures=len(plan.departures),
        **plan.counts,
    )
    db.session.flush()
    return plan


def _learner_values(row: SiecleRow, classes: dict[str, ClassGroup]) -> dict[str, Any]:
    return {
        "last_name": row.last_name,
        "first_name": row.first_name,
        "birth_date": row.birth_date,
        "class_group_id": classes[_fold(row.class_name)].id,
        "learner_status": row.status,
        "external_id": row.key,
        "is_active_account": True,
    }


def _ids_by_key(keys: list[str]) -> dict[str, int]:
    ids: dict[str, int] = {}
    for batch in _batches(keys):
        query = select(Learner.external_id, Learner.id).where(Learner.external_id.in_(batch))
        for key, learner_id in db.session.execute(query):
            ids[key or ""] = learner_id
    return ids


def audit_actor(actor: User | None) -> tuple[int | None, str]:
    """Who an audit row names, as `audit.record` writes it (for rows inserted in bulk)."""
    if actor is None:
        return None, "système"
    return actor.id, f"{actor.full_name} ({actor.role_label})"


def departures_by_id(ids: list[int]) -> list[Learner]:
    """The active learners among these ids (what the departures form may deactivate)."""
    if not ids:
        return []
    return list(
        db.session.scalars(
            select(Learner)
            .options(joinedload(Learner.class_group))
            .where(
                Learner.id.in_(ids),
                Learner.is_active_account.is_(True),
                Learner.anonymised_at.is_(None),
            )
            .order_by(Learner.last_name, Learner.first_name)
        ).unique()
    )


def deactivate_departed(actor: User, learners: list[Learner]) -> int:
    """Deactivate the pupils who left (never delete: their portfolios stay, and an admin can
    reactivate them). Returns how many were deactivated."""
    for learner in learners:
        accounts.set_active(actor, learner, False)
    audit.record(actor, "import.departures", "import", None, learners=[lr.id for lr in learners])
    db.session.flush()
    return len(learners)
