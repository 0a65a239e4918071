"""Frameworks (référentiels): read a `passerelle-framework/1` file, check it, upsert it.

Two steps on purpose: `parse_framework_file` is pure (file → typed data, or an error naming
the file and the faulty entry), `import_framework` writes (flush, never commit). So a batch can
be checked entirely before anything touches the database.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.models.framework import (
    DEFAULT_SCALE,
    Activity,
    Block,
    Competency,
    Criterion,
    Framework,
    ScaleLevel,
    Task,
)

SCHEMA = "passerelle-framework/1"
SHIPPED_DIR = Path(__file__).resolve().parent.parent / "data" / "referentiels"
SCALE_SIZE = 6
COMPLETENESS = ("complete", "partial")
KINDS = ("blocks", "activities", "tasks", "competencies", "criteria", "links", "scale")

# Column widths of app/models/framework.py: checked here so PostgreSQL never truncates or
# rejects a value halfway through an import.
_FRAMEWORK_CODE_MAX = 40
_ENTRY_CODE_MAX = 20
_SHORT_TITLE_MAX = 120
_VERSION_MAX = 20
_FAMILY_CODE_MAX = 20
_SCALE_CODE_MAX = 10
_SCALE_LABEL_MAX = 60
_MAX_REPORTED = 30  # a file with hundreds of errors is usually one systematic mistake
_COLOR = re.compile(r"#[0-9a-fA-F]{6}")


class FrameworkFileError(Exception):
    """A framework file that cannot be imported. Each problem names the file and the entry."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = list(problems)
        lines = [f"{source} : {p}" for p in self.problems[:_MAX_REPORTED]]
        if len(self.problems) > _MAX_REPORTED:
            lines.append(f"{source} : … et {len(self.problems) - _MAX_REPORTED} autres erreurs")
        super().__init__("\n".join(lines))


# --- Parsed data -------------------------------------------------------------------------


@dataclass(frozen=True)
class DiplomaData:
    code: str
    short_title: str
    title: str
    version: str
    completeness: str
    family_code: str | None = None
    family_title: str | None = None
    sources: tuple[dict[str, str], ...] = ()
    notes: str = ""
    required_placement_weeks: int | None = None


@dataclass(frozen=True)
class BlockData:
    code: str
    title: str


@dataclass(frozen=True)
class TaskData:
    code: str
    title: str


@dataclass(frozen=True)
class ActivityData:
    code: str
    title: str
    block_code: str | None
    tasks: tuple[TaskData, ...]


@dataclass(frozen=True)
class CriterionData:
    code: str
    title: str


@dataclass(frozen=True)
class CompetencyData:
    code: str
    title: str
    task_codes: tuple[str, ...]
    criteria: tuple[CriterionData, ...]


@dataclass(frozen=True)
class ScaleLevelData:
    code: str
    label: str
    color: str


@dataclass(frozen=True)
class FrameworkData:
    """A checked framework file. `scale` is None when the file keeps the default scale."""

    source: str  # file name, for messages and reports
    diploma: DiplomaData
    blocks: tuple[BlockData, ...]
    activities: tuple[ActivityData, ...]
    competencies: tuple[CompetencyData, ...]
    scale: tuple[ScaleLevelData, ...] | None = None

    @property
    def tasks(self) -> tuple[TaskData, ...]:
        return tuple(t for a in self.activities for t in a.tasks)

    @property
    def criteria(self) -> tuple[CriterionData, ...]:
        return tuple(c for comp in self.competencies for c in comp.criteria)


# --- Reading -----------------------------------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key written twice in one mapping: PyYAML would silently keep
    the last one, and a hand-edited référentiel would lose a title without anyone noticing."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in seen
            seen.add(key)
        except TypeError:  # unhashable key: construct_mapping reports it properly
            continue
        if duplicate:
            raise yaml.constructor.ConstructorError(
                None, None, f"clé « {key} » en double", key_node.start_mark
            )
    loader.flatten_mapping(node)
    return loader.construct_mapping(node, deep=True)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"clé « {key} » en double")
        result[key] = value
    return result


def _load(path: Path) -> Any:
    source = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FrameworkFileError(source, ["fichier introuvable"]) from None
    except UnicodeDecodeError:
        raise FrameworkFileError(source, ["le fichier n'est pas encodé en UTF-8"]) from None
    except OSError as exc:
        raise FrameworkFileError(source, [f"lecture impossible ({exc.strerror})"]) from None

    suffix = path.suffix.lower()
    if suffix == ".json":
        try:
            return json.loads(text, object_pairs_hook=_json_object)
        except json.JSONDecodeError as exc:
            raise FrameworkFileError(
                source, [f"JSON invalide ligne {exc.lineno}, colonne {exc.colno} : {exc.msg}"]
            ) from None
        except ValueError as exc:
            raise FrameworkFileError(source, [f"JSON invalide : {exc}"]) from None
    if suffix in (".yaml", ".yml"):
        try:
            return yaml.load(text, Loader=_StrictLoader)  # noqa: S506  # nosec B506  # SafeLoader subclass
        except yaml.MarkedYAMLError as exc:
            where = ""
            if exc.problem_mark is not None:
                mark = exc.problem_mark
                where = f" ligne {mark.line + 1}, colonne {mark.column + 1}"
            raise FrameworkFileError(
                source, [f"YAML invalide{where} : {exc.problem or exc.context}"]
            ) from None
        except yaml.YAMLError as exc:
            raise FrameworkFileError(source, [f"YAML invalide : {exc}"]) from None
    raise FrameworkFileError(
        source, [f"extension « {path.suffix} » non reconnue (attendu : .yaml, .yml ou .json)"]
    )


# --- Checking ----------------------------------------------------------------------------


class _Checker:
    """Collects every problem of a file so the author can fix them in one go."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def error(self, where: str, message: str) -> None:
        self.problems.append(f"{where} : {message}" if where else message)

    def mapping(self, value: Any, where: str, allowed: set[str]) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.error(where, "une table de clés (code, titre…) est attendue")
            return None
        self.keys(value, where, allowed)
        return value

    def keys(self, entry: dict[str, Any], where: str, allowed: set[str]) -> None:
        # A misspelt optional key (`scales:`, `bloc:`) would otherwise be silently ignored.
        for key in entry:
            if key not in allowed:
                expected = ", ".join(sorted(allowed))
                self.error(where, f"clé « {key} » inconnue (clés possibles : {expected})")

    def entry(
        self, item: Any, kind: str, index: int, parent: str, allowed: set[str]
    ) -> tuple[dict[str, Any] | None, str | None, str]:
        """Check an entry's shape and code; return it, its code and its name for messages
        ("activité A1, tâche T1.2", or "tâche n° 2" when the code itself is faulty)."""
        prefix = f"{parent}, " if parent else ""
        where = f"{prefix}{kind} n° {index + 1}"  # ranks counted from 1, as people do
        if not isinstance(item, dict):
            self.error(where, "une table de clés (code, titre…) est attendue")
            return None, None, where
        code = self.code(item, where)
        if code:
            where = f"{prefix}{kind} {code}"
        self.keys(item, where, allowed)
        return item, code, where

    def sequence(self, value: Any, where: str, name: str, *, required: bool) -> list[Any]:
        if value is None:
            if required:
                self.error(where, f"la liste « {name} » est obligatoire")
            return []
        if not isinstance(value, list):
            self.error(where, f"« {name} » doit être une liste")
            return []
        return value

    def text(
        self, entry: dict[str, Any], key: str, where: str, *, max_len: int | None = None
    ) -> str | None:
        """A required, non-empty text field; integers are accepted (YAML reads `2024` or
        `code: 3` as numbers) but not floats, whose written form YAML does not keep."""
        value = entry.get(key)
        if value is None:
            self.error(where, f"le champ « {key} » est obligatoire")
            return None
        if isinstance(value, bool) or not isinstance(value, str | int):
            self.error(where, f"le champ « {key} » doit être un texte (mettez-le entre guillemets)")
            return None
        text = str(value).strip()
        if not text:
            self.error(where, f"le champ « {key} » est vide")
            return None
        if max_len is not None and len(text) > max_len:
            self.error(where, f"le champ « {key} » dépasse {max_len} caractères")
            return None
        return text

    def optional_text(
        self, entry: dict[str, Any], key: str, where: str, *, max_len: int | None = None
    ) -> str | None:
        if entry.get(key) is None:
            return None
        return self.text(entry, key, where, max_len=max_len)

    def code(self, entry: dict[str, Any], where: str, max_len: int = _ENTRY_CODE_MAX) -> str | None:
        return self.text(entry, "code", where, max_len=max_len)

    def title(self, entry: dict[str, Any], where: str) -> str | None:
        value = entry.get("title")
        if isinstance(value, str) and not value.strip():
            self.error(where, "titre vide")
            return None
        return self.text(entry, "title", where)


def parse_framework_file(path: Path) -> FrameworkData:
    """Read a YAML or JSON framework file and check every rule of `passerelle-framework/1`.

    Pure: touches no database. Raises FrameworkFileError listing every problem found, each
    naming the file and the entry, e.g. `x.yaml : compétence C3 : la tâche « T9.9 » n'existe pas`.
    """
    path = Path(path)
    raw = _load(path)
    check = _Checker()
    data = _check_document(raw, path.name, check)
    if check.problems or data is None:
        raise FrameworkFileError(path.name, check.problems or ["fichier vide"])
    return data


def _check_document(raw: Any, source: str, check: _Checker) -> FrameworkData | None:
    if raw is None:
        return None
    top = check.mapping(
        raw, "", {"schema", "diploma", "blocks", "activities", "competencies", "scale"}
    )
    if top is None:
        return None
    schema = top.get("schema")
    if schema != SCHEMA:
        shown = "absent" if schema is None else f"« {schema} » non reconnu"
        check.error("schema", f"{shown} (attendu : « {SCHEMA} »)")
        return None  # another schema means other rules: checking further would only mislead

    diploma = _check_diploma(top.get("diploma"), check)
    blocks, block_codes = _check_blocks(top, check)
    activities, task_codes = _check_activities(top, block_codes, check)
    competencies = _check_competencies(top, task_codes, check)
    scale = _check_scale(top.get("scale"), check)
    if diploma is None:
        return None
    return FrameworkData(
        source=source,
        diploma=diploma,
        blocks=tuple(blocks),
        activities=tuple(activities),
        competencies=tuple(competencies),
        scale=scale,
    )


def _check_diploma(value: Any, check: _Checker) -> DiplomaData | None:
    where = "diploma"
    if value is None:
        check.error(where, "la section « diploma » est obligatoire")
        return None
    entry = check.mapping(
        value,
        where,
        {
            "code",
            "short_title",
            "title",
            "version",
            "family",
            "completeness",
            "sources",
            "notes",
            "required_placement_weeks",
        },
    )
    if entry is None:
        return None
    code = check.code(entry, where, _FRAMEWORK_CODE_MAX)
    short_title = check.text(entry, "short_title", where, max_len=_SHORT_TITLE_MAX)
    title = check.title(entry, where)
    version = check.text(entry, "version", where, max_len=_VERSION_MAX)
    completeness = check.text(entry, "completeness", where)
    if completeness is not None and completeness not in COMPLETENESS:
        check.error(
            where, f"completeness « {completeness} » invalide (attendu : complete ou partial)"
        )
        completeness = None

    family_code = family_title = None
    if entry.get("family") is not None:
        family = check.mapping(entry["family"], f"{where}, family", {"code", "title"})
        if family is not None:
            family_code = check.code(family, f"{where}, family", _FAMILY_CODE_MAX)
            family_title = check.title(family, f"{where}, family")

    sources: list[dict[str, str]] = []
    for index, item in enumerate(
        check.sequence(entry.get("sources"), where, "sources", required=False)
    ):
        if not isinstance(item, dict) or not all(
            isinstance(v, str | int | float) for v in item.values()
        ):
            check.error(f"{where}, source n° {index + 1}", "attendu : title, publisher, url…")
            continue
        sources.append({str(k): str(v) for k, v in item.items()})

    notes = entry.get("notes")
    if notes is not None and not isinstance(notes, str):
        check.error(where, "le champ « notes » doit être un texte")
        notes = None

    weeks = entry.get("required_placement_weeks")
    if weeks is not None and (
        not isinstance(weeks, int) or isinstance(weeks, bool) or not 1 <= weeks <= 200
    ):
        check.error(where, "required_placement_weeks doit être un nombre entier de semaines")
        weeks = None

    if (
        code is None
        or short_title is None
        or title is None
        or version is None
        or completeness is None
    ):
        return None
    return DiplomaData(
        code=code,
        short_title=short_title,
        title=title,
        version=version,
        completeness=completeness,
        family_code=family_code,
        family_title=family_title,
        sources=tuple(sources),
        notes=(notes or "").strip(),
        required_placement_weeks=weeks,
    )


class _Codes:
    """Remembers where each code of one kind was first seen, to name both places on reuse."""

    def __init__(self, check: _Checker) -> None:
        self.check = check
        self.seen: dict[str, str] = {}

    def claim(self, code: str, where: str, context: str = "") -> bool:
        if code in self.seen:
            first = self.seen[code]
            self.check.error(where, f"code en double (déjà utilisé{first})")
            return False
        self.seen[code] = context
        return True


def _check_blocks(top: dict[str, Any], check: _Checker) -> tuple[list[BlockData], set[str]]:
    """The valid blocks, and every block code seen (even on a faulty block: an activity
    pointing to it must not get a second, misleading error)."""
    blocks: list[BlockData] = []
    codes = _Codes(check)
    for index, item in enumerate(check.sequence(top.get("blocks"), "", "blocks", required=False)):
        entry, code, where = check.entry(item, "bloc", index, "", {"code", "title"})
        if entry is None:
            continue
        title = check.title(entry, where)
        if code and codes.claim(code, where) and title:
            blocks.append(BlockData(code, title))
    return blocks, set(codes.seen)


def _check_activities(
    top: dict[str, Any], block_codes: set[str], check: _Checker
) -> tuple[list[ActivityData], set[str]]:
    """The valid activities, and every task code seen (see _check_blocks)."""
    activities: list[ActivityData] = []
    activity_codes = _Codes(check)
    task_codes = _Codes(check)
    items = check.sequence(top.get("activities"), "", "activities", required=True)
    for index, item in enumerate(items):
        allowed = {"code", "title", "block", "tasks"}
        entry, code, where = check.entry(item, "activité", index, "", allowed)
        if entry is None:
            continue
        title = check.title(entry, where)
        block_code = check.optional_text(entry, "block", where)
        if block_code is not None and block_code not in block_codes:
            check.error(where, f"le bloc « {block_code} » n'existe pas")
        tasks: list[TaskData] = []
        for t_index, t_item in enumerate(
            check.sequence(entry.get("tasks"), where, "tasks", required=True)
        ):
            t_entry, t_code, t_where = check.entry(
                t_item, "tâche", t_index, where, {"code", "title"}
            )
            if t_entry is None:
                continue
            t_title = check.title(t_entry, t_where)
            if t_code and task_codes.claim(t_code, t_where, f" dans l'{where}") and t_title:
                tasks.append(TaskData(t_code, t_title))
        if code and activity_codes.claim(code, where) and title:
            activities.append(ActivityData(code, title, block_code, tuple(tasks)))
    return activities, set(task_codes.seen)


def _check_competencies(
    top: dict[str, Any], task_codes: set[str], check: _Checker
) -> list[CompetencyData]:
    competencies: list[CompetencyData] = []
    comp_codes = _Codes(check)
    criterion_codes = _Codes(check)
    items = check.sequence(top.get("competencies"), "", "competencies", required=True)
    for index, item in enumerate(items):
        allowed = {"code", "title", "tasks", "criteria"}
        entry, code, where = check.entry(item, "compétence", index, "", allowed)
        if entry is None:
            continue
        title = check.title(entry, where)

        linked: list[str] = []
        for task in check.sequence(entry.get("tasks"), where, "tasks", required=False):
            if isinstance(task, bool) or not isinstance(task, str | int):
                check.error(where, f"« {task} » n'est pas un code de tâche")
                continue
            task_code = str(task).strip()
            if task_code not in task_codes:
                check.error(where, f"la tâche « {task_code} » n'existe pas")
            elif task_code in linked:
                check.error(where, f"la tâche « {task_code} » est citée deux fois")
            else:
                linked.append(task_code)

        criteria: list[CriterionData] = []
        items_c = check.sequence(entry.get("criteria"), where, "criteria", required=False)
        for c_index, c_item in enumerate(items_c):
            c_entry, c_code, c_where = check.entry(
                c_item, "critère", c_index, where, {"code", "title"}
            )
            if c_entry is None:
                continue
            c_title = check.title(c_entry, c_where)
            if c_code and criterion_codes.claim(c_code, c_where, f" dans la {where}") and c_title:
                criteria.append(CriterionData(c_code, c_title))
        if code and comp_codes.claim(code, where) and title:
            competencies.append(CompetencyData(code, title, tuple(linked), tuple(criteria)))
    return competencies


def _check_scale(value: Any, check: _Checker) -> tuple[ScaleLevelData, ...] | None:
    if value is None:
        return None
    where = "échelle"
    if not isinstance(value, list):
        check.error(where, "« scale » doit être une liste de six niveaux")
        return None
    if len(value) != SCALE_SIZE:
        check.error(where, f"{len(value)} niveaux au lieu de {SCALE_SIZE}")
    levels: list[ScaleLevelData] = []
    codes = _Codes(check)
    for index, item in enumerate(value):
        l_where = f"{where}, niveau n° {index + 1}"
        entry = check.mapping(item, l_where, {"code", "label", "color"})
        if entry is None:
            continue
        code = check.code(entry, l_where, _SCALE_CODE_MAX)
        label = check.text(entry, "label", l_where, max_len=_SCALE_LABEL_MAX)
        color = check.text(entry, "color", l_where)
        if color is not None and not _COLOR.fullmatch(color):
            check.error(l_where, f"couleur « {color} » invalide (format attendu : #rrggbb)")
            color = None
        if code and codes.claim(code, l_where) and label and color:
            levels.append(ScaleLevelData(code, label, color.lower()))
    if len(levels) != SCALE_SIZE:
        return None  # the problem is already recorded
    return tuple(levels)


# --- Importing ---------------------------------------------------------------------------


@dataclass
class KindCounts:
    created: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0

    @property
    def total(self) -> int:
        """Entries of this kind in the framework after the import."""
        return self.created + self.updated + self.unchanged


@dataclass
class ImportReport:
    """What one import did. `counts` has one entry per kind of KINDS; links are the
    task ↔ competency pairs (created or deleted, never updated)."""

    source: str
    code: str
    short_title: str
    framework_id: int
    created: bool  # the diploma itself was new
    updated: bool  # its own fields (titles, version, sources…) changed
    counts: dict[str, KindCounts] = field(default_factory=lambda: {k: KindCounts() for k in KINDS})

    @property
    def changed(self) -> bool:
        return (
            self.created
            or self.updated
            or any(c.created or c.updated or c.deleted for c in self.counts.values())
        )


def _assign(obj: Any, **values: Any) -> bool:
    """Set only the attributes that differ, so an unchanged re-import issues no UPDATE."""
    changed = False
    for name, value in values.items():
        if getattr(obj, name) != value:
            setattr(obj, name, value)
            changed = True
    return changed


def _tally(counts: KindCounts, *, new: bool, changed: bool) -> None:
    if new:
        counts.created += 1
    elif changed:
        counts.updated += 1
    else:
        counts.unchanged += 1


def import_framework(data: FrameworkData) -> ImportReport:
    """Create or update the framework of `data.diploma.code`, entry by entry (keyed by code).

    Idempotent: titles, positions and links are updated in place (ids kept), new entries are
    added, entries no longer in the file are deleted. The scale is the file's or DEFAULT_SCALE.
    Flushes, never commits. Existing rows are loaded in a fixed number of queries.

    An entry that learners' work already refers to (sheet selections, assessment ratings,
    journal entries, interim reviews) is never deleted: the import is refused with the list of
    those entries, since deleting it would silently erase that work.
    """
    session = db.session
    d = data.diploma
    framework = session.scalar(select(Framework).where(Framework.code == d.code))
    created = framework is None
    if framework is None:
        framework = Framework(code=d.code)
        session.add(framework)
    updated = _assign(
        framework,
        short_title=d.short_title,
        title=d.title,
        version=d.version,
        family_code=d.family_code,
        family_title=d.family_title,
        completeness=d.completeness,
        sources=[dict(s) for s in d.sources],
        notes=d.notes,
        required_placement_weeks=d.required_placement_weeks,
    )
    session.flush()  # tasks and criteria carry framework_id themselves: it must exist
    report = ImportReport(
        source=data.source,
        code=d.code,
        short_title=d.short_title,
        framework_id=framework.id,
        created=created,
        updated=updated and not created,
    )
    counts = report.counts
    fid = framework.id

    def existing(model: Any, *options: Any) -> dict[str, Any]:
        if created:
            return {}
        query = select(model).where(model.framework_id == fid).options(*options)
        return {row.code: row for row in session.scalars(query)}

    old_blocks: dict[str, Block] = existing(Block)
    old_activities: dict[str, Activity] = existing(Activity)
    old_tasks: dict[str, Task] = existing(Task)
    old_competencies: dict[str, Competency] = existing(Competency, selectinload(Competency.tasks))
    old_criteria: dict[str, Criterion] = existing(Criterion)

    # New rows are added to the session explicitly: SQLAlchemy 2 no longer cascades an object
    # into the session through a backref (Block(framework=...) alone would not be saved).
    blocks: dict[str, Block] = {}
    for position, b in enumerate(data.blocks):
        block = old_blocks.pop(b.code, None)
        new = block is None
        if block is None:
            block = Block(framework=framework, code=b.code)
            session.add(block)
        changed = _assign(block, title=b.title, position=position)
        _tally(counts["blocks"], new=new, changed=changed)
        blocks[b.code] = block

    tasks: dict[str, Task] = {}
    # Tasks and criteria are numbered across the whole framework, not within their parent, so
    # ordering by position is right both inside an activity and across a competency's tasks.
    task_position = 0
    for position, a in enumerate(data.activities):
        activity = old_activities.pop(a.code, None)
        new = activity is None
        if activity is None:
            activity = Activity(framework=framework, code=a.code)
            session.add(activity)
        block_row = blocks[a.block_code] if a.block_code else None
        changed = _assign(activity, title=a.title, position=position, block=block_row)
        _tally(counts["activities"], new=new, changed=changed)
        for t in a.tasks:
            task = old_tasks.pop(t.code, None)
            new = task is None
            if task is None:
                task = Task(framework_id=fid, code=t.code)
                session.add(task)
            changed = _assign(task, title=t.title, position=task_position, activity=activity)
            _tally(counts["tasks"], new=new, changed=changed)
            tasks[t.code] = task
            task_position += 1

    criterion_position = 0
    for position, c in enumerate(data.competencies):
        competency = old_competencies.pop(c.code, None)
        new = competency is None
        if competency is None:
            competency = Competency(framework=framework, code=c.code, tasks=[])
            session.add(competency)
        changed = _assign(competency, title=c.title, position=position)
        _tally(counts["competencies"], new=new, changed=changed)

        current = {task.code for task in competency.tasks}
        wanted = set(c.task_codes)
        counts["links"].created += len(wanted - current)
        counts["links"].deleted += len(current - wanted)
        counts["links"].unchanged += len(wanted & current)
        if wanted != current:
            competency.tasks = [tasks[code] for code in c.task_codes]

        for k in c.criteria:
            criterion = old_criteria.pop(k.code, None)
            new = criterion is None
            if criterion is None:
                criterion = Criterion(framework_id=fid, code=k.code)
                session.add(criterion)
            changed = _assign(
                criterion, title=k.title, position=criterion_position, competency=competency
            )
            _tally(counts["criteria"], new=new, changed=changed)
            criterion_position += 1

    _import_scale(framework, data, created, counts["scale"])

    # Upserts first, explicitly rather than trusting autoflush (a caller may have turned it
    # off): a task moved out of an activity that is going away must be saved under its new
    # parent before that delete, or the delete-orphan cascade would take it along.
    session.flush()
    _refuse_removing_used_entries(data.source, old_tasks, old_competencies, old_criteria)
    removed: list[tuple[str, dict[str, Any]]] = [
        ("criteria", old_criteria),
        ("competencies", old_competencies),
        ("tasks", old_tasks),
        ("activities", old_activities),
        ("blocks", old_blocks),
    ]
    for kind, rows in removed:
        for row in rows.values():
            session.delete(row)
        counts[kind].deleted += len(rows)
    # A deleted competency takes its task links with it.
    for competency in old_competencies.values():
        counts["links"].deleted += len(competency.tasks)
    session.flush()
    return report


def _refuse_removing_used_entries(
    source: str,
    tasks: dict[str, Task],
    competencies: dict[str, Competency],
    criteria: dict[str, Criterion],
) -> None:
    """Raise FrameworkFileError when an entry the file drops is used by learners' work."""
    from app.models import (
        AssessmentItem,
        InterimReviewPosition,
        SheetCompetency,
        SheetCriterion,
        SheetTask,
    )
    from app.models.sheet import journal_entry_tasks

    task_ids = [t.id for t in tasks.values()]
    competency_ids = [c.id for c in competencies.values()]
    # Criteria of a removed competency go with it.
    criterion_ids = [c.id for c in criteria.values()]
    used: set[int] = set()
    checks = [
        (SheetTask.task_id, task_ids),
        (journal_entry_tasks.c.task_id, task_ids),
        (SheetCompetency.competency_id, competency_ids),
        (AssessmentItem.competency_id, competency_ids),
        (InterimReviewPosition.competency_id, competency_ids),
        (SheetCriterion.criterion_id, criterion_ids),
        (AssessmentItem.criterion_id, criterion_ids),
    ]
    for column, ids in checks:
        if ids:
            used.update(db.session.scalars(select(column).where(column.in_(ids)).distinct()))
    problems = [
        f"{kind} {row.code} : retirée du fichier mais déjà utilisée par des fiches ou des "
        "bilans ; gardez-la dans le fichier"
        for kind, rows in (("tâche", tasks), ("compétence", competencies), ("critère", criteria))
        for row in rows.values()
        if row.id in used
    ]
    if problems:
        raise FrameworkFileError(source, problems)


def _import_scale(
    framework: Framework, data: FrameworkData, created: bool, counts: KindCounts
) -> None:
    """Scale levels are keyed by position (the six slots of the réglette), not by code: a
    school renaming a level keeps the same row."""
    wanted = (
        [(s.code, s.label, s.color) for s in data.scale]
        if data.scale is not None
        else [(s["code"], s["label"], s["color"]) for s in DEFAULT_SCALE]
    )
    session = db.session
    old: dict[int, ScaleLevel] = {}
    if not created:
        query = select(ScaleLevel).where(ScaleLevel.framework_id == framework.id)
        old = {level.position: level for level in session.scalars(query)}

    # (framework_id, code) is unique and checked row by row: swapping two codes needs a
    # detour through placeholder codes, which cannot clash with real ones (max 10 chars).
    recoded = [
        row
        for position, row in old.items()
        if position < len(wanted) and row.code != wanted[position][0]
    ]
    if recoded:
        for placeholder in recoded:
            placeholder.code = f"~{placeholder.position}"
        session.flush()

    for position, (code, label, color) in enumerate(wanted):
        level = old.pop(position, None)
        new = level is None
        if level is None:
            level = ScaleLevel(framework=framework, position=position)
            session.add(level)
        changed = _assign(level, code=code, label=label, color=color)
        _tally(counts, new=new, changed=changed)
    for level in old.values():
        session.delete(level)
        counts.deleted += 1


def import_framework_files(paths: Iterable[str | PathLike[str]]) -> list[ImportReport]:
    """Check every file first, then import them all inside one SAVEPOINT.

    A malformed file raises FrameworkFileError before anything is written; a database error
    rolls the savepoint back. Either way no framework is left half-imported. Flushes, never
    commits: the caller commits.
    """
    parsed = [parse_framework_file(Path(p)) for p in paths]
    by_code: dict[str, str] = {}
    for data in parsed:
        code = data.diploma.code
        if code in by_code:
            raise FrameworkFileError(
                data.source,
                [f"diploma {code} : déjà défini par {by_code[code]} dans le même import"],
            )
        by_code[code] = data.source
    with db.session.begin_nested():
        return [import_framework(data) for data in parsed]


def shipped_framework_paths() -> list[Path]:
    """The frameworks shipped with the application (app/data/referentiels/*.yaml), sorted."""
    return sorted(SHIPPED_DIR.glob("*.yaml"))
