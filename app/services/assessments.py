"""The company assessment (bilan entreprise, SPEC F6/F7): rating items, history, conflicts,
competency modes, status, and the grid that pages and documents render.

Public API
----------
- `get_or_create_assessment(portfolio)`: the portfolio's assessment, created on first use.
- `record_change(assessment, user, item_key, value, *, device_time, change_uuid,
  base_version=None, via_sync=False, context=None) -> ChangeResult`: the ONE entry point for
  every change to an item (online form, htmx, offline sync). Validates, applies the F7
  conflict rule, writes the history row, bumps the item's version.
- `prepare_changes(user, changes) -> RecordContext`: what `record_change` reads for a batch
  of changes (offline sync), read and locked up front in a fixed number of queries.
- `resolve_conflict(item, user, keep) -> ChangeResult`: the teacher keeps the current value or
  restores the other one.
- `set_competency_mode(assessment, user, competency_id, mode)`: criteria / global toggle.
- `complete(assessment, user)`, `reopen(assessment, user)`: status changes (audit-logged).
- `build_grid(assessment) -> AssessmentGrid`: everything the assessment page, the "Préparer la
  rencontre" PDF and the placement summary show, in a fixed number of queries.
- `item_row(assessment, item_key) -> ItemRow`: one item with its context, for the small
  fragment returned after a rating (and for live updates).
- `item_history(assessment, item_key) -> list[HistoryEntry]`.

Concurrency: a rating locks only its own item row (SELECT … FOR UPDATE on PostgreSQL) and
takes a *shared* lock on the assessment row (FOR SHARE), so the teacher and the tutor rating
different items never wait on each other, while completing the assessment (an exclusive
lock) waits for ratings in flight. A batch of offline changes (`prepare_changes`) takes the
same locks, in the same order, once for all its changes: its assessments shared, then all its
items in id order. Items are created on first rating inside a SAVEPOINT; a concurrent
creation of the same item or a replayed `change_uuid` is caught there (UNIQUE constraints),
never duplicated. Services flush, never commit; routes commit and then publish
`events.publish(f"assessment:{id}", "item_saved", item_key=..., author_id=...)`.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cached_property
from typing import Any, NamedTuple

from flask import g
from markupsafe import Markup, escape
from sqlalchemy import bindparam, func, insert, inspect, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager, joinedload, raiseload

from app import access
from app.errors import AssessmentCompleted, DomainError, InvalidInput, NotAllowed, NotFound
from app.extensions import db
from app.models import (
    Activity,
    ActivitySheet,
    Assessment,
    AssessmentCompetencyMode,
    AssessmentItem,
    AssessmentItemChange,
    AssessmentStatus,
    ClassGroup,
    Competency,
    Criterion,
    Framework,
    ItemKind,
    Learner,
    Level,
    LiaisonSheet,
    Period,
    Portfolio,
    ScaleLevel,
    SheetCompetency,
    SheetCriterion,
    SheetTask,
    Task,
    Tutor,
    User,
    task_competencies,
)
from app.models.base import utcnow
from app.services import audit

COMMENT_MAX = 5000
ENGAGEMENT_VALUES = ("1", "2", "3", "4")
MODES = ("global", "criteria")
ROLE_LABELS = {"teacher": "Enseignant", "tutor": "Formateur en entreprise"}
OUTCOME_LABELS = {
    "applied": "enregistrée",
    "conflict": "enregistrée (en conflit avec une autre saisie)",
    "superseded": "non retenue (une saisie plus récente l'emporte)",
    "restored": "valeur rétablie par l'enseignant",
    "rejected": "refusée",
}
SHORT_ROLE_LABELS = {"teacher": "Saisi par l’enseignant", "tutor": "Saisi par le tuteur"}
_FIELD_PREFIX = {ItemKind.CRITERION: "c", ItemKind.COMPETENCY: "k"}
_KEY = re.compile(r"^(criterion|competency):([1-9][0-9]{0,9})$")
_COLOR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")


# --- results and views ---------------------------------------------------------------------


@dataclass(frozen=True)
class ChangeResult:
    """What happened to one change.

    outcome: "applied" (it is the item's value now), "conflict" (applied over a concurrent
    change whose value waits in `item.conflict_value`), "superseded" (it lost against a later
    change made on another device: not applied, kept in history and as the item's
    conflict value), "restored"/"kept" (resolve_conflict), or "duplicate" (this change_uuid was
    already recorded: nothing written; `change` is the earlier row and `outcome` its outcome
    is in `change.outcome`)."""

    item: AssessmentItem
    change: AssessmentItemChange | None
    outcome: str
    duplicate: bool = False
    # The history row's values (resulting_version, server_time…): what a receipt reports. In
    # a deferred batch (RecordContext.deferred) `change` is None and only this row exists
    # until `write_deferred` inserts it.
    row: dict[str, Any] = field(default_factory=dict)

    @property
    def applied(self) -> bool:
        """True when the change's value is (or was made) the item's current value."""
        outcome = self.change.outcome if self.duplicate and self.change else self.outcome
        return outcome in ("applied", "conflict", "restored")

    @property
    def conflict(self) -> bool:
        return bool(self.item.conflict)


@dataclass(frozen=True)
class ScaleChoice:
    """One level of the framework's six-level scale (réglette)."""

    position: int
    code: str
    label: str
    color: str  # "#rrggbb", validated

    @cached_property
    def css_class(self) -> str:
        return f"s{self.position}"

    @cached_property
    def code_attr(self) -> Markup:
        """The code as an HTML attribute value: bare when it is plain letters/digits (the
        grid repeats it a thousand times), quoted and escaped otherwise."""
        if re.fullmatch(r"[A-Za-z0-9]+", self.code):
            return Markup(self.code)  # noqa: S704  # nosec B704  # letters and digits only
        return Markup('"%s"') % self.code

    @cached_property
    def radio(self) -> tuple[str, str, str, Markup]:
        """(code_attr, position, code, escaped code): what each radio of a réglette writes,
        escaped once per level, read at once in the template's loop (level_radios in
        assessments/_macros.html, which autoescapes nothing else)."""
        return str(self.code_attr), str(self.position), self.code, escape(self.code)

    @cached_property
    def text(self) -> str:
        """The level as people read it: "3 – Satisfaisant"."""
        return f"{self.code} – {self.label}"

    @property
    def observed(self) -> bool:
        """Position 0 is the "not assessed" level (NE in the default scale)."""
        return self.position > 0


@dataclass
class ItemView:
    """The current state of one item (None/0 when never set)."""

    key: str
    kind: str
    value: str | None = None
    version: int = 0
    level: ScaleChoice | None = None  # ratings only
    author_name: str | None = None
    author_role: str | None = None  # "teacher" | "tutor"
    device_time: datetime | None = None
    server_time: datetime | None = None
    conflict: bool = False
    conflict_value: str | None = None
    conflict_level: ScaleChoice | None = None
    conflict_author_name: str | None = None
    conflict_device_time: datetime | None = None

    @cached_property
    def dom_id(self) -> str:
        return dom_id(self.key)

    @property
    def is_set(self) -> bool:
        return self.value is not None

    @property
    def has_meta(self) -> bool:
        """Whether `meta` (assessments/_macros.html) shows anything: author or conflict."""
        return self.value is not None or self.version > 0 or self.conflict

    @property
    def author_role_label(self) -> str:
        return ROLE_LABELS.get(self.author_role or "", "")

    @property
    def author_short_label(self) -> str:
        """ "Enseignant" / "Tuteur": beside every rating (the history says the rest)."""
        return SHORT_ROLE_LABELS.get(self.author_role or "", "")

    @cached_property
    def field_name(self) -> str:
        """The form field of the item in the page's form: short ("c12", "k3") because
        the Bac Pro MEE grid repeats it ~1100 times; `key_of_field` reverses it."""
        return field_name(self.key)

    @property
    def conflict_text(self) -> str:
        if self.conflict_level is not None:
            return self.conflict_level.text
        return self.conflict_value if self.conflict_value is not None else "(effacée)"


@dataclass
class SheetRef:
    """A sheet mobilised for the assessment, with its reference number: "[1] Fiche …"."""

    number: int
    sheet_id: int
    title: str
    company: str = ""

    @property
    def label(self) -> str:
        return f"[{self.number}] {self.title}"


@dataclass
class CriterionRow:
    id: int
    code: str
    title: str
    refs: list[int]  # reference numbers of the sheets that selected this criterion
    item: ItemView

    @property
    def selected(self) -> bool:
        return bool(self.refs)


@dataclass
class CompetencyRow:
    """A competency of the framework, how it is rated here, and its ratings.

    mode: "global" (rate `item`, the competency as a whole) or "criteria" (rate each row of
    `criteria`). mode_source: "assessment" (an assessor toggled it), "sheets" (the teacher's
    choice on the sheets) or "default" (nothing selected: global)."""

    id: int
    code: str
    title: str
    mode: str
    mode_source: str
    refs: list[int]  # sheets that selected the competency or any of its criteria
    item: ItemView
    criteria: list[CriterionRow]
    summary: ScaleChoice | None = None  # criteria mode: median observed level

    @property
    def selected(self) -> bool:
        return bool(self.refs)

    @property
    def rated_criteria(self) -> int:
        return sum(1 for row in self.criteria if row.item.is_set)

    @property
    def criteria_lines(self) -> list[tuple[list[int], str, str, str]]:
        """(refs, code, title, level text or "") of each criterion: the list shown under a
        global rating, read at once by the page's loop."""
        return [
            (row.refs, row.code, row.title, row.item.level.text if row.item.level else "")
            for row in self.criteria
        ]

    @property
    def level(self) -> ScaleChoice | None:
        """The competency's result in its mode: the global rating or the criteria summary."""
        return self.item.level if self.mode == "global" else self.summary


@dataclass
class TaskRow:
    id: int
    code: str
    title: str
    refs: list[int]
    competency_codes: list[str]

    @property
    def selected(self) -> bool:
        return bool(self.refs)


@dataclass
class ActivityRow:
    id: int
    code: str
    title: str
    tasks: list[TaskRow]

    @property
    def refs(self) -> list[int]:
        return sorted({n for task in self.tasks for n in task.refs})

    @property
    def selected(self) -> bool:
        return any(task.refs for task in self.tasks)


@dataclass
class GridHeader:
    period_id: int
    period_name: str
    start_date: date
    end_date: date
    learner_id: int
    learner_name: str
    class_name: str
    status_label: str  # "élève" / "apprenti"
    company_name: str
    company_address: str
    company_phone: str
    tutor_name: str  # the account's name, else the liaison sheet's
    tutor_role: str
    tutor_email: str
    tutor_phone: str
    tutor_kind_label: str  # "Tuteur de stage" / "Maître d'apprentissage" / ""
    framework_id: int
    framework_code: str
    framework_title: str


@dataclass
class AssessmentGrid:
    """Everything shown by the assessment page and the documents built from it.

    - `header`: period, learner, company, tutor.
    - `sheets`: the sheets mobilised (having at least one selection), numbered [1], [2]…
      in sheet order; every `refs` list elsewhere holds these numbers.
    - `activities` → `tasks`: the whole framework, `refs` marking those selected on sheets.
    - `competencies`: the whole framework in order, each with its mode, its global rating
      item and its criteria rows (every criterion, selected or not, with its rating item).
    - `scale`: the six levels (position, code, label, colour).
    - `engagement` (value "1".."4"), `meeting_date` (ISO date) and `comment` items, and
      `meeting_date_value`: the meeting date in force (the item, else the period's last day).
    Item states carry value, level, author name/role, device and server times, version and
    conflict. `item(key)` finds any item view by key."""

    assessment_id: int
    portfolio_id: int
    status: str
    completed_at: datetime | None
    completed_by_name: str | None
    header: GridHeader
    scale: list[ScaleChoice]
    sheets: list[SheetRef]
    activities: list[ActivityRow]
    competencies: list[CompetencyRow]
    engagement: ItemView
    meeting_date: ItemView
    comment: ItemView
    meeting_date_value: date
    conflicts: int = 0
    _index: dict[str, ItemView] = field(default_factory=dict, repr=False)

    @property
    def is_completed(self) -> bool:
        return self.status == AssessmentStatus.COMPLETED

    @property
    def sheets_line(self) -> str:
        """ "[1] Fiche activité : semaine 24 [2022] – [2] …"."""
        return " – ".join(ref.label for ref in self.sheets)

    @property
    def engagement_stars(self) -> int:
        return int(self.engagement.value) if self.engagement.value else 0

    def item(self, key: str) -> ItemView | None:
        return self._index.get(key)


@dataclass
class ItemRow:
    """One item with what its fragment shows: title, marks, scale (for ratings)."""

    key: str
    kind: str
    code: str
    title: str
    refs: list[int]
    item: ItemView
    scale: list[ScaleChoice]
    meeting_default: date | None = None  # meeting date item: the period's last day
    meeting_value: date | None = None  # meeting date item: the date in force
    mode: str | None = None  # the competency's mode (competency and criterion items)
    # criterion items: the competency's criteria summary, refreshed beside the item
    competency_id: int | None = None
    summary: ScaleChoice | None = None
    rated: int = 0
    total: int = 0


@dataclass
class HistoryEntry:
    value: str | None
    value_text: str
    previous_text: str
    outcome: str
    outcome_label: str
    author_name: str
    author_role_label: str
    device_time: datetime | None
    server_time: datetime
    via_sync: bool


# --- keys and small helpers ---------------------------------------------------------------


def dom_id(key: str) -> str:
    """The stable DOM id of an item's fragment: "item-c12" (criterion:12), "item-k3"
    (competency:3), "item-engagement", "item-meeting_date", "item-comment"."""
    return "item-" + field_name(key)


def field_name(key: str) -> str:
    """ "criterion:12" → "c12", "competency:3" → "k3"; other keys unchanged."""
    kind, _, ref = key.partition(":")
    return _FIELD_PREFIX[kind] + ref if kind in _FIELD_PREFIX and ref else key


def key_of_field(name: str) -> str:
    """The item key of a form field name (inverse of `field_name`)."""
    for kind, prefix in _FIELD_PREFIX.items():
        if name.startswith(prefix) and name[1:].isdigit():
            return f"{kind}:{name[1:]}"
    return name


def parse_key(item_key: str) -> tuple[str, int | None]:
    """("criterion", 12) for "criterion:12"; ("comment", None) for "comment"."""
    if item_key in (ItemKind.ENGAGEMENT, ItemKind.MEETING_DATE, ItemKind.COMMENT):
        return item_key, None
    match = _KEY.match(item_key or "")
    if match is None:
        raise InvalidInput("Cet élément n'existe pas dans le bilan.")
    return match.group(1), int(match.group(2))


def _request_memo(name: str) -> dict[Any, Any]:
    """A dict that lives as long as the request (or CLI command): for facts a request reads
    more than once and that no request changes (a period's framework, a framework's scale),
    e.g. before and after a rating save's commit."""
    memo: dict[Any, Any] = g.setdefault(f"assessments_{name}", {})
    return memo


_scale_t = ScaleLevel.__table__
_SCALE = (
    select(_scale_t.c.position, _scale_t.c.code, _scale_t.c.label, _scale_t.c.color)
    .where(_scale_t.c.framework_id == bindparam("framework_id"))
    .order_by(_scale_t.c.position)
)


def scale_of(framework_id: int) -> list[ScaleChoice]:
    memo = _request_memo("scales")
    if framework_id not in memo:
        rows = db.session.execute(_SCALE, {"framework_id": framework_id})
        memo[framework_id] = [_choice(row) for row in rows]
    return list(memo[framework_id])


def safe_color(color: str | None) -> str:
    """A level's colour as pages may use it: one that is not "#rgb"/"#rrggbb" shows grey
    (it goes into a style attribute)."""
    return color if color and _COLOR.match(color) else "#9aa0a6"


def _choice(row: Any) -> ScaleChoice:
    """A level from its `_SCALE` row."""
    return ScaleChoice(
        position=row.position, code=row.code, label=row.label, color=safe_color(row.color)
    )


def ink_for(color: str) -> str:
    """Black or white, whichever reads better on `color` (WCAG relative luminance)."""
    hex_ = color.lstrip("#")
    if len(hex_) == 3:
        hex_ = "".join(c * 2 for c in hex_)
    channels = [int(hex_[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return "#000000" if (luminance + 0.05) / 0.05 >= 1.05 / (luminance + 0.05) else "#ffffff"


def median_level(levels: Iterable[ScaleChoice | None]) -> ScaleChoice | None:
    """The lower median of the observed levels (NE and unrated left out): an ordinal
    summary of criteria ratings that a mean would misrepresent."""
    observed = sorted(
        (lv for lv in levels if lv is not None and lv.observed), key=lambda x: x.position
    )
    if not observed:
        return None
    return observed[(len(observed) - 1) // 2]


def framework_id_of(portfolio: Portfolio) -> int:
    """The framework of the portfolio's level (the one its items must belong to)."""
    memo = _request_memo("frameworks")
    if portfolio.period_id not in memo:
        memo[portfolio.period_id] = db.session.scalar(
            select(Level.framework_id)
            .join(Period, Period.level_id == Level.id)
            .where(Period.id == portfolio.period_id)
        )
    framework_id = memo[portfolio.period_id]
    if framework_id is None:
        raise NotFound("Ce bilan n'existe plus.")
    return int(framework_id)


@dataclass(frozen=True)
class _Reference:
    """What a rated item's criterion or competency is: its framework, its competency (the
    competency itself for a competency item), its code and title."""

    framework_id: int
    competency_id: int
    code: str
    title: str


def _reference(kind: str, ref_id: int) -> _Reference | None:
    """The criterion or competency an item key names (None: no such row), read once per
    request: a rating save checks it, then its fragment shows its code and title."""
    memo = _request_memo("references")
    if (kind, ref_id) not in memo:
        if kind == ItemKind.CRITERION:
            query = select(
                Criterion.framework_id, Criterion.competency_id, Criterion.code, Criterion.title
            ).where(Criterion.id == ref_id)
        else:
            query = select(
                Competency.framework_id, Competency.id, Competency.code, Competency.title
            ).where(Competency.id == ref_id)
        found = db.session.execute(query).first()
        memo[(kind, ref_id)] = _Reference(*found) if found is not None else None
    reference: _Reference | None = memo[(kind, ref_id)]
    return reference


def _role_of(user: User) -> str:
    return "teacher" if access.is_teacher(user) else "tutor"


def _as_utc(moment: datetime | None) -> datetime:
    if moment is None:
        return utcnow()
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidInput("L'heure de l'appareil doit indiquer son fuseau horaire.")
    return moment.astimezone(UTC)


# --- the assessment -----------------------------------------------------------------------


def get_or_create_assessment(portfolio: Portfolio) -> Assessment:
    """The portfolio's assessment; created (draft) the first time someone opens it. Two
    simultaneous first opens create one row (UNIQUE portfolio_id, caught in a SAVEPOINT)."""
    query = select(Assessment).where(Assessment.portfolio_id == portfolio.id)
    existing = db.session.scalar(query)
    if existing is not None:
        return existing
    try:
        with db.session.begin_nested():
            assessment = Assessment(portfolio_id=portfolio.id, status=AssessmentStatus.DRAFT)
            db.session.add(assessment)
    except IntegrityError:
        assessment = db.session.scalars(query).one()
    return assessment


def _validate_value(
    kind: str, ref_id: int | None, value: Any, framework_id: int, context: RecordContext
) -> str | None:
    """Normalise and check a value for an item kind; None clears the item."""
    if value is not None and not isinstance(value, str):
        raise InvalidInput("La valeur envoyée n'est pas valide.")
    if kind in (ItemKind.CRITERION, ItemKind.COMPETENCY):
        if context.framework_of(kind, ref_id) != framework_id:
            what = "Ce critère" if kind == ItemKind.CRITERION else "Cette compétence"
            raise InvalidInput(f"{what} n'appartient pas au référentiel de ce bilan.")
        if value is None or value == "":
            return None
        codes = context.scale_codes(framework_id)
        if value not in codes:
            raise InvalidInput(
                f"Niveau inconnu : choisissez l'un des niveaux de la réglette ({', '.join(codes)})."
            )
        return value
    if kind == ItemKind.ENGAGEMENT:
        if value is None or value == "":
            return None
        if value not in ENGAGEMENT_VALUES:
            raise InvalidInput("L'engagement se note de 1 à 4 étoiles.")
        return value
    if kind == ItemKind.MEETING_DATE:
        if value is None or value.strip() == "":
            return None
        try:
            parsed = date.fromisoformat(value.strip())
        except ValueError:
            raise InvalidInput(
                "Date de rencontre invalide (format attendu : AAAA-MM-JJ)."
            ) from None
        if not 2000 <= parsed.year <= 2100:
            raise InvalidInput("Date de rencontre invalide.")
        return parsed.isoformat()
    # comment
    if value is None or value.strip() == "":
        return None
    if len(value) > COMMENT_MAX:
        raise InvalidInput(
            f"Le commentaire est trop long ({len(value)} caractères, {COMMENT_MAX} au plus)."
        )
    return value.replace("\r\n", "\n")


def _lock_status(assessment: Assessment, *, exclusive: bool = False) -> str:
    """Read the status under a lock: shared for ratings (they never block each other),
    exclusive for status changes (which wait for ratings in flight)."""
    query = select(Assessment.status).where(Assessment.id == assessment.id)
    query = query.with_for_update() if exclusive else query.with_for_update(read=True)
    status = db.session.scalar(query)
    if status is None:
        raise NotFound("Ce bilan n'existe plus.")
    return str(status)


def _locked_item(assessment_id: int, key: str) -> AssessmentItem | None:
    return db.session.scalar(
        select(AssessmentItem)
        .where(AssessmentItem.assessment_id == assessment_id, AssessmentItem.item_key == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def _existing_change(change_uuid: str) -> AssessmentItemChange | None:
    return db.session.scalar(
        select(AssessmentItemChange)
        .where(AssessmentItemChange.change_uuid == change_uuid)
        .options(joinedload(AssessmentItemChange.item))
    )


def _duplicate(existing: AssessmentItemChange, assessment: Assessment, key: str) -> ChangeResult:
    item = existing.item
    if item.assessment_id != assessment.id or item.item_key != key:
        raise InvalidInput("Cet identifiant de modification a déjà servi pour un autre élément.")
    return ChangeResult(item=item, change=existing, outcome="duplicate", duplicate=True)


def _current_change_id(item: AssessmentItem) -> int | None:
    """The history row that set the item's current value (for conflict_change_id)."""
    return db.session.scalar(
        select(AssessmentItemChange.id)
        .where(
            AssessmentItemChange.item_id == item.id,
            AssessmentItemChange.outcome.in_(("applied", "conflict", "restored")),
        )
        .order_by(AssessmentItemChange.id.desc())
        .limit(1)
    )


def _alive(obj: object) -> bool:
    """False for a row created in a savepoint since rolled back (it no longer exists); True
    for a row of the session, flushed or still pending (RecordContext.deferred)."""
    state = inspect(obj)
    return bool(state.persistent or state.pending)


@dataclass
class RecordContext:
    """What `record_change` reads besides the change itself, kept once read.

    Empty (the default), each fact is read when first needed: one change costs what it always
    did. `prepare_changes` fills it for many changes at once (offline sync) in a few
    IN-queries and takes the locks `record_change` would take, so that each change then only
    writes. Valid within one transaction in which the assessments' status does not change:
    statuses and items are read under locks that last until it ends."""

    assessments: dict[int, Assessment] = field(default_factory=dict)
    frameworks: dict[int, int] = field(default_factory=dict)  # assessment id → framework id
    statuses: dict[int, str] = field(default_factory=dict)  # assessment id → status, locked
    # (assessment id, item key) → the item, locked FOR UPDATE; None: it has no row yet.
    items: dict[tuple[int, str], AssessmentItem | None] = field(default_factory=dict)
    changes: dict[str, AssessmentItemChange | None] = field(default_factory=dict)  # by uuid
    criteria: dict[int, tuple[int, int] | None] = field(default_factory=dict)  # (fw, competency)
    competencies: dict[int, int | None] = field(default_factory=dict)  # id → framework id
    scales: dict[int, list[str]] = field(default_factory=dict)  # framework id → level codes
    # Assessments `prepare_changes` found `user` may rate: record_change skips its check.
    rateable: set[int] = field(default_factory=set)
    # True while a sync batch applies its changes together (sync._apply_together): no
    # savepoint, flush or ORM object per change; the new items and the history rows wait in
    # `new_items` and `pending` until `write_deferred` writes them in one statement each, and
    # on any error the caller rolls back and applies the changes one by one instead.
    deferred: bool = False
    new_items: list[AssessmentItem] = field(default_factory=list)
    pending: list[tuple[AssessmentItem, dict[str, Any]]] = field(default_factory=list)

    def framework_id(self, assessment: Assessment) -> int:
        if assessment.id not in self.frameworks:
            self.frameworks[assessment.id] = framework_id_of(assessment.portfolio)
        return self.frameworks[assessment.id]

    def status(self, assessment: Assessment) -> str:
        """The status under a shared lock: read once, as the lock lasts to the commit."""
        if assessment.id not in self.statuses:
            self.statuses[assessment.id] = _lock_status(assessment)
        return self.statuses[assessment.id]

    def lock(self, assessment: Assessment, key: str) -> None:
        """When neither is known yet (one save), the status and the item in one statement:
        the item FOR UPDATE and the assessment FOR SHARE, the locks `status` and
        `item_for_update` take. An item without a row yet leaves both to them."""
        pair = (assessment.id, key)
        if assessment.id in self.statuses or pair in self.items:
            return
        found = db.session.execute(
            select(AssessmentItem, Assessment.status)
            .join(Assessment, Assessment.id == AssessmentItem.assessment_id)
            .where(AssessmentItem.assessment_id == assessment.id, AssessmentItem.item_key == key)
            .with_for_update(of=AssessmentItem)
            .suffix_with("FOR SHARE OF assessments", dialect="postgresql")
            .execution_options(populate_existing=True)
        ).first()
        if found is not None:
            self.items[pair], self.statuses[assessment.id] = found[0], str(found[1])

    def framework_of(self, kind: str, ref_id: int | None) -> int | None:
        """The framework of a criterion or a competency; None when there is no such row."""
        if ref_id is None:
            return None
        if kind == ItemKind.CRITERION:
            criterion = self._criterion(ref_id)
            return criterion[0] if criterion else None
        if ref_id not in self.competencies:
            found = _reference(ItemKind.COMPETENCY, ref_id)
            self.competencies[ref_id] = found.framework_id if found else None
        return self.competencies[ref_id]

    def _criterion(self, criterion_id: int) -> tuple[int, int] | None:
        if criterion_id not in self.criteria:
            found = _reference(ItemKind.CRITERION, criterion_id)
            self.criteria[criterion_id] = (
                (found.framework_id, found.competency_id) if found else None
            )
        return self.criteria[criterion_id]

    def scale_codes(self, framework_id: int) -> list[str]:
        if framework_id not in self.scales:
            self.scales[framework_id] = [level.code for level in scale_of(framework_id)]
        return self.scales[framework_id]

    def existing_change(self, change_uuid: str) -> AssessmentItemChange | None:
        """The history row already recorded under this uuid, if any."""
        known = self.changes.get(change_uuid)
        if change_uuid not in self.changes or (known is not None and not _alive(known)):
            known = self.changes[change_uuid] = _existing_change(change_uuid)
        return known

    def item_for_update(
        self, assessment: Assessment, key: str, kind: str, ref_id: int | None
    ) -> AssessmentItem:
        """The item, locked FOR UPDATE; created (version 0) when it has no row yet."""
        pair = (assessment.id, key)
        known = self.items.get(pair)
        if pair not in self.items or (known is not None and not _alive(known)):
            known = _locked_item(assessment.id, key)
        item = known if known is not None else self._create_item(assessment, key, kind, ref_id)
        self.items[pair] = item
        return item

    def _create_item(
        self, assessment: Assessment, key: str, kind: str, ref_id: int | None
    ) -> AssessmentItem:
        competency_id = ref_id if kind == ItemKind.COMPETENCY else None
        if kind == ItemKind.CRITERION and ref_id is not None:
            criterion = self._criterion(ref_id)
            competency_id = criterion[1] if criterion else None
        item = AssessmentItem(
            assessment_id=assessment.id,
            item_key=key,
            kind=kind,
            competency_id=competency_id,
            criterion_id=ref_id if kind == ItemKind.CRITERION else None,
            version=0,
        )
        if self.deferred:
            # Left out of the session: inserted with the batch's other new items, in one
            # statement (write_deferred), which gives their ids back on SQLite too.
            item.conflict = False
            self.new_items.append(item)
            return item
        try:
            with db.session.begin_nested():
                db.session.add(item)
            return item
        except IntegrityError:
            # The other assessor created this item at the same moment: use theirs.
            found = _locked_item(assessment.id, key)
            assert found is not None
            return found


def prepare_changes(user: User, changes: Iterable[tuple[int, str, str]]) -> RecordContext:
    """A context for recording many changes, given as (assessment id, item key, change uuid),
    read in a fixed number of queries whatever their number. It takes the locks
    `record_change` takes, in the same order: a shared lock on each assessment named (in the
    statement that reads them, before the access check: a shared lock blocks only a status
    change, for the length of the request), then the items of those `user` may rate FOR
    UPDATE in id order, so two batches never wait on each other in a cycle. `assessments`
    holds every assessment found (with portfolio and period); keys, values and uuids are
    left for `record_change` to check."""
    context = RecordContext()
    wanted = list(changes)
    ids = {assessment_id for assessment_id, _, _ in wanted}
    if not ids:
        return context
    # One statement reads the assessments and takes their shared locks, in id order (the
    # status is read as a column: fresh under the lock even when the session holds the row).
    rows = db.session.execute(
        select(Assessment, Level.framework_id, Assessment.status)
        .join(Assessment.portfolio)
        .join(Portfolio.period)
        .join(Period.level)
        .where(Assessment.id.in_(sorted(ids)))
        .order_by(Assessment.id)
        .options(contains_eager(Assessment.portfolio).contains_eager(Portfolio.period))
        .with_for_update(read=True, of=Assessment)
    )
    statuses: dict[int, str] = {}
    for assessment, framework_id, status in rows:
        context.assessments[assessment.id] = assessment
        context.frameworks[assessment.id] = framework_id
        statuses[assessment.id] = str(status)
    rateable = sorted(
        assessment.id
        for assessment in context.assessments.values()
        if access.can_rate_assessment(user, assessment, ignore_status=True)
    )
    context.rateable = set(rateable)
    if not rateable:
        return context
    context.statuses = {assessment_id: statuses[assessment_id] for assessment_id in rateable}
    wanted = [row for row in wanted if row[0] in context.statuses]
    context.items = dict.fromkeys((assessment_id, key) for assessment_id, key, _ in wanted)
    items = db.session.scalars(
        select(AssessmentItem)
        .where(
            tuple_(AssessmentItem.assessment_id, AssessmentItem.item_key).in_(sorted(context.items))
        )
        .order_by(AssessmentItem.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    for item in items:
        context.items[(item.assessment_id, item.item_key)] = item
    context.changes = dict.fromkeys(change_uuid for _, _, change_uuid in wanted)
    recorded = db.session.scalars(
        select(AssessmentItemChange)
        .where(AssessmentItemChange.change_uuid.in_(sorted(context.changes)))
        .options(joinedload(AssessmentItemChange.item))
    )
    for change in recorded:
        context.changes[change.change_uuid] = change
    _prepare_references(context, [key for _, key, _ in wanted])
    return context


def _prepare_references(context: RecordContext, keys: list[str]) -> None:
    """The criteria and competencies the keys name, and the scales they are rated on."""
    refs: dict[str, set[int]] = {ItemKind.CRITERION: set(), ItemKind.COMPETENCY: set()}
    for key in keys:
        match = _KEY.match(key)
        if match is not None:
            refs[match.group(1)].add(int(match.group(2)))
    if refs[ItemKind.CRITERION]:
        context.criteria = dict.fromkeys(refs[ItemKind.CRITERION])
        for criterion_id, framework_id, competency_id in db.session.execute(
            select(Criterion.id, Criterion.framework_id, Criterion.competency_id).where(
                Criterion.id.in_(sorted(refs[ItemKind.CRITERION]))
            )
        ):
            context.criteria[criterion_id] = (framework_id, competency_id)
    if refs[ItemKind.COMPETENCY]:
        context.competencies = dict.fromkeys(refs[ItemKind.COMPETENCY])
        for competency_id, framework_id in db.session.execute(
            select(Competency.id, Competency.framework_id).where(
                Competency.id.in_(sorted(refs[ItemKind.COMPETENCY]))
            )
        ):
            context.competencies[competency_id] = framework_id
    if refs[ItemKind.CRITERION] or refs[ItemKind.COMPETENCY]:
        frameworks = {context.frameworks[assessment_id] for assessment_id in context.statuses}
        context.scales = {framework_id: [] for framework_id in frameworks}
        for framework_id, code in db.session.execute(
            select(ScaleLevel.framework_id, ScaleLevel.code)
            .where(ScaleLevel.framework_id.in_(sorted(frameworks)))
            .order_by(ScaleLevel.framework_id, ScaleLevel.position)
        ):
            context.scales[framework_id].append(code)


def record_change(
    assessment: Assessment,
    user: User,
    item_key: str,
    value: str | None,
    *,
    device_time: datetime | None,
    change_uuid: str | None = None,
    base_version: int | None = None,
    via_sync: bool = False,
    context: RecordContext | None = None,
) -> ChangeResult:
    """Record one change of one item of `assessment` by `user` (teacher or tutor).

    - `item_key`: "criterion:<id>", "competency:<id>", "engagement", "meeting_date", "comment".
    - `value`: a scale level code of the framework ("NE", "0"…"4" by default) for ratings,
      "1".."4" for engagement, an ISO date for the meeting date, text (≤ 5000 chars) for the
      comment; None or "" clears the item.
    - `device_time`: aware datetime when the change was made on the device (None: now).
    - `change_uuid`: a UUID identifying this change, generated on the device (offline sync).
      A change_uuid already recorded returns `duplicate=True` and writes nothing. None (a
      change made online): a new one, which nothing can have recorded yet.
    - `base_version`: the item version the device last saw. When given and older than the
      item's version (someone else changed it since) and the values differ, SPEC F7 applies:
      the later `device_time` wins; the other value stays in history and in
      `item.conflict_value`, `item.conflict` is set for the teacher to settle.
    - `context`: what was already read for earlier changes in this transaction (see
      `RecordContext`, `prepare_changes`); None reads what this change needs.

    Raises NotFound (the user may not rate this assessment), AssessmentCompleted (409),
    InvalidInput (422: unknown item, item outside the learner's framework, level outside the
    scale, bad engagement/date, comment too long, malformed uuid or device time).
    Flushes; the caller commits, then publishes the event.
    """
    context = context if context is not None else RecordContext()
    if assessment.id not in context.rateable and not access.can_rate_assessment(
        user, assessment, ignore_status=True
    ):
        raise NotFound("Ce bilan n'existe pas ou n'est pas accessible.")
    kind, ref_id = parse_key(item_key)
    fresh = change_uuid is None  # a change made online: no device can have sent its uuid
    if change_uuid is None:
        change_uuid = str(uuid.uuid4())
        context.changes[change_uuid] = None
    try:
        change_uuid = str(uuid.UUID(change_uuid))
    except ValueError:
        raise InvalidInput("Identifiant de modification invalide.") from None
    if base_version is not None and (not isinstance(base_version, int) or base_version < 0):
        raise InvalidInput("Version de base invalide.")
    device_time = _as_utc(device_time)
    framework_id = context.framework_id(assessment)
    value = _validate_value(kind, ref_id, value, framework_id, context)

    existing = context.existing_change(change_uuid)
    if existing is not None:
        return _duplicate(existing, assessment, item_key)
    context.lock(assessment, item_key)
    if context.status(assessment) == AssessmentStatus.COMPLETED:
        raise AssessmentCompleted(
            "Ce bilan est complété : il ne peut plus être modifié (l'enseignant peut le rouvrir)."
        )
    if context.deferred:
        item = context.item_for_update(assessment, item_key, kind, ref_id)
        # Its history row waits in context.pending (write_deferred); the batch's uuids are
        # distinct and none was recorded, so context.changes needs no entry.
        return _apply(item, user, value, device_time, change_uuid, base_version, via_sync, context)
    if fresh:
        # Its uuid was just drawn, so no concurrent request can record it: no savepoint to
        # catch a duplicate (two round trips fewer per rating save on PostgreSQL).
        item = context.item_for_update(assessment, item_key, kind, ref_id)
        result = _apply(item, user, value, device_time, change_uuid, base_version, via_sync)
        db.session.flush()
        context.changes[change_uuid] = result.change
        return result
    try:
        with db.session.begin_nested():
            item = context.item_for_update(assessment, item_key, kind, ref_id)
            result = _apply(item, user, value, device_time, change_uuid, base_version, via_sync)
            db.session.flush()
    except IntegrityError:
        existing = _existing_change(change_uuid)
        if existing is None:
            raise
        return _duplicate(existing, assessment, item_key)
    context.changes[change_uuid] = result.change
    return result


def _apply(
    item: AssessmentItem,
    user: User,
    value: str | None,
    device_time: datetime,
    change_uuid: str,
    base_version: int | None,
    via_sync: bool,
    context: RecordContext | None = None,
) -> ChangeResult:
    now = utcnow()
    role = _role_of(user)
    row: dict[str, Any] = {
        "change_uuid": change_uuid,
        "value": value,
        "previous_value": item.value,
        "base_version": base_version,
        "author_id": user.id,
        "author_role": role,
        "device_time": device_time,
        "server_time": now,
        "via_sync": via_sync,
    }
    deferred = context if context is not None and context.deferred else None
    stale = base_version is not None and base_version < item.version
    if stale and value != item.value:
        if item.device_time is not None and device_time < item.device_time:
            # The value on the server was set later on its device: it stays; ours waits.
            row["outcome"] = "superseded"
            row["resulting_version"] = item.version
            change, change_id = _history(item, row, deferred, need_id=True)
            item.conflict = True
            item.conflict_value = value
            item.conflict_change_id = change_id
            return ChangeResult(item=item, change=change, outcome="superseded", row=row)
        losing_change_id = _current_change_id(item)
        losing_value = item.value
        _set(item, user, role, value, device_time, now)
        item.conflict = True
        item.conflict_value = losing_value
        item.conflict_change_id = losing_change_id
        row["outcome"] = "conflict"
        row["resulting_version"] = item.version
        change, _ = _history(item, row, deferred)
        return ChangeResult(item=item, change=change, outcome="conflict", row=row)
    if value != item.value or item.version == 0:
        _set(item, user, role, value, device_time, now)
    if item.conflict and role == "teacher" and not stale:
        # The teacher rated again having seen the conflict: that settles it.
        item.conflict, item.conflict_value, item.conflict_change_id = False, None, None
    row["outcome"] = "applied"
    row["resulting_version"] = item.version
    change, _ = _history(item, row, deferred)
    return ChangeResult(item=item, change=change, outcome="applied", row=row)


def _history(
    item: AssessmentItem,
    row: dict[str, Any],
    deferred: RecordContext | None,
    *,
    need_id: bool = False,
) -> tuple[AssessmentItemChange | None, int | None]:
    """The history row of a change: an ORM object added to the session, or in a deferred
    batch a row left for `write_deferred` (written at once when its id is needed)."""
    if deferred is None:
        change = AssessmentItemChange(item_id=item.id, **row)
        db.session.add(change)
        if need_id:
            db.session.flush()
        return change, change.id
    if not need_id:
        deferred.pending.append((item, row))
        return None, None
    # Superseded: the item names this row as its conflict, so it is written now (the item is
    # not new: a new item has version 0, which no base version can be older than).
    table = AssessmentItemChange.__table__
    change_id = db.session.execute(
        insert(table).returning(table.c.id), {**row, "item_id": item.id}
    ).scalar_one()
    return None, int(change_id)


_ITEM_COLUMNS = (
    "assessment_id", "item_key", "kind", "competency_id", "criterion_id", "value", "version",
    "author_id", "author_role", "device_time", "server_time", "conflict", "conflict_value",
    "conflict_change_id",
)  # fmt: skip


def write_deferred(context: RecordContext) -> None:
    """Write what a deferred batch recorded: the changed items (the session's flush, one
    UPDATE), the new items (one INSERT … RETURNING their ids, on SQLite as on PostgreSQL)
    and the history rows (one INSERT). Raises IntegrityError when an item or a change uuid
    was taken meanwhile: the caller rolls back its savepoint."""
    db.session.flush()
    if context.new_items:
        table = AssessmentItem.__table__
        created = db.session.execute(
            insert(table).returning(table.c.id, table.c.assessment_id, table.c.item_key),
            [{name: getattr(item, name) for name in _ITEM_COLUMNS} for item in context.new_items],
        )
        ids = {(assessment_id, key): item_id for item_id, assessment_id, key in created}
        for item in context.new_items:
            item.id = ids[(item.assessment_id, item.item_key)]
    if context.pending:
        db.session.execute(
            insert(AssessmentItemChange.__table__),
            [{**row, "item_id": item.id} for item, row in context.pending],
        )
    context.new_items, context.pending = [], []


def _set(
    item: AssessmentItem,
    user: User,
    role: str,
    value: str | None,
    device_time: datetime,
    now: datetime,
) -> None:
    item.value = value
    item.version = (item.version or 0) + 1
    item.author_id = user.id
    item.author_role = role
    item.device_time = device_time
    item.server_time = now


def resolve_conflict(item: AssessmentItem, user: User, keep: bool) -> ChangeResult:
    """The teacher settles a conflict in one action: `keep=True` keeps the current value,
    `keep=False` restores the other value (a "restored" history row; the item's author
    becomes the author of the restored value). Audit-logged.

    Raises NotFound (not visible), NotAllowed (a tutor: only the teacher settles),
    AssessmentCompleted, DomainError (409: no conflict on this item)."""
    assessment = item.assessment
    if not access.can_rate_assessment(user, assessment, ignore_status=True):
        raise NotFound("Ce bilan n'existe pas ou n'est pas accessible.")
    if not access.can_complete_assessment(user, assessment):
        raise NotAllowed("Seul l'enseignant peut régler un conflit de saisie.")
    if _lock_status(assessment) == AssessmentStatus.COMPLETED:
        raise AssessmentCompleted("Ce bilan est complété : rouvrez-le pour régler ce conflit.")
    item = db.session.scalars(
        select(AssessmentItem)
        .where(AssessmentItem.id == item.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    if not item.conflict:
        raise DomainError("Il n'y a pas (ou plus) de conflit sur cet élément.")
    learner_id = assessment.portfolio.learner_id
    if keep:
        audit.record(
            user,
            "assessment.conflict_kept",
            "assessment",
            assessment.id,
            learner_id=learner_id,
            item_key=item.item_key,
            kept=item.value,
            discarded=item.conflict_value,
        )
        item.conflict, item.conflict_value, item.conflict_change_id = False, None, None
        db.session.flush()
        return ChangeResult(item=item, change=None, outcome="kept")
    other = (
        db.session.get(AssessmentItemChange, item.conflict_change_id)
        if item.conflict_change_id
        else None
    )
    now = utcnow()
    restored_value = item.conflict_value
    change = AssessmentItemChange(
        item_id=item.id,
        change_uuid=str(uuid.uuid4()),
        value=restored_value,
        previous_value=item.value,
        base_version=item.version,
        author_id=user.id,
        author_role="teacher",
        device_time=now,
        server_time=now,
        outcome="restored",
    )
    audit.record(
        user,
        "assessment.conflict_restored",
        "assessment",
        assessment.id,
        learner_id=learner_id,
        item_key=item.item_key,
        restored=restored_value,
        discarded=item.value,
    )
    item.value = restored_value
    item.version += 1
    if other is not None and other.author_id is not None:
        item.author_id, item.author_role = other.author_id, other.author_role
        item.device_time = other.device_time or now
    else:
        item.author_id, item.author_role, item.device_time = user.id, "teacher", now
    item.server_time = now
    item.conflict, item.conflict_value, item.conflict_change_id = False, None, None
    change.resulting_version = item.version
    db.session.add(change)
    db.session.flush()
    return ChangeResult(item=item, change=change, outcome="restored")


def set_competency_mode(
    assessment: Assessment, user: User, competency_id: int, mode: str
) -> AssessmentCompetencyMode:
    """Rate a competency by its detailed criteria ("criteria") or as a whole ("global").
    Ratings of the other mode are kept (switching back shows them again)."""
    if not access.can_rate_assessment(user, assessment, ignore_status=True):
        raise NotFound("Ce bilan n'existe pas ou n'est pas accessible.")
    if mode not in MODES:
        raise InvalidInput("Mode d'évaluation inconnu.")
    framework_id = framework_id_of(assessment.portfolio)
    found = db.session.scalar(
        select(Competency.id).where(
            Competency.id == competency_id, Competency.framework_id == framework_id
        )
    )
    if found is None:
        raise InvalidInput("Cette compétence n'appartient pas au référentiel de ce bilan.")
    if _lock_status(assessment) == AssessmentStatus.COMPLETED:
        raise AssessmentCompleted("Ce bilan est complété : il ne peut plus être modifié.")
    key = {"assessment_id": assessment.id, "competency_id": competency_id}
    row = db.session.get(AssessmentCompetencyMode, key, populate_existing=True)
    if row is None:
        try:
            with db.session.begin_nested():
                row = AssessmentCompetencyMode(**key, mode=mode)
                db.session.add(row)
            return row
        except IntegrityError:
            row = db.session.get(AssessmentCompetencyMode, key, populate_existing=True)
            assert row is not None
    row.mode = mode
    db.session.flush()
    return row


def complete(assessment: Assessment, user: User) -> Assessment:
    """Draft → completed, by the teacher. The meeting date in force (default: the period's
    last day) is stored as an item so documents and period rules read one date."""
    if not access.can_complete_assessment(user, assessment):
        raise NotAllowed("Seul l'enseignant peut marquer le bilan comme complété.")
    if _lock_status(assessment, exclusive=True) == AssessmentStatus.COMPLETED:
        raise AssessmentCompleted("Ce bilan est déjà complété.")
    has_date = db.session.scalar(
        select(AssessmentItem.id).where(
            AssessmentItem.assessment_id == assessment.id,
            AssessmentItem.item_key == ItemKind.MEETING_DATE,
            AssessmentItem.value.is_not(None),
        )
    )
    if has_date is None:
        record_change(
            assessment,
            user,
            ItemKind.MEETING_DATE,
            assessment.portfolio.period.end_date.isoformat(),
            device_time=None,
        )
    assessment.status = AssessmentStatus.COMPLETED
    assessment.completed_at = utcnow()
    assessment.completed_by_id = user.id
    audit.record(
        user,
        "assessment.completed",
        "assessment",
        assessment.id,
        learner_id=assessment.portfolio.learner_id,
        portfolio_id=assessment.portfolio_id,
    )
    db.session.flush()
    return assessment


def reopen(assessment: Assessment, user: User) -> Assessment:
    """Completed → draft, by the teacher; logged in the audit log."""
    if not access.can_complete_assessment(user, assessment):
        raise NotAllowed("Seul l'enseignant peut rouvrir le bilan.")
    if _lock_status(assessment, exclusive=True) != AssessmentStatus.COMPLETED:
        raise DomainError("Ce bilan n'est pas complété : il est déjà modifiable.")
    audit.record(
        user,
        "assessment.reopened",
        "assessment",
        assessment.id,
        learner_id=assessment.portfolio.learner_id,
        portfolio_id=assessment.portfolio_id,
        completed_at=assessment.completed_at.isoformat() if assessment.completed_at else None,
    )
    assessment.status = AssessmentStatus.DRAFT
    assessment.completed_at = None
    assessment.completed_by_id = None
    db.session.flush()
    return assessment


# --- selections from the sheets -------------------------------------------------------------


@dataclass
class Selections:
    """What the period's sheets selected, by sheet id, and the numbered mobilised sheets."""

    sheets: list[SheetRef]
    tasks: dict[int, set[int]] = field(default_factory=dict)  # task id → sheet ids
    competencies: dict[int, set[int]] = field(default_factory=dict)  # incl. via criteria
    criteria: dict[int, set[int]] = field(default_factory=dict)
    criteria_mode: set[int] = field(default_factory=set)  # competencies chosen by criteria
    global_mode: set[int] = field(default_factory=set)  # competencies chosen globally

    def refs(self, sheet_ids: set[int] | None) -> list[int]:
        if not sheet_ids:
            return []
        numbers = self._numbers()
        return sorted(numbers[s] for s in sheet_ids if s in numbers)

    def _numbers(self) -> dict[int, int]:
        cached: dict[int, int] | None = getattr(self, "_cache", None)
        if cached is None:
            cached = {ref.sheet_id: ref.number for ref in self.sheets}
            self._cache = cached
        return cached

    def default_mode(self, competency_id: int) -> tuple[str, str]:
        if competency_id in self.criteria_mode:
            return "criteria", "sheets"
        if competency_id in self.global_mode:
            return "global", "sheets"
        return "global", "default"


def load_selections(portfolio_ids: list[int]) -> dict[int, Selections]:
    """The selections of the sheets of several portfolios (the dashboard): 4 queries
    whatever their number. Same rules and numbering as
    `framework_links.selections_for_portfolio`, which serves one portfolio (the grid).

    A task counts when a SheetTask row exists (ticked by the learner or confirmed/added by
    the teacher); a competency when a SheetCompetency row exists or one of its criteria is
    selected (SheetCriterion)."""
    result: dict[int, Selections] = {pid: Selections(sheets=[]) for pid in portfolio_ids}
    if not portfolio_ids:
        return result
    sheets = db.session.execute(
        select(
            ActivitySheet.id, ActivitySheet.portfolio_id, ActivitySheet.title, ActivitySheet.company
        )
        .where(ActivitySheet.portfolio_id.in_(portfolio_ids))
        .order_by(ActivitySheet.portfolio_id, ActivitySheet.position, ActivitySheet.id)
    ).all()
    owner = {row.id: row.portfolio_id for row in sheets}
    used: dict[int, set[int]] = {pid: set() for pid in portfolio_ids}
    in_portfolios = ActivitySheet.portfolio_id.in_(portfolio_ids)
    for sheet_id, task_id in db.session.execute(
        select(SheetTask.sheet_id, SheetTask.task_id)
        .join(ActivitySheet, ActivitySheet.id == SheetTask.sheet_id)
        .where(in_portfolios)
    ):
        sel = result[owner[sheet_id]]
        sel.tasks.setdefault(task_id, set()).add(sheet_id)
        used[owner[sheet_id]].add(sheet_id)
    for sheet_id, competency_id, mode in db.session.execute(
        select(SheetCompetency.sheet_id, SheetCompetency.competency_id, SheetCompetency.mode)
        .join(ActivitySheet, ActivitySheet.id == SheetCompetency.sheet_id)
        .where(in_portfolios)
    ):
        sel = result[owner[sheet_id]]
        sel.competencies.setdefault(competency_id, set()).add(sheet_id)
        (sel.criteria_mode if mode == "criteria" else sel.global_mode).add(competency_id)
        used[owner[sheet_id]].add(sheet_id)
    for sheet_id, criterion_id, competency_id in db.session.execute(
        select(SheetCriterion.sheet_id, SheetCriterion.criterion_id, Criterion.competency_id)
        .join(ActivitySheet, ActivitySheet.id == SheetCriterion.sheet_id)
        .join(Criterion, Criterion.id == SheetCriterion.criterion_id)
        .where(in_portfolios)
    ):
        sel = result[owner[sheet_id]]
        sel.criteria.setdefault(criterion_id, set()).add(sheet_id)
        sel.competencies.setdefault(competency_id, set()).add(sheet_id)
        sel.criteria_mode.add(competency_id)
        used[owner[sheet_id]].add(sheet_id)
    numbers: dict[int, int] = {}
    for row in sheets:
        pid = row.portfolio_id
        if row.id in used[pid]:
            numbers[pid] = numbers.get(pid, 0) + 1
            result[pid].sheets.append(SheetRef(numbers[pid], row.id, row.title, row.company))
    return result


def portfolio_selections(portfolio_id: int) -> Selections:
    """The selections of one portfolio's sheets, read through the sheets area's
    `framework_links.selections_for_portfolio` (4 queries), so reference numbers are the
    same everywhere."""
    from app.services.framework_links import selections_for_portfolio

    links = selections_for_portfolio(portfolio_id)
    selections = Selections(
        sheets=[SheetRef(ref.number, ref.sheet_id, ref.title) for ref in links.sheets]
    )
    selections.tasks = {tid: set(mark.sheet_ids) for tid, mark in links.tasks.items()}
    selections.competencies = {cid: set(mark.sheet_ids) for cid, mark in links.competencies.items()}
    selections.criteria = {cid: set(mark.sheet_ids) for cid, mark in links.criteria.items()}
    for cid, mark in links.competencies.items():
        if mark.criteria_sheet_ids:
            selections.criteria_mode.add(cid)
        if mark.global_sheet_ids:
            selections.global_mode.add(cid)
    return selections


# --- reading items --------------------------------------------------------------------------


# Column rows (no ORM entities) from statements built once: the page reads ~200 items.
_items_t = AssessmentItem.__table__
_author_t = User.__table__.alias("author")
_conflict_t = AssessmentItemChange.__table__.alias("conflict_change")
_conflict_author_t = User.__table__.alias("conflict_author")
_ITEMS = (
    select(
        _items_t.c.item_key,
        _items_t.c.value,
        _items_t.c.version,
        _items_t.c.author_id,
        _author_t.c.first_name,
        _author_t.c.last_name,
        _items_t.c.author_role,
        _items_t.c.device_time,
        _items_t.c.server_time,
        _items_t.c.conflict,
        _items_t.c.conflict_value,
        _conflict_t.c.device_time,
        _conflict_t.c.author_id,
        _conflict_author_t.c.first_name,
        _conflict_author_t.c.last_name,
    )
    .select_from(
        _items_t.outerjoin(_author_t, _author_t.c.id == _items_t.c.author_id)
        .outerjoin(_conflict_t, _conflict_t.c.id == _items_t.c.conflict_change_id)
        .outerjoin(_conflict_author_t, _conflict_author_t.c.id == _conflict_t.c.author_id)
    )
    .where(_items_t.c.assessment_id == bindparam("assessment_id"))
)
_ONE_ITEM = _ITEMS.where(_items_t.c.item_key == bindparam("item_key"))


class _Name(NamedTuple):
    first_name: str
    last_name: str


def _full_name(first: str, last: str) -> str:
    """A person's name as `User.full_name` writes it, from its two columns."""
    return str(User.full_name.fget(_Name(first, last)))  # type: ignore[attr-defined]


def _load_items(assessment_id: int, key: str | None = None) -> list[tuple[Any, ...]]:
    """Items (one when `key` is given) with their author and the author/time of the
    conflicting change, as column rows: 1 query."""
    if key is None:
        return list(db.session.execute(_ITEMS, {"assessment_id": assessment_id}))
    return list(db.session.execute(_ONE_ITEM, {"assessment_id": assessment_id, "item_key": key}))


def _view(
    key: str,
    kind: str,
    row: tuple[Any, ...] | None,
    levels: dict[str, ScaleChoice],
    names: dict[int, str],
) -> ItemView:
    """An item's view from its `_load_items` row (None: never rated); `names` keeps the
    authors' names already formatted (a handful of people rate a grid)."""
    if row is None:
        return ItemView(key=key, kind=kind)
    (
        _,
        value,
        version,
        author_id,
        first,
        last,
        role,
        device_time,
        server_time,
        conflict,
        conflict_value,
        conflict_time,
        conflict_author_id,
        conflict_first,
        conflict_last,
    ) = row
    if author_id is not None and author_id not in names:
        names[author_id] = _full_name(first, last)
    if conflict_author_id is not None and conflict_author_id not in names:
        names[conflict_author_id] = _full_name(conflict_first, conflict_last)
    rated = kind in (ItemKind.CRITERION, ItemKind.COMPETENCY)
    return ItemView(
        key=key,
        kind=kind,
        value=value,
        version=version,
        level=levels.get(value) if rated and value is not None else None,
        author_name=names.get(author_id),
        author_role=role,
        device_time=device_time,
        server_time=server_time,
        conflict=conflict,
        conflict_value=conflict_value,
        conflict_level=levels.get(conflict_value) if rated and conflict_value is not None else None,
        conflict_author_name=names.get(conflict_author_id)
        if conflict_author_id is not None
        else None,
        conflict_device_time=conflict_time,
    )


_assessments_t = Assessment.__table__
_portfolios_t = Portfolio.__table__
_periods_t = Period.__table__
_levels_t = Level.__table__
_frameworks_t = Framework.__table__
_learner_t = User.__table__.alias("learner")
_classes_t = ClassGroup.__table__
_tutor_t = User.__table__.alias("tutor")
_liaison_t = LiaisonSheet.__table__
_completer_t = User.__table__.alias("completer")
_HEADER = (
    select(
        _assessments_t.c.status,
        _assessments_t.c.completed_at,
        _completer_t.c.id.label("completer_id"),
        _completer_t.c.first_name.label("completer_first_name"),
        _completer_t.c.last_name.label("completer_last_name"),
        _portfolios_t.c.id.label("portfolio_id"),
        _periods_t.c.id.label("period_id"),
        _periods_t.c.name.label("period_name"),
        _periods_t.c.start_date,
        _periods_t.c.end_date,
        _learner_t.c.id.label("learner_id"),
        _learner_t.c.first_name.label("learner_first_name"),
        _learner_t.c.last_name.label("learner_last_name"),
        _learner_t.c.learner_status,
        _classes_t.c.name.label("class_name"),
        _tutor_t.c.id.label("tutor_id"),
        _tutor_t.c.first_name.label("tutor_first_name"),
        _tutor_t.c.last_name.label("tutor_last_name"),
        _tutor_t.c.tutor_kind,
        _tutor_t.c.company_name.label("tutor_company_name"),
        _tutor_t.c.job_title.label("tutor_job_title"),
        _tutor_t.c.email.label("tutor_account_email"),
        _tutor_t.c.phone.label("tutor_account_phone"),
        _liaison_t.c.id.label("liaison_id"),
        _liaison_t.c.company_name,
        _liaison_t.c.company_address,
        _liaison_t.c.company_phone,
        _liaison_t.c.tutor_name,
        _liaison_t.c.tutor_role,
        _liaison_t.c.tutor_email,
        _liaison_t.c.tutor_phone,
        _frameworks_t.c.id.label("framework_id"),
        _frameworks_t.c.code.label("framework_code"),
        _frameworks_t.c.title.label("framework_title"),
    )
    .select_from(
        _assessments_t.join(_portfolios_t, _portfolios_t.c.id == _assessments_t.c.portfolio_id)
        .join(_periods_t, _periods_t.c.id == _portfolios_t.c.period_id)
        .outerjoin(_levels_t, _levels_t.c.id == _periods_t.c.level_id)
        .outerjoin(_frameworks_t, _frameworks_t.c.id == _levels_t.c.framework_id)
        .join(_learner_t, _learner_t.c.id == _portfolios_t.c.learner_id)
        .outerjoin(_classes_t, _classes_t.c.id == _learner_t.c.class_group_id)
        .outerjoin(_tutor_t, _tutor_t.c.id == _portfolios_t.c.tutor_id)
        .outerjoin(_liaison_t, _liaison_t.c.portfolio_id == _portfolios_t.c.id)
        .outerjoin(_completer_t, _completer_t.c.id == _assessments_t.c.completed_by_id)
    )
    .where(_assessments_t.c.id == bindparam("assessment_id"))
)


def _load_header(assessment: Assessment) -> Any:
    """The assessment's status, its portfolio, period, framework, learner, class, tutor,
    liaison sheet and completing teacher, as one row of columns: 1 query."""
    return db.session.execute(_HEADER, {"assessment_id": assessment.id}).one()


def _header(row: Any) -> GridHeader:
    """The grid's header from the `_load_header` row."""
    has_liaison, has_tutor = row.liaison_id is not None, row.tutor_id is not None

    def pick(liaison_value: str | None, tutor_value: str | None = None) -> str:
        """The liaison sheet's value (what the learner typed), else the tutor account's."""
        value = liaison_value if has_liaison else ""
        if not value and has_tutor:
            value = tutor_value
        return str(value or "")

    return GridHeader(
        period_id=row.period_id,
        period_name=row.period_name,
        start_date=row.start_date,
        end_date=row.end_date,
        learner_id=row.learner_id,
        learner_name=_full_name(row.learner_first_name, row.learner_last_name),
        class_name=row.class_name or "",
        status_label=Learner.status_label.fget(row),  # type: ignore[attr-defined]
        company_name=pick(row.company_name, row.tutor_company_name),
        company_address=pick(row.company_address),
        company_phone=pick(row.company_phone),
        tutor_name=(
            _full_name(row.tutor_first_name, row.tutor_last_name)
            if has_tutor
            else pick(row.tutor_name)
        ),
        tutor_role=pick(row.tutor_role, row.tutor_job_title),
        tutor_email=pick(row.tutor_email, row.tutor_account_email),
        tutor_phone=pick(row.tutor_phone, row.tutor_account_phone),
        tutor_kind_label=Tutor.kind_label.fget(row) if has_tutor else "",  # type: ignore[attr-defined]
        framework_id=row.framework_id,
        framework_code=row.framework_code,
        framework_title=row.framework_title,
    )


_activities_t = Activity.__table__
_tasks_t = Task.__table__
_links_t = task_competencies
_task_comp_t = Competency.__table__.alias("task_competency")
_competencies_t = Competency.__table__
_criteria_t = Criterion.__table__
_modes_t = AssessmentCompetencyMode.__table__
# Activities → tasks → the codes of the tasks' competencies, in framework order: one row per
# (activity, task, competency); an activity without tasks or a task without competency once.
_ACTIVITY_ROWS = (
    select(
        _activities_t.c.id,
        _activities_t.c.code,
        _activities_t.c.title,
        _tasks_t.c.id,
        _tasks_t.c.code,
        _tasks_t.c.title,
        _task_comp_t.c.code,
    )
    .select_from(
        _activities_t.outerjoin(_tasks_t, _tasks_t.c.activity_id == _activities_t.c.id)
        .outerjoin(_links_t, _links_t.c.task_id == _tasks_t.c.id)
        .outerjoin(_task_comp_t, _task_comp_t.c.id == _links_t.c.competency_id)
    )
    .where(_activities_t.c.framework_id == bindparam("framework_id"))
    .order_by(
        _activities_t.c.position,
        _activities_t.c.id,
        _tasks_t.c.position,
        _tasks_t.c.id,
        _task_comp_t.c.position,
        _task_comp_t.c.id,
    )
)
# Competencies → criteria, in framework order, with the mode an assessor toggled on the
# assessment (NULL: the sheets' choice): one row per criterion (a competency without
# criteria once, its criterion columns NULL).
_COMPETENCY_ROWS = (
    select(
        _competencies_t.c.id,
        _competencies_t.c.code,
        _competencies_t.c.title,
        _modes_t.c.mode,
        _criteria_t.c.id,
        _criteria_t.c.code,
        _criteria_t.c.title,
    )
    .select_from(
        _competencies_t.outerjoin(
            _modes_t,
            (_modes_t.c.competency_id == _competencies_t.c.id)
            & (_modes_t.c.assessment_id == bindparam("assessment_id")),
        ).outerjoin(_criteria_t, _criteria_t.c.competency_id == _competencies_t.c.id)
    )
    .where(_competencies_t.c.framework_id == bindparam("framework_id"))
    .order_by(
        _competencies_t.c.position,
        _competencies_t.c.id,
        _criteria_t.c.position,
        _criteria_t.c.id,
    )
)


@dataclass
class _FrameworkTask:
    id: int
    code: str
    title: str
    competency_codes: list[str]


@dataclass
class _FrameworkNode:
    """An activity with its tasks, or a competency with its criteria (id, code, title) and
    the mode toggled on the assessment (None: none)."""

    id: int
    code: str
    title: str
    children: list[Any]
    mode: str | None = None


def load_framework(
    framework_id: int, assessment_id: int
) -> tuple[list[_FrameworkNode], list[_FrameworkNode]]:
    """Activities → tasks (with their competencies' codes) and competencies → criteria
    (`_FrameworkNode`s, criteria as (id, code, title) rows) with the modes toggled on the
    assessment, in framework order: 2 queries."""
    params = {"framework_id": framework_id, "assessment_id": assessment_id}
    activities: list[_FrameworkNode] = []
    tasks: dict[int, _FrameworkTask] = {}
    for a_id, a_code, a_title, t_id, t_code, t_title, c_code in db.session.execute(
        _ACTIVITY_ROWS, params
    ):
        if not activities or activities[-1].id != a_id:
            activities.append(_FrameworkNode(a_id, a_code, a_title, []))
        if t_id is None:
            continue
        task = tasks.get(t_id)
        if task is None:
            task = tasks[t_id] = _FrameworkTask(t_id, t_code, t_title, [])
            activities[-1].children.append(task)
        if c_code is not None:
            task.competency_codes.append(c_code)
    competencies: list[_FrameworkNode] = []
    for c_id, c_code, c_title, mode, k_id, k_code, k_title in db.session.execute(
        _COMPETENCY_ROWS, params
    ):
        if not competencies or competencies[-1].id != c_id:
            competencies.append(_FrameworkNode(c_id, c_code, c_title, [], mode))
        if k_id is not None:
            competencies[-1].children.append((k_id, k_code, k_title))
    return activities, competencies


_MODES = select(_modes_t.c.assessment_id, _modes_t.c.competency_id, _modes_t.c.mode).where(
    _modes_t.c.assessment_id.in_(bindparam("assessment_ids", expanding=True))
)


def explicit_modes(assessment_ids: list[int]) -> dict[tuple[int, int], str]:
    """Modes toggled on several assessments: {(assessment id, competency id): mode}; 1 query.
    Competencies absent here follow `Selections.default_mode` (the sheets' choice)."""
    if not assessment_ids:
        return {}
    rows = db.session.execute(_MODES, {"assessment_ids": assessment_ids})
    return {(a, c): m for a, c, m in rows}


def build_grid(assessment: Assessment) -> AssessmentGrid:
    """Build the whole assessment grid (see `AssessmentGrid`) in a fixed number of queries
    (9), whatever the number of sheets, selections or ratings. Pure read: no access check
    (the caller checked), no write."""
    head = _load_header(assessment)
    header = _header(head)
    scale = scale_of(header.framework_id)
    levels = {choice.code: choice for choice in scale}
    activities, competencies = load_framework(header.framework_id, assessment.id)
    selections = portfolio_selections(head.portfolio_id)
    rows = {row[0]: row for row in _load_items(assessment.id)}
    index: dict[str, ItemView] = {}
    names: dict[int, str] = {}
    refs, no_refs = selections.refs, list[int]()
    task_refs, competency_refs = selections.tasks, selections.competencies
    criterion_refs = selections.criteria

    def view(key: str, kind: str) -> ItemView:
        index[key] = found = _view(key, kind, rows.get(key), levels, names)
        return found

    activity_rows = [
        ActivityRow(
            id=activity.id,
            code=activity.code,
            title=activity.title,
            tasks=[
                TaskRow(
                    id=task.id,
                    code=task.code,
                    title=task.title,
                    refs=refs(task_refs[task.id]) if task.id in task_refs else no_refs,
                    competency_codes=task.competency_codes,
                )
                for task in activity.children
            ],
        )
        for activity in activities
    ]
    competency_rows: list[CompetencyRow] = []
    for competency in competencies:
        if competency.mode is not None:
            mode, source = competency.mode, "assessment"
        else:
            mode, source = selections.default_mode(competency.id)
        criteria = [
            CriterionRow(
                id=criterion_id,
                code=code,
                title=title,
                refs=(
                    refs(criterion_refs[criterion_id])
                    if criterion_id in criterion_refs
                    else no_refs
                ),
                item=view(f"criterion:{criterion_id}", ItemKind.CRITERION),
            )
            for criterion_id, code, title in competency.children
        ]
        competency_rows.append(
            CompetencyRow(
                id=competency.id,
                code=competency.code,
                title=competency.title,
                mode=mode,
                mode_source=source,
                refs=(
                    refs(competency_refs[competency.id]) if competency.id in competency_refs else []
                ),
                item=view(f"competency:{competency.id}", ItemKind.COMPETENCY),
                criteria=criteria,
                summary=median_level(row.item.level for row in criteria),
            )
        )
    meeting = view(ItemKind.MEETING_DATE, ItemKind.MEETING_DATE)
    grid = AssessmentGrid(
        assessment_id=assessment.id,
        portfolio_id=head.portfolio_id,
        status=head.status,
        completed_at=head.completed_at,
        completed_by_name=(
            _full_name(head.completer_first_name, head.completer_last_name)
            if head.completer_id is not None
            else None
        ),
        header=header,
        scale=scale,
        sheets=selections.sheets,
        activities=activity_rows,
        competencies=competency_rows,
        engagement=view(ItemKind.ENGAGEMENT, ItemKind.ENGAGEMENT),
        meeting_date=meeting,
        comment=view(ItemKind.COMMENT, ItemKind.COMMENT),
        meeting_date_value=_meeting_value(meeting, header.end_date),
        _index=index,
    )
    grid.conflicts = sum(1 for v in index.values() if v.conflict)
    return grid


def _meeting_value(meeting: ItemView, default: date) -> date:
    if meeting.value:
        try:
            return date.fromisoformat(meeting.value)
        except ValueError:
            return default
    return default


def _saved_row(saved: AssessmentItem) -> tuple[Any, ...]:
    """An item just written by this request as the `_load_items` row it would read back
    (no conflicting change: the caller checks). Its author is the signed-in user, already in
    the session: no statement."""
    author = saved.author
    return (
        saved.item_key, saved.value, saved.version, saved.author_id,
        author.first_name if author else None, author.last_name if author else None,
        saved.author_role, saved.device_time, saved.server_time, saved.conflict,
        saved.conflict_value, None, None, None, None,
    )  # fmt: skip


def item_row(assessment: Assessment, item_key: str, saved: AssessmentItem | None = None) -> ItemRow:
    """One item and what its fragment shows, in a handful of queries (the small response
    to a rating, and what live updates render). Raises InvalidInput for an unknown key.
    `saved`: the item as the request has just written it (a rating save), shown without
    reading it again unless it names a conflicting change (whose author and time are read)."""
    kind, ref_id = parse_key(item_key)
    portfolio = assessment.portfolio
    framework_id = framework_id_of(portfolio)
    scale = scale_of(framework_id)
    levels = {choice.code: choice for choice in scale}
    if saved is not None and saved.item_key == item_key and saved.conflict_change_id is None:
        rows: list[tuple[Any, ...]] = [_saved_row(saved)]
    else:
        rows = _load_items(assessment.id, item_key)
    view = _view(item_key, kind, rows[0] if rows else None, levels, {})
    row = ItemRow(key=item_key, kind=kind, code="", title="", refs=[], item=view, scale=scale)
    if kind in (ItemKind.CRITERION, ItemKind.COMPETENCY):
        assert ref_id is not None
        reference = _reference(kind, ref_id)  # read once per request: the save checked it
        if reference is None or reference.framework_id != framework_id:
            raise InvalidInput("Cet élément n'appartient pas au référentiel de ce bilan.")
        row.code, row.title = reference.code, reference.title
        competency_id = reference.competency_id
        row.refs, default_mode = _item_selections(portfolio.id, kind, ref_id, competency_id)
        if kind == ItemKind.CRITERION:
            explicit = _criteria_summary(row, assessment.id, competency_id, levels)
        else:
            found = db.session.get(
                AssessmentCompetencyMode,
                {"assessment_id": assessment.id, "competency_id": competency_id},
            )
            explicit = found.mode if found else None
        row.mode = explicit if explicit is not None else default_mode
    elif kind == ItemKind.MEETING_DATE:
        row.meeting_default = portfolio.period.end_date
        row.meeting_value = _meeting_value(view, portfolio.period.end_date)
    return row


def _item_selections(
    portfolio_id: int, kind: str, ref_id: int, competency_id: int
) -> tuple[list[int], str]:
    """For one rated item: the reference numbers of the sheets that selected it and the
    default mode its competency's sheets suggest, in 1 query (one row per sheet of the
    portfolio) — the same numbers and mode as `portfolio_selections`, which reads every
    selection of the portfolio in 4: a sheet is numbered when it carries any link (a task,
    a competency or a criterion), in sheet order; a criterion counts the sheets that chose
    it, a competency the sheets that chose it in either mode; the mode is "criteria" when a
    sheet chose the competency's detailed criteria."""
    sheet = ActivitySheet.id
    linked = (
        select(SheetTask.id).where(SheetTask.sheet_id == sheet).exists()
        | select(SheetCompetency.id).where(SheetCompetency.sheet_id == sheet).exists()
        | select(SheetCriterion.id).where(SheetCriterion.sheet_id == sheet).exists()
    )
    selects_item = (
        select(SheetCriterion.id)
        .where(SheetCriterion.sheet_id == sheet, SheetCriterion.criterion_id == ref_id)
        .exists()
        if kind == ItemKind.CRITERION
        else select(SheetCompetency.id)
        .where(SheetCompetency.sheet_id == sheet, SheetCompetency.competency_id == ref_id)
        .exists()
    )
    by_criteria = (
        select(SheetCompetency.id)
        .where(
            SheetCompetency.sheet_id == sheet,
            SheetCompetency.competency_id == competency_id,
            SheetCompetency.mode != "global",
        )
        .exists()
    )
    number, refs, mode = 0, [], "global"
    for is_linked, is_selected, is_by_criteria in db.session.execute(
        select(linked, selects_item, by_criteria)
        .where(ActivitySheet.portfolio_id == portfolio_id)
        .order_by(ActivitySheet.position, ActivitySheet.id)
    ):
        if is_linked:
            number += 1
            if is_selected:
                refs.append(number)
            if is_by_criteria:
                mode = "criteria"
    return refs, mode


def _criteria_summary(
    row: ItemRow, assessment_id: int, competency_id: int, levels: dict[str, ScaleChoice]
) -> str | None:
    """The summary line of a criterion's competency (its rated criteria, their median, its
    number of criteria) and the competency's explicit mode, if any: 1 query, one row per
    rated criterion (at least one row: the competency's)."""
    row.competency_id = competency_id
    total = (
        select(func.count(Criterion.id))
        .where(Criterion.competency_id == competency_id)
        .scalar_subquery()
    )
    mode = (
        select(AssessmentCompetencyMode.mode)
        .where(
            AssessmentCompetencyMode.assessment_id == assessment_id,
            AssessmentCompetencyMode.competency_id == competency_id,
        )
        .scalar_subquery()
    )
    found = db.session.execute(
        select(total, mode, AssessmentItem.value)
        .select_from(Competency)
        .outerjoin(
            AssessmentItem,
            (AssessmentItem.competency_id == Competency.id)
            & (AssessmentItem.assessment_id == assessment_id)
            & (AssessmentItem.kind == ItemKind.CRITERION)
            & AssessmentItem.value.is_not(None),
        )
        .where(Competency.id == competency_id)
    ).all()
    values = [value for _, _, value in found if value is not None]
    row.rated = len(values)
    row.summary = median_level(levels.get(v) for v in values)
    row.total = int(found[0][0] or 0) if found else 0
    return str(found[0][1]) if found and found[0][1] is not None else None


def competency_row(assessment: Assessment, competency_id: int) -> CompetencyRow:
    """One competency block (after a mode toggle): built from the grid."""
    grid = build_grid(assessment)
    for row in grid.competencies:
        if row.id == competency_id:
            return row
    raise InvalidInput("Cette compétence n'appartient pas au référentiel de ce bilan.")


def item_history(assessment: Assessment, item_key: str) -> list[HistoryEntry]:
    """Every change of one item, newest first, with author, device and server times."""
    kind, _ = parse_key(item_key)
    levels = {c.code: c for c in scale_of(framework_id_of(assessment.portfolio))}
    changes = db.session.scalars(
        select(AssessmentItemChange)
        .join(AssessmentItem, AssessmentItem.id == AssessmentItemChange.item_id)
        .where(AssessmentItem.assessment_id == assessment.id, AssessmentItem.item_key == item_key)
        .order_by(AssessmentItemChange.id.desc())
        .options(joinedload(AssessmentItemChange.author), raiseload("*"))
    ).all()
    return [
        HistoryEntry(
            value=change.value,
            value_text=value_text(kind, change.value, levels),
            previous_text=(
                value_text(kind, change.previous_value, levels)
                if change.previous_value is not None
                else ""
            ),
            outcome=change.outcome,
            outcome_label=OUTCOME_LABELS.get(change.outcome, change.outcome),
            author_name=change.author.full_name if change.author else "(compte supprimé)",
            author_role_label=ROLE_LABELS.get(change.author_role or "", ""),
            device_time=change.device_time,
            server_time=change.server_time,
            via_sync=change.via_sync,
        )
        for change in changes
    ]


def value_text(kind: str, value: str | None, levels: dict[str, ScaleChoice]) -> str:
    """A value as a person reads it."""
    if value is None:
        return "(effacée)"
    if kind in (ItemKind.CRITERION, ItemKind.COMPETENCY):
        level = levels.get(value)
        return level.text if level else value
    if kind == ItemKind.ENGAGEMENT:
        return f"{value} étoile{'s' if value != '1' else ''} sur 4"
    if kind == ItemKind.MEETING_DATE:
        try:
            return date.fromisoformat(value).strftime("%d/%m/%Y")
        except ValueError:
            return value
    return value if len(value) <= 120 else value[:117] + "…"


_PERIOD_FRAMEWORK = (
    select(Level.framework_id)
    .join(Period, Period.level_id == Level.id)
    .where(Period.id == Portfolio.period_id)
    .correlate(Portfolio)
    .scalar_subquery()
)
_PORTFOLIO = (
    select(Portfolio, _PERIOD_FRAMEWORK)
    .where(Portfolio.id == bindparam("portfolio_id"))
    .options(joinedload(Portfolio.period), joinedload(Portfolio.assessment))
)


def load_portfolio(portfolio_id: int) -> Portfolio | None:
    """A portfolio with its period and assessment, for the routes' access checks; its
    framework comes in the same statement (kept for `framework_id_of`)."""
    row = db.session.execute(_PORTFOLIO, {"portfolio_id": portfolio_id}).first()
    if row is None:
        return None
    portfolio, framework_id = row
    _request_memo("frameworks")[portfolio.period_id] = framework_id
    return portfolio


def save_form(
    assessment: Assessment, user: User, values: dict[str, str]
) -> tuple[list[ChangeResult], dict[str, str]]:
    """The whole grid posted at once (the form without JavaScript): record every item whose
    value differs from the current one; `clear=<field>` (an "Effacer" button) clears one.
    Returns the results and, per item key, the French
    error of each refused value; the caller rolls back when there is any error."""
    grid = build_grid(assessment)
    context = RecordContext()  # the framework, scale and status: read once for all items
    results: list[ChangeResult] = []
    errors: dict[str, str] = {}
    cleared = values.pop("clear", None)  # the "Effacer" button of one item
    values = {key_of_field(name): raw for name, raw in values.items()}
    if cleared is not None:
        values[key_of_field(cleared)] = ""
    for key, raw in values.items():
        current = grid.item(key)
        if current is None:
            errors[key] = "Cet élément n'existe pas dans le bilan."
            continue
        value = raw if raw.strip() else None
        shown = current.value
        if key == ItemKind.MEETING_DATE and shown is None:
            shown = grid.meeting_date_value.isoformat()
        if value == shown or (key == ItemKind.COMMENT and value == (shown or None)):
            continue
        try:
            results.append(
                record_change(
                    assessment,
                    user,
                    key,
                    value,
                    device_time=None,
                    base_version=current.version,
                    context=context,
                )
            )
        except InvalidInput as error:
            errors[key] = error.message
    return results, errors
