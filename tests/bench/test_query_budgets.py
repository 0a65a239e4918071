"""Query budgets (issue 10): every page the benchmark measures runs the same number of SQL
statements whatever the data size, and no more than its budget.

Each page is requested at two sizes of the same kind of school (Bac Pro MEE, the largest
grid): "small" (one learner, one period of one week, one linked task, a few ratings) and
"large" (five learners, three periods of three weeks, three linked tasks per sheet with
competencies and criteria, attachments, dozens of ratings with history, completed
assessments, an interim review). Before each counted request the page is opened once (first
use creates rows: the assessment, the teacher's read mark) and the session's identity map is
emptied, so a lazy load of something "already loaded" still shows up as a query.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest
from flask import g
from sqlalchemy import select

from app.models import (
    AssessmentItem,
    Attachment,
    Criterion,
    InterimReview,
    InterimReviewPosition,
    SheetCompetency,
    SheetCriterion,
    SheetTask,
    Task,
)
from app.services import assessments as svc
from app.services.framework_links import framework_tree

HX = {"HX-Request": "true"}

# SQL statements per request, at most (the counter skips SAVEPOINT/RELEASE). Equal counts at
# both sizes are the real rule; these ceilings keep the fixed cost from creeping up.
BUDGETS = {
    "period_view": 8,
    "learner_view": 8,
    "sheet": 6,
    "framework_grid": 9,
    "assessment": 12,
    "rating_save": 10,
    "dashboard": 10,
    "sync_batch": 12,  # a batch of 3 changes, first ratings: SQLite and PostgreSQL alike
}
# A sync batch of assessment items: what it reads, once per batch whatever its size, then its
# writes, applied together (services/sync.py, _apply_together; assessments.write_deferred):
# one UPDATE of the changed items, one INSERT … RETURNING of the new ones, one INSERT of the
# history rows and one of the receipts — on SQLite as on PostgreSQL, whatever the batch size.
SYNC_BATCH_FIXED = 8
SYNC_WRITES = 4


@dataclass
class School:
    """One size of the benchmark's school, and the URLs of its measured pages."""

    urls: dict[str, str] = field(default_factory=dict)
    learner_names: list[str] = field(default_factory=list)
    assessment_id: int = 0
    rated_key: str = ""


def _linkable_tasks(framework_id: int) -> list[Task]:
    """Tasks of the framework with at least two competencies, the second with criteria."""
    return [
        task
        for activity in framework_tree(framework_id)
        for task in activity.tasks
        if len(task.competencies) > 1 and task.competencies[1].criteria
    ]


def _rate(assessment: Any, user: Any, key: str, value: str) -> None:
    svc.record_change(assessment, user, key, value, device_time=None, change_uuid=str(uuid.uuid4()))


def _build(f: Any, teacher: Any, *, large: bool) -> School:
    """A class on Bac Pro MEE: learners, periods, written sheets linked to the framework,
    assessments (the earlier ones completed), and for "large" more of everything."""
    framework = f.framework("BACPRO-MEE")
    level = f.level(framework)
    teacher.levels = [*teacher.levels, level]
    g.pop("_teacher_levels", None)  # access caches a teacher's levels per request
    group = f.class_group(level)
    learner_count, period_count, weeks, links = (5, 3, 3, 3) if large else (1, 1, 1, 1)
    learners = [f.learner(group) for _ in range(learner_count)]
    tasks = _linkable_tasks(framework.id)
    periods = [
        f.period(
            level,
            learners,
            start=date(2026 + index // 2, 1 + 5 * (index % 2), 5),
            weeks=weeks,
            tutor=f.tutor(),
        )
        for index in range(period_count)
    ]
    for period in periods:
        for portfolio in period.portfolios:
            for number, sheet in enumerate(portfolio.sheets):
                f.written(sheet)
                for task in tasks[number % 3 : number % 3 + links]:
                    glob, detailed = task.competencies[0], task.competencies[1]
                    f.s.add(SheetTask(sheet_id=sheet.id, task_id=task.id, ticked_by_learner=True))
                    f.s.add(
                        SheetCompetency(
                            sheet_id=sheet.id, task_id=task.id, competency_id=glob.id, mode="global"
                        )
                    )
                    f.s.add(
                        SheetCompetency(
                            sheet_id=sheet.id,
                            task_id=task.id,
                            competency_id=detailed.id,
                            mode="criteria",
                        )
                    )
                    for criterion in detailed.criteria[: 3 if large else 1]:
                        f.s.add(
                            SheetCriterion(
                                sheet_id=sheet.id, task_id=task.id, criterion_id=criterion.id
                            )
                        )
                if large:
                    for n in range(3):
                        f.s.add(
                            Attachment(
                                sheet_id=sheet.id, kind="url", url=f"https://example.org/{n}"
                            )
                        )
    f.s.flush()

    learner = learners[0]
    mine = [period.portfolios[0] for period in periods]  # the first learner's portfolios
    criteria = [c for task in tasks[:3] for c in task.competencies[1].criteria]
    assessments = [f.assessment(portfolio) for portfolio in mine]
    for index, assessment in enumerate(assessments):
        keys = [f"criterion:{c.id}" for c in criteria[: 30 if large else 2]]
        keys += [f"competency:{task.competencies[0].id}" for task in tasks[: 5 if large else 1]]
        keys = list(dict.fromkeys(keys))
        for n, key in enumerate(keys):
            _rate(assessment, teacher if n % 2 else mine[index].tutor, key, "234"[n % 3])
        _rate(assessment, teacher, "engagement", "3")
        _rate(assessment, teacher, "comment", "Très bon stage, <b>sérieux</b>.")
        if large:
            for value in "2342342":  # a history on the item the rating save changes
                _rate(assessment, teacher, keys[0], value)
        if index < len(assessments) - 1 or len(assessments) == 1:
            svc.complete(assessment, teacher)
    current = mine[-1]
    if large:
        # The current assessment stays a draft (rated above); an interim review at school.
        review = InterimReview(
            learner_id=learner.id, teacher_id=teacher.id, review_date=date.today()
        )
        f.s.add(review)
        f.s.flush()
        for competency_id in {task.competencies[0].id for task in tasks[:5]}:
            f.s.add(
                InterimReviewPosition(review_id=review.id, competency_id=competency_id, value="3")
            )
        f.free_sheet(learner)
    else:
        # Small: rate on a draft too (the only assessment is completed above).
        extra = f.period(level, [learner], start=date(2027, 9, 6), weeks=1, tutor=f.tutor())
        current = extra.portfolios[0]
        draft = f.assessment(current)
        _rate(draft, teacher, f"criterion:{criteria[0].id}", "2")
        assessments.append(draft)
    f.s.flush()

    sheet = current.sheets[0]
    school = School(
        learner_names=[person.full_name for person in learners],
        assessment_id=assessments[-1].id,
        rated_key=f"criterion:{criteria[0].id}",
    )
    school.urls = {
        "period_view": f"/periodes/{periods[-1].id}",
        "learner_view": f"/apprenants/{learner.id}",
        "sheet": f"/fiches/{sheet.id}",
        "framework_grid": f"/fiches/{sheet.id}/referentiel",
        "assessment": f"/portfolios/{current.id}/bilan",
        "rating_save": f"/portfolios/{current.id}/bilan/items/{school.rated_key}",
        "dashboard": f"/apprenants/{learner.id}/tableau-de-bord",
    }
    return school


@pytest.fixture
def schools(f: Any) -> tuple[Any, School, School]:
    teacher = f.teacher([])
    return teacher, _build(f, teacher, large=False), _build(f, teacher, large=True)


def _count(client: Any, f: Any, count_queries: Any, page: str, url: str, value: str = "") -> Any:
    """Open the page once (first-use writes), then count one request with a fresh identity
    map."""

    def send() -> Any:
        if page == "rating_save":
            return client.post(url, data={"value": value}, headers=HX)
        return client.get(url)

    assert send().status_code == 200
    value = "4" if value == "3" else "3"  # the counted save really changes the rating
    f.s.expunge_all()
    with count_queries() as counter:
        response = send()
    assert response.status_code == 200, (url, response.status_code)
    return counter, response


@pytest.mark.parametrize(
    "page",
    [
        "period_view",
        "learner_view",
        "sheet",
        "framework_grid",
        "assessment",
        "rating_save",
        "dashboard",
    ],
)
def test_page_runs_a_fixed_number_of_queries(
    page: str, schools: Any, login_as: Any, f: Any, count_queries: Any
) -> None:
    teacher, small, large = schools
    client = login_as(teacher)
    few, _ = _count(client, f, count_queries, page, small.urls[page], "3")
    many, response = _count(client, f, count_queries, page, large.urls[page], "3")
    assert many.count == few.count, "\n".join(many.statements)
    assert many.count <= BUDGETS[page], "\n".join(many.statements)
    text = response.get_data(as_text=True)
    if page == "period_view":  # the bigger page really shows the bigger class
        assert all(name in text for name in large.learner_names)
    if page == "rating_save":
        assert "<html" not in text  # htmx gets the item's fragment, not the page


def test_a_rating_save_is_recorded_with_its_history(
    schools: Any, login_as: Any, f: Any, count_queries: Any
) -> None:
    """The counted save above is a real save: the item's value and history change."""
    from app.models import AssessmentItem

    teacher, _, large = schools
    client = login_as(teacher)
    _count(client, f, count_queries, "rating_save", large.urls["rating_save"], "3")
    item = (
        f.s.query(AssessmentItem)
        .filter_by(assessment_id=large.assessment_id, item_key=large.rated_key)
        .one()
    )
    assert item.value == "4"
    assert len(item.history) >= 9  # built history + the two saves


def test_sync_batch_runs_a_fixed_number_of_queries(
    app: Any, schools: Any, login_as: Any, f: Any, count_queries: Any
) -> None:
    """A 3-change sync batch costs the same on a small and a large assessment (the payload of
    app/blueprints/sync/openapi.py, as bench/run.py sends it)."""
    if not any(rule.rule == "/api/sync" for rule in app.url_map.iter_rules()):
        pytest.skip("n/a: /api/sync does not exist yet")
    teacher, small, large = schools
    client = login_as(teacher)
    counts = []
    for school in (small, large):

        def batch(value: str, school: School = school) -> dict[str, Any]:
            return {
                "changes": [
                    {
                        "uuid": str(uuid.uuid4()),
                        "type": "assessment_item",
                        "assessment_id": school.assessment_id,
                        "item_key": key,
                        "value": value,
                        "device_time": "2026-06-01T10:00:00+00:00",
                        "base_version": None,
                    }
                    for key in [school.rated_key, "engagement", "comment"]
                ]
            }

        first = client.post("/api/sync", json=batch("2"))
        assert first.status_code == 200 and first.get_json()["errors"] == [], first.get_json()
        f.s.expunge_all()
        with count_queries() as counter:
            answer = client.post("/api/sync", json=batch("3"))
        assert answer.status_code == 200
        assert len(answer.get_json()["receipts"]) == 3 and not answer.get_json()["errors"]
        counts.append(counter)
    assert counts[0].count == counts[1].count, "\n".join(counts[1].statements)
    assert counts[1].count <= BUDGETS["sync_batch"], "\n".join(counts[1].statements)


def test_a_large_sync_batch_costs_a_fixed_number_of_statements(
    f: Any, login_as: Any, count_queries: Any
) -> None:
    """A device's outbox of 30 ratings of one assessment (bench/run.py sends 50): the batch
    reads what it needs once, then writes them together — first ratings (items created)
    and changed ratings alike — and every change gets its receipt."""
    w = f.world()
    criteria = f.s.scalars(
        select(Criterion.id)
        .where(Criterion.framework_id == w.level.framework_id)
        .order_by(Criterion.id)
        .limit(30)
    ).all()
    assert len(criteria) == 30
    assessment_id = w.assessment.id
    client = login_as(w.teacher)
    for value in ("2", "3"):  # first ratings, then a change of each
        changes = [
            {
                "uuid": str(uuid.uuid4()),
                "type": "assessment_item",
                "assessment_id": assessment_id,
                "item_key": f"criterion:{criterion_id}",
                "value": value,
                "device_time": "2026-06-01T10:00:00+00:00",
                "base_version": None,
            }
            for criterion_id in criteria
        ]
        f.s.expunge_all()
        with count_queries() as counter:
            answer = client.post("/api/sync", json={"changes": changes})
        body = answer.get_json()
        assert answer.status_code == 200 and body["errors"] == [], body
        assert [r["uuid"] for r in body["receipts"]] == [c["uuid"] for c in changes]
        assert {r["outcome"] for r in body["receipts"]} == {"applied"}
        assert counter.count <= SYNC_BATCH_FIXED + SYNC_WRITES, "\n".join(counter.statements)
    values = f.s.scalars(
        select(AssessmentItem.value).where(AssessmentItem.assessment_id == assessment_id)
    ).all()
    assert sorted(values) == ["3"] * 30
