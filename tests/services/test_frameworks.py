"""The framework importer (SPEC F2): shipped référentiels, idempotent re-import, clear errors."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import delete, func, select

from app.cli_frameworks import frameworks_cli, register
from app.models.framework import (
    DEFAULT_SCALE,
    Activity,
    Block,
    Competency,
    Criterion,
    Framework,
    ScaleLevel,
    Task,
    task_competencies,
)
from app.services import frameworks as service
from app.services.frameworks import (
    SCHEMA,
    FrameworkFileError,
    import_framework,
    import_framework_files,
    parse_framework_file,
    shipped_framework_paths,
)

# The README table of the shipped référentiels: activities, tasks, competencies, criteria.
SHIPPED = {
    "bac-pro-melec.yaml": ("BACPRO-MELEC", 5, 17, 13, 77, "complete"),
    "bac-pro-ciel.yaml": ("BACPRO-CIEL", 12, 50, 9, 69, "complete"),
    "bac-pro-mfer.yaml": ("BACPRO-MFER", 5, 17, 13, 119, "complete"),
    "bac-pro-iccer.yaml": ("BACPRO-ICCER", 5, 17, 13, 104, "complete"),
    "bac-pro-mee.yaml": ("BACPRO-MEE", 4, 19, 13, 179, "complete"),
    "bts-ms-a.yaml": ("BTS-MS-A", None, 8, 12, 45, "partial"),
}
MELEC = next(p for p in shipped_framework_paths() if p.name == "bac-pro-melec.yaml")


# --- helpers -----------------------------------------------------------------------------


def minimal() -> dict[str, Any]:
    """A small valid framework: 1 block, 2 activities, 3 tasks, 2 competencies, 3 criteria."""
    return {
        "schema": SCHEMA,
        "diploma": {
            "code": "TEST-DIP",
            "short_title": "Bac Test",
            "title": "Baccalauréat professionnel de test",
            "version": "2025",
            "completeness": "complete",
            "family": {"code": "FAM", "title": "Famille de test"},
            "sources": [{"title": "Texte officiel", "url": "https://example.org/ref.pdf"}],
            "notes": "Pour les tests.",
        },
        "blocks": [{"code": "B1", "title": "Bloc un"}],
        "activities": [
            {
                "code": "A1",
                "title": "Activité un",
                "block": "B1",
                "tasks": [
                    {"code": "T1.1", "title": "Tâche un point un"},
                    {"code": "T1.2", "title": "Tâche un point deux"},
                ],
            },
            {"code": "A2", "title": "Activité deux", "tasks": [{"code": "T2.1", "title": "T2"}]},
        ],
        "competencies": [
            {
                "code": "C1",
                "title": "Compétence un",
                "tasks": ["T1.1", "T2.1"],
                "criteria": [
                    {"code": "C1-1", "title": "Critère un"},
                    {"code": "C1-2", "title": "Critère deux"},
                ],
            },
            {
                "code": "C2",
                "title": "Compétence deux",
                "tasks": ["T1.2"],
                "criteria": [{"code": "C2-1", "title": "Critère trois"}],
            },
        ],
    }


def write(directory: Path, name: str, doc: dict[str, Any]) -> Path:
    path = directory / name
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def table_counts(db: Any) -> dict[str, int]:
    """Rows of every framework table: 'nothing written' means this did not change."""
    models = {
        "frameworks": Framework,
        "blocks": Block,
        "activities": Activity,
        "tasks": Task,
        "competencies": Competency,
        "criteria": Criterion,
        "scale": ScaleLevel,
    }
    counts = {
        name: db.session.scalar(select(func.count()).select_from(model))
        for name, model in models.items()
    }
    counts["links"] = db.session.scalar(select(func.count()).select_from(task_competencies))
    return counts


def framework_counts(db: Any, code: str) -> tuple[int, int, int, int, int, int]:
    fw = db.session.scalar(select(Framework).where(Framework.code == code))
    assert fw is not None, f"{code} was not imported"

    def count(model: Any) -> int:
        query = select(func.count()).select_from(model).where(model.framework_id == fw.id)
        return int(db.session.scalar(query))

    links = db.session.scalar(
        select(func.count())
        .select_from(task_competencies)
        .join(Task, Task.id == task_competencies.c.task_id)
        .where(Task.framework_id == fw.id)
    )
    return (
        count(Activity),
        count(Task),
        count(Competency),
        count(Criterion),
        count(ScaleLevel),
        int(links),
    )


def ids_by_code(db: Any, code: str) -> dict[tuple[str, str], int]:
    fw = db.session.scalar(select(Framework).where(Framework.code == code))
    result: dict[tuple[str, str], int] = {("framework", code): fw.id}
    for model in (Block, Activity, Task, Competency, Criterion, ScaleLevel):
        for row in db.session.scalars(select(model).where(model.framework_id == fw.id)):
            result[(model.__name__, row.code)] = row.id
    return result


def links_of(db: Any, code: str) -> set[tuple[str, str]]:
    query = (
        select(Task.code, Competency.code)
        .join(task_competencies, task_competencies.c.task_id == Task.id)
        .join(Competency, Competency.id == task_competencies.c.competency_id)
        .join(Framework, Framework.id == Task.framework_id)
        .where(Framework.code == code)
    )
    return {(t, c) for t, c in db.session.execute(query)}


@pytest.fixture
def empty(db: Any) -> None:
    """No framework at all (the session preloads the shipped ones): the database cascades
    the delete to every entry, and the test's transaction is rolled back afterwards."""
    db.session.execute(delete(Framework))
    # Committed (a savepoint release under the `db` fixture) so that a rollback by the code
    # under test, as the CLI does on failure, does not bring the frameworks back.
    db.session.commit()


# --- shipped frameworks ------------------------------------------------------------------


def test_shipped_files_are_the_six_of_the_readme() -> None:
    assert sorted(p.name for p in shipped_framework_paths()) == sorted(SHIPPED)


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_each_shipped_file_imports_with_the_readme_counts(db: Any, empty: None, name: str) -> None:
    code, activities, tasks, competencies, criteria, completeness = SHIPPED[name]
    path = next(p for p in shipped_framework_paths() if p.name == name)

    [report] = import_framework_files([path])

    got = framework_counts(db, code)
    if activities is not None:
        assert got[0] == activities
    assert got[1:5] == (tasks, competencies, criteria, 6)
    assert got[5] > 0  # task ↔ competency links are what a sheet proposes
    fw = db.session.get(Framework, report.framework_id)
    assert fw.completeness == completeness
    assert [level.code for level in fw.scale] == [s["code"] for s in DEFAULT_SCALE]
    assert report.created
    assert report.counts["tasks"].created == tasks
    assert report.counts["criteria"].created == criteria
    assert report.counts["links"].created == got[5]


def test_all_shipped_files_import_together_and_reimport_changes_nothing(
    db: Any, empty: None
) -> None:
    import_framework_files(shipped_framework_paths())
    before = table_counts(db)
    ids = {code: ids_by_code(db, code) for code, *_ in SHIPPED.values()}
    assert before["frameworks"] == 6
    assert before["criteria"] == 77 + 69 + 119 + 104 + 179 + 45

    reports = import_framework_files(shipped_framework_paths())

    assert table_counts(db) == before
    assert {code: ids_by_code(db, code) for code in ids} == ids
    for report in reports:
        assert not report.changed, report
        assert all(c.created == c.updated == c.deleted == 0 for c in report.counts.values())


def test_unchanged_reimport_writes_nothing_and_loads_in_few_queries(
    db: Any, count_queries: Any
) -> None:
    import_framework_files([MELEC])
    db.session.commit()
    db.session.expire_all()

    with count_queries() as queries:
        import_framework_files([MELEC])

    verbs = [sql.lstrip().split(None, 1)[0].upper() for sql in queries.statements]
    assert not {"INSERT", "UPDATE", "DELETE"} & set(verbs), queries.statements
    # framework, blocks, activities, tasks, competencies (+ their tasks), criteria, scale:
    # one query per kind, never one per entry (MELEC has 17 tasks and 77 criteria).
    assert verbs.count("SELECT") <= 10, queries.statements


def test_json_file_imports_like_yaml(db: Any, tmp_path: Path) -> None:
    path = tmp_path / "test.json"
    path.write_text(json.dumps(minimal(), ensure_ascii=False), encoding="utf-8")

    [report] = import_framework_files([path])

    assert framework_counts(db, "TEST-DIP") == (2, 3, 2, 3, 6, 3)
    assert report.source == "test.json"


# --- re-import updates in place ----------------------------------------------------------


def test_changed_title_updates_in_place(db: Any, tmp_path: Path) -> None:
    import_framework_files([MELEC])
    ids = ids_by_code(db, "BACPRO-MELEC")
    before = table_counts(db)
    doc = yaml.safe_load(MELEC.read_text(encoding="utf-8"))
    doc["activities"][1]["tasks"][0]["title"] = "Organiser et sécuriser le poste de travail"
    doc["diploma"]["short_title"] = "Bac Pro MELEC (2024)"

    [report] = import_framework_files([write(tmp_path, "bac-pro-melec.yaml", doc)])

    task = db.session.get(Task, ids[("Task", "T2.1")])
    assert task.title == "Organiser et sécuriser le poste de travail"
    assert db.session.get(Framework, ids[("framework", "BACPRO-MELEC")]).short_title == (
        "Bac Pro MELEC (2024)"
    )
    assert ids_by_code(db, "BACPRO-MELEC") == ids
    assert report.updated and not report.created
    assert report.counts["tasks"].updated == 1
    assert report.counts["tasks"].unchanged == 16
    assert table_counts(db) == before


def test_removed_criterion_disappears_and_the_others_keep_their_ids(
    db: Any, tmp_path: Path
) -> None:
    import_framework_files([MELEC])
    ids = ids_by_code(db, "BACPRO-MELEC")
    doc = yaml.safe_load(MELEC.read_text(encoding="utf-8"))
    removed = doc["competencies"][2]["criteria"].pop(1)["code"]

    [report] = import_framework_files([write(tmp_path, "bac-pro-melec.yaml", doc)])

    assert framework_counts(db, "BACPRO-MELEC")[3] == 76
    assert ("Criterion", removed) not in ids_by_code(db, "BACPRO-MELEC")
    kept = {k: v for k, v in ids.items() if k != ("Criterion", removed)}
    assert ids_by_code(db, "BACPRO-MELEC") == kept
    assert report.counts["criteria"].deleted == 1
    # positions are renumbered: the criterion after the removed one moved up
    assert report.counts["criteria"].updated > 0


def test_entries_added_moved_removed_and_links_follow_the_file(db: Any, tmp_path: Path) -> None:
    import_framework_files([write(tmp_path, "test.yaml", minimal())])
    ids = ids_by_code(db, "TEST-DIP")
    doc = minimal()
    # T1.2 moves to A2, A1 loses its block, T2.1 is removed, T2.2 and C3 are new,
    # C1-2 moves to C2, C1 is now assessed through T1.2 instead of T2.1.
    a1, a2 = doc["activities"]
    moved = a1["tasks"].pop()
    del a1["block"]
    a2["tasks"] = [moved, {"code": "T2.2", "title": "Nouvelle tâche"}]
    c1, c2 = doc["competencies"]
    c1["tasks"] = ["T1.1", "T1.2"]
    c2["criteria"].append(c1["criteria"].pop())
    doc["competencies"].append(
        {"code": "C3", "title": "Nouvelle", "tasks": ["T2.2"], "criteria": []}
    )
    doc["blocks"] = []

    [report] = import_framework_files([write(tmp_path, "test.yaml", doc)])
    db.session.expire_all()

    t12 = db.session.get(Task, ids[("Task", "T1.2")])
    assert t12.activity.code == "A2"
    assert db.session.get(Activity, ids[("Activity", "A1")]).block is None
    assert db.session.get(Criterion, ids[("Criterion", "C1-2")]).competency.code == "C2"
    assert ("Task", "T2.1") not in ids_by_code(db, "TEST-DIP")
    assert ("Block", "B1") not in ids_by_code(db, "TEST-DIP")
    assert links_of(db, "TEST-DIP") == {
        ("T1.1", "C1"),
        ("T1.2", "C1"),
        ("T1.2", "C2"),
        ("T2.2", "C3"),
    }
    c = report.counts
    assert (c["tasks"].created, c["tasks"].deleted) == (1, 1)
    assert (c["competencies"].created, c["blocks"].deleted) == (1, 1)
    assert (c["links"].created, c["links"].deleted) == (2, 1)
    # the ORM view agrees with the tables (no stale collection in the session)
    assert [t.code for t in db.session.get(Competency, ids[("Competency", "C1")]).tasks] == [
        "T1.1",
        "T1.2",
    ]


def test_entries_moved_out_of_a_removed_parent_survive(db: Any, tmp_path: Path) -> None:
    import_framework_files([write(tmp_path, "test.yaml", minimal())])
    ids = ids_by_code(db, "TEST-DIP")
    doc = minimal()
    a1, a2 = doc["activities"]
    a1["tasks"].extend(a2["tasks"])  # T2.1 moves to A1, A2 goes
    doc["activities"] = [a1]
    c1, c2 = doc["competencies"]
    c1["criteria"].extend(c2["criteria"])  # C2-1 moves to C1, C2 goes
    c1["tasks"].append("T1.2")
    doc["competencies"] = [c1]

    import_framework_files([write(tmp_path, "test.yaml", doc)])
    db.session.expire_all()

    after = ids_by_code(db, "TEST-DIP")
    assert after[("Task", "T2.1")] == ids[("Task", "T2.1")]
    assert after[("Criterion", "C2-1")] == ids[("Criterion", "C2-1")]
    assert ("Activity", "A2") not in after
    assert ("Competency", "C2") not in after
    assert framework_counts(db, "TEST-DIP") == (1, 3, 1, 3, 6, 3)


def test_reordered_file_reorders_entries_in_place(db: Any, tmp_path: Path) -> None:
    import_framework_files([write(tmp_path, "test.yaml", minimal())])
    ids = ids_by_code(db, "TEST-DIP")
    doc = minimal()
    doc["competencies"].reverse()
    doc["activities"][0]["tasks"].reverse()
    doc["competencies"][1]["criteria"].reverse()  # C1, now second

    import_framework_files([write(tmp_path, "test.yaml", doc)])
    db.session.expire_all()

    fw = db.session.scalar(select(Framework).where(Framework.code == "TEST-DIP"))
    assert [c.code for c in fw.competencies] == ["C2", "C1"]
    assert [t.code for t in fw.activities[0].tasks] == ["T1.2", "T1.1"]
    assert [k.code for k in fw.competencies[1].criteria] == ["C1-2", "C1-1"]
    assert ids_by_code(db, "TEST-DIP") == ids


# --- scale -------------------------------------------------------------------------------

CUSTOM_SCALE = [
    {"code": "ABS", "label": "Absent", "color": "#000000"},
    {"code": "NA", "label": "Non acquis", "color": "#FF0000"},
    {"code": "EC", "label": "En cours", "color": "#ff8800"},
    {"code": "PA", "label": "Partiellement acquis", "color": "#ffff00"},
    {"code": "A", "label": "Acquis", "color": "#00ff00"},
    {"code": "E", "label": "Expert", "color": "#0000ff"},
]


def test_custom_scale_replaces_the_default(db: Any, tmp_path: Path) -> None:
    import_framework_files([write(tmp_path, "test.yaml", minimal())])
    ids = ids_by_code(db, "TEST-DIP")
    doc = minimal()
    doc["scale"] = CUSTOM_SCALE

    import_framework_files([write(tmp_path, "test.yaml", doc)])
    db.session.expire_all()

    fw = db.session.get(Framework, ids[("framework", "TEST-DIP")])
    assert [(s.code, s.label, s.color) for s in fw.scale] == [
        (s["code"], s["label"], s["color"].lower()) for s in CUSTOM_SCALE
    ]
    assert framework_counts(db, "TEST-DIP")[4] == 6


def test_scale_codes_can_be_swapped_and_the_default_restored(db: Any, tmp_path: Path) -> None:
    doc = minimal()
    doc["scale"] = copy.deepcopy(DEFAULT_SCALE)
    doc["scale"][1]["code"], doc["scale"][2]["code"] = "1", "0"  # codes swap places
    import_framework_files([write(tmp_path, "test.yaml", doc)])
    fw = db.session.scalar(select(Framework).where(Framework.code == "TEST-DIP"))
    scale_ids = [s.id for s in fw.scale]
    assert [s.code for s in fw.scale][:3] == ["NE", "1", "0"]

    import_framework_files([write(tmp_path, "test.yaml", minimal())])  # no scale: default
    db.session.expire_all()

    fw = db.session.scalar(select(Framework).where(Framework.code == "TEST-DIP"))
    assert [s.code for s in fw.scale] == [s["code"] for s in DEFAULT_SCALE]
    assert [s.id for s in fw.scale] == scale_ids


# --- malformed files ---------------------------------------------------------------------

Mutation = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Mutation:
    """Set doc[a][b]… = value, where path is 'a.b.…' and numbers index lists."""

    def mutate(doc: dict[str, Any]) -> None:
        *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
        target: Any = doc
        for key in parents:
            target = target[key]
        target[last] = value

    return mutate


def _duplicate_task(doc: dict[str, Any]) -> None:
    doc["activities"][1]["tasks"].append({"code": "T1.1", "title": "Encore T1.1"})


def _duplicate_criterion(doc: dict[str, Any]) -> None:
    doc["competencies"][1]["criteria"].append({"code": "C1-1", "title": "Encore"})


def _scale(levels: list[dict[str, str]]) -> Mutation:
    return _set("scale", levels)


def _bad_color() -> list[dict[str, str]]:
    levels = copy.deepcopy(CUSTOM_SCALE)
    levels[1]["color"] = "rouge"
    return levels


def _duplicate_level() -> list[dict[str, str]]:
    levels = copy.deepcopy(CUSTOM_SCALE)
    levels[5]["code"] = "A"
    return levels


MALFORMED: list[tuple[str, Mutation, str]] = [
    (
        "bad schema",
        _set("schema", "passerelle-framework/2"),
        "bad.yaml : schema : « passerelle-framework/2 » non reconnu",
    ),
    (
        "duplicate task code",
        _duplicate_task,
        "bad.yaml : activité A2, tâche T1.1 : code en double (déjà utilisé dans l'activité A1)",
    ),
    (
        "unknown task in competency",
        _set("competencies.0.tasks", ["T1.1", "T9.9"]),
        "bad.yaml : compétence C1 : la tâche « T9.9 » n'existe pas",
    ),
    (
        "empty task title",
        _set("activities.0.tasks.1.title", "  "),
        "bad.yaml : activité A1, tâche T1.2 : titre vide",
    ),
    (
        "empty criterion title",
        _set("competencies.1.criteria.0.title", ""),
        "bad.yaml : compétence C2, critère C2-1 : titre vide",
    ),
    (
        "missing competency title",
        lambda doc: doc["competencies"][1].pop("title"),
        "bad.yaml : compétence C2 : le champ « title » est obligatoire",
    ),
    (
        "duplicate criterion code",
        _duplicate_criterion,
        "bad.yaml : compétence C2, critère C1-1 : code en double",
    ),
    (
        "duplicate competency code",
        _set("competencies.1.code", "C1"),
        "bad.yaml : compétence C1 : code en double",
    ),
    (
        "unknown block",
        _set("activities.1.block", "B9"),
        "bad.yaml : activité A2 : le bloc « B9 » n'existe pas",
    ),
    (
        "missing diploma field",
        lambda doc: doc["diploma"].pop("short_title"),
        "bad.yaml : diploma : le champ « short_title » est obligatoire",
    ),
    (
        "bad completeness",
        _set("diploma.completeness", "totale"),
        "bad.yaml : diploma : completeness « totale » invalide",
    ),
    (
        "misspelt key",
        lambda doc: doc["activities"][0].update(titel="x"),
        "bad.yaml : activité A1 : clé « titel » inconnue",
    ),
    (
        "scale of five levels",
        _scale(CUSTOM_SCALE[:5]),
        "bad.yaml : échelle : 5 niveaux au lieu de 6",
    ),
    (
        "scale with a bad colour",
        _scale(_bad_color()),
        "bad.yaml : échelle, niveau n° 2 : couleur « rouge » invalide",
    ),
    (
        "scale with a duplicate code",
        _scale(_duplicate_level()),
        "bad.yaml : échelle, niveau n° 6 : code en double",
    ),
    (
        "float code",
        _set("activities.0.tasks.0.code", 1.1),
        "bad.yaml : activité A1, tâche n° 1 : le champ « code » doit être un texte",
    ),
]


@pytest.fixture
def existing(db: Any, empty: None, tmp_path: Path) -> dict[str, int]:
    """A framework already imported: a failed import must leave it exactly as it was."""
    import_framework_files([write(tmp_path, "test.yaml", minimal())])
    db.session.flush()
    return table_counts(db)


@pytest.mark.parametrize(
    ("mutate", "message"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
def test_malformed_file_is_rejected_naming_file_and_entry(
    db: Any, tmp_path: Path, existing: dict[str, int], mutate: Mutation, message: str
) -> None:
    doc = minimal()
    doc["diploma"]["title"] = "Titre modifié qui ne doit pas être enregistré"
    mutate(doc)
    path = write(tmp_path, "bad.yaml", doc)

    with pytest.raises(FrameworkFileError) as caught:
        import_framework_files([path])

    assert message in str(caught.value)
    assert table_counts(db) == existing
    fw = db.session.scalar(select(Framework).where(Framework.code == "TEST-DIP"))
    assert fw.title == "Baccalauréat professionnel de test"


def test_parse_reports_every_problem_of_a_file_at_once(tmp_path: Path) -> None:
    doc = minimal()
    doc["competencies"][0]["tasks"] = ["T9.9"]
    doc["activities"][0]["title"] = ""

    with pytest.raises(FrameworkFileError) as caught:
        parse_framework_file(write(tmp_path, "bad.yaml", doc))

    assert caught.value.problems == [
        "activité A1 : titre vide",
        "compétence C1 : la tâche « T9.9 » n'existe pas",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("schema: passerelle-framework/1\ndiploma: [\n", "bad.yaml : YAML invalide ligne 3"),
        (
            "schema: passerelle-framework/1\nschema: passerelle-framework/1\n",
            "bad.yaml : YAML invalide ligne 2, colonne 1 : clé « schema » en double",
        ),
        ("", "bad.yaml : fichier vide"),
        ("- a\n- b\n", "bad.yaml : une table de clés"),
    ],
    ids=["syntax error", "duplicate key", "empty", "not a mapping"],
)
def test_unreadable_yaml_is_a_framework_error(
    db: Any, tmp_path: Path, existing: dict[str, int], text: str, message: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")

    with pytest.raises(FrameworkFileError) as caught:
        import_framework_files([path])

    assert message in str(caught.value)
    assert table_counts(db) == existing


def test_missing_file_and_unknown_extension(tmp_path: Path) -> None:
    with pytest.raises(FrameworkFileError, match=r"absent\.yaml : fichier introuvable"):
        parse_framework_file(tmp_path / "absent.yaml")
    (tmp_path / "ref.txt").write_text("schema: x", encoding="utf-8")
    with pytest.raises(FrameworkFileError, match=r"ref\.txt : extension « \.txt » non reconnue"):
        parse_framework_file(tmp_path / "ref.txt")


def test_bad_second_file_leaves_the_first_unwritten(
    db: Any, tmp_path: Path, existing: dict[str, int]
) -> None:
    bad = minimal()
    bad["diploma"]["code"] = "OTHER"
    bad["competencies"][0]["tasks"] = ["T9.9"]
    paths = [MELEC, write(tmp_path, "bad.yaml", bad)]

    with pytest.raises(
        FrameworkFileError, match=re.escape("bad.yaml : compétence C1 : la tâche « T9.9 »")
    ):
        import_framework_files(paths)

    assert table_counts(db) == existing
    assert db.session.scalar(select(Framework).where(Framework.code == "BACPRO-MELEC")) is None


def test_same_diploma_twice_in_one_import_is_rejected(
    db: Any, tmp_path: Path, existing: dict[str, int]
) -> None:
    paths = [write(tmp_path, "a.yaml", minimal()), write(tmp_path, "b.yaml", minimal())]

    with pytest.raises(
        FrameworkFileError, match=re.escape("b.yaml : diploma TEST-DIP : déjà défini")
    ):
        import_framework_files(paths)

    assert table_counts(db) == existing


def test_database_failure_rolls_back_every_file_of_the_batch(
    db: Any, tmp_path: Path, existing: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def failing_second(data: Any) -> Any:
        calls.append(data.source)
        if len(calls) == 2:
            raise RuntimeError("panne de la base")
        return import_framework(data)

    monkeypatch.setattr(service, "import_framework", failing_second)
    changed = minimal()
    changed["activities"][0]["title"] = "Titre changé"

    with pytest.raises(RuntimeError):
        import_framework_files([write(tmp_path, "test.yaml", changed), MELEC])

    assert calls == ["test.yaml", "bac-pro-melec.yaml"]
    assert table_counts(db) == existing
    db.session.expire_all()
    a1 = db.session.scalar(select(Activity).where(Activity.code == "A1"))
    assert a1.title == "Activité un"


# --- CLI ---------------------------------------------------------------------------------


@pytest.fixture
def cli(app: Any) -> Any:
    if "frameworks" not in app.cli.commands:  # until app/cli.py calls register()
        register(app)
    assert app.cli.commands["frameworks"] is frameworks_cli
    return app.test_cli_runner()


def test_cli_import_prints_a_report_and_commits(db: Any, empty: None, cli: Any) -> None:
    result = cli.invoke(args=["frameworks", "import", str(MELEC)])

    assert result.exit_code == 0, result.output
    assert "bac-pro-melec.yaml : Bac Pro MELEC (BACPRO-MELEC) — créé" in result.output
    assert "tâches : 17 (17 créées, 0 modifiée, 0 supprimée)" in result.output
    assert "critères : 77 (77 créés, 0 modifié, 0 supprimé)" in result.output
    db.session.rollback()  # what was committed survives a rollback
    assert framework_counts(db, "BACPRO-MELEC")[:4] == (5, 17, 13, 77)

    again = cli.invoke(args=["frameworks", "import", str(MELEC)])
    assert again.exit_code == 0, again.output
    assert "— déjà à jour" in again.output


def test_cli_import_shipped(db: Any, empty: None, cli: Any) -> None:
    result = cli.invoke(args=["frameworks", "import-shipped"])

    assert result.exit_code == 0, result.output
    assert result.output.count("— créé") == 6
    assert table_counts(db)["frameworks"] == 6


def test_cli_malformed_file_exits_1_with_the_message(
    db: Any, empty: None, cli: Any, tmp_path: Path
) -> None:
    bad = minimal()
    bad["competencies"][1]["tasks"] = ["T9.9"]
    path = write(tmp_path, "bad.yaml", bad)

    result = cli.invoke(args=["frameworks", "import", str(MELEC), str(path)])

    assert result.exit_code == 1
    assert "bad.yaml : compétence C2 : la tâche « T9.9 » n'existe pas" in result.output
    assert "aucun référentiel n'a été modifié" in result.output
    assert table_counts(db)["frameworks"] == 0  # MELEC, first and valid, was not written


def test_reimport_refuses_to_remove_an_entry_used_by_a_sheet(f: Any, tmp_path: Path) -> None:
    """Dropping a criterion that a sheet selected would erase learners' work: refused."""
    from app.models import SheetCriterion

    w = f.world()
    melec = next(p for p in shipped_framework_paths() if p.name == "bac-pro-melec.yaml")
    doc = yaml.safe_load(melec.read_text(encoding="utf-8"))
    dropped = doc["competencies"][0]["criteria"].pop(0)
    criterion = (
        f.s.query(Criterion)
        .filter_by(framework_id=w.level.framework_id, code=dropped["code"])
        .one()
    )
    task = doc["competencies"][0]["tasks"][0]
    task_id = next(t.id for t in criterion.competency.tasks if t.code == task)
    f.s.add(SheetCriterion(sheet_id=w.sheet.id, task_id=task_id, criterion_id=criterion.id))
    f.s.flush()
    edited = tmp_path / "bac-pro-melec.yaml"
    edited.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    with pytest.raises(FrameworkFileError) as error:
        import_framework_files([edited])
    assert f"critère {dropped['code']}" in str(error.value)
    assert f.s.get(Criterion, criterion.id) is not None
