"""CSV imports of learners and teachers: reading every kind of file a school sends, the
preview, the import, re-imports that update instead of duplicating, and files that must be
refused whole with nothing written."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from app.models import AuditLog, ClassGroup, Learner, Teacher, User
from app.services import imports
from app.services.imports import ImportFileError

HEADER = "Nom;Prénom;Date de naissance;Classe;Statut;E-mail\n"


def csv(*lines: str, header: str = HEADER, encoding: str = "utf-8") -> bytes:
    return (header + "\n".join(lines) + "\n").encode(encoding)


def count(f: Any, model: Any) -> int:
    return f.s.scalar(select(func.count()).select_from(model)) or 0


# --- reading -----------------------------------------------------------------------------------


def test_reads_a_semicolon_utf8_file_with_bom_and_all_columns() -> None:
    data = b"\xef\xbb\xbf" + csv("GARAY;Inès;14/05/2007;TMELEC;scolaire;Ines.Garay@Exemple.fr")
    (row,) = imports.read_learners_csv(data).rows
    assert row.error is None
    assert (row.last_name, row.first_name, row.birth_date) == ("GARAY", "Inès", date(2007, 5, 14))
    assert (row.class_name, row.status, row.email) == ("TMELEC", "pupil", "ines.garay@exemple.fr")


def test_reads_windows_1252_with_comma_separator_and_odd_header_case() -> None:
    header = "NOM,prenom,Date Naissance,DIVISION,statut\n"
    data = csv("Lefèvre,Zoé,2006-11-02,1BTS MS,Apprenti", header=header, encoding="cp1252")
    (row,) = imports.read_learners_csv(data).rows
    assert row.error is None
    assert (row.last_name, row.first_name) == ("Lefèvre", "Zoé")
    assert row.birth_date == date(2006, 11, 2) and row.status == "apprentice"


def test_quoted_fields_and_blank_lines_are_handled() -> None:
    data = csv('"DE LA TOUR";"Anne, Marie";"1/2/2007";"T MELEC";"élève";""', "", ";;;;;")
    rows = imports.read_learners_csv(data).rows
    assert len(rows) == 1
    assert rows[0].first_name == "Anne, Marie" and rows[0].birth_date == date(2007, 2, 1)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (";Inès;14/05/2007;TMELEC;;", "nom manquant"),
        ("GARAY;;14/05/2007;TMELEC;;", "prénom manquant"),
        ("GARAY;Inès;;TMELEC;;", "date de naissance manquante"),
        ("GARAY;Inès;31/02/2007;TMELEC;;", "date de naissance invalide"),
        ("GARAY;Inès;14 mai 2007;TMELEC;;", "date de naissance invalide"),
        ("GARAY;Inès;14/05/2099;TMELEC;;", "date de naissance impossible"),
        ("GARAY;Inès;14/05/2007;;;", "classe manquante"),
        ("GARAY;Inès;14/05/2007;TMELEC;stagiaire;", "statut inconnu"),
        ("GARAY;Inès;14/05/2007;TMELEC;;pas-une-adresse", "adresse e-mail invalide"),
        ("GARAY;" + "x" * 81 + ";14/05/2007;TMELEC;;", "prénom trop long"),
    ],
)
def test_bad_rows_are_rejected_with_a_reason(line: str, reason: str) -> None:
    (row,) = imports.read_learners_csv(csv(line)).rows
    assert row.error is not None and reason in row.error


def test_duplicate_rows_in_the_file_are_rejected_after_the_first() -> None:
    rows = imports.read_learners_csv(
        csv(
            "GARAY;Inès;14/05/2007;TMELEC;;",
            "Garay;Ines;2007-05-14;TMELEC;;",  # same person, other spelling
            "MARTIN;Léo;01/01/2007;TMELEC;;a@b.fr",
            "DURAND;Léa;01/01/2007;TMELEC;;A@b.fr",
        )
    ).rows
    assert rows[0].error is None and "ligne 2" in (rows[1].error or "")
    assert rows[2].error is None and "déjà utilisée à la ligne 4" in (rows[3].error or "")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "vide"),
        (b"   \n\n", "vide"),
        (HEADER.encode(), "que la ligne des titres"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binaire"),
        (b"PK\x03\x04\x14\x00\x06\x00", "classeur"),
        (b"Nom;Pr\xc3\xa9nom\n\x81\x8d\x8f;x\n", "Encodage"),
        (b"Nom;Classe\nGARAY;TMELEC\n", "Prénom, Date de naissance"),
        (b"a,b,c\n1,2,3\n", "manquantes"),
        (b"x" * (imports.MAX_IMPORT_BYTES + 1), "trop volumineux"),
    ],
)
def test_unreadable_files_are_refused_whole(data: bytes, message: str) -> None:
    with pytest.raises(ImportFileError) as error:
        imports.read_learners_csv(data)
    assert message in error.value.message


def test_too_many_rows_are_refused() -> None:
    line = "GARAY;Inès;14/05/2007;TMELEC;;"
    with pytest.raises(ImportFileError, match="au maximum"):
        imports.read_learners_csv(csv(*([line] * (imports.MAX_ROWS + 1))))


def test_utf16_export_is_read() -> None:
    data = csv("GARAY;Inès;14/05/2007;TMELEC;;", encoding="utf-16")
    assert imports.read_learners_csv(data).rows[0].first_name == "Inès"


# --- learners: plan and apply ------------------------------------------------------------------


def test_import_creates_learners_and_classes_under_the_chosen_level(f: Any) -> None:
    level = f.level()
    admin = f.admin()
    parsed = imports.read_learners_csv(
        csv(
            "GARAY;Inès;14/05/2007;ZTEST-A;scolaire;ines@exemple.fr",
            "TEMMAM;Émilie;02/11/2006;ZTEST-B;apprenti;",
        )
    )
    preview = imports.plan_learners(parsed, level)
    assert [r.status for r in preview.rows] == ["created", "created"]
    assert preview.new_classes == ["ZTEST-A", "ZTEST-B"]
    assert f.s.scalar(select(Learner).where(Learner.last_name == "GARAY")) is None  # preview only
    plan = imports.apply_learners(parsed, level, admin)
    assert plan.counts["created"] == 2
    ines = f.s.scalar(select(Learner).where(Learner.last_name == "GARAY"))
    assert ines.class_group.name == "ZTEST-A" and ines.class_group.level_id == level.id
    assert ines.email == "ines@exemple.fr" and ines.password_hash is None
    assert ines.external_id == "nom:garay|ines|2007-05-14"
    emilie = f.s.scalar(select(Learner).where(Learner.last_name == "TEMMAM"))
    assert emilie.learner_status == "apprentice" and emilie.email is None
    actions = set(f.s.scalars(select(AuditLog.action).where(AuditLog.actor_id == admin.id)))
    assert {"account.imported", "import.learners"} <= actions


def test_reimport_updates_instead_of_duplicating_and_leaves_others_alone(f: Any) -> None:
    w = f.world()
    level = w.level
    first = csv("GARAY;Inès;14/05/2007;ZRE-1;scolaire;", "MARTIN;Léo;01/02/2007;ZRE-1;;")
    imports.apply_learners(imports.read_learners_csv(first), level, w.admin)
    before = count(f, Learner)
    other = (w.other_learner.last_name, w.other_learner.class_group_id, w.other_learner.email)
    # A year later: Inès changed class and got an address; Léo is unchanged.
    second = csv(
        "Garay;Inès;2007-05-14;ZRE-2;scolaire;ines@exemple.fr", "MARTIN;Léo;01/02/2007;ZRE-1;;"
    )
    plan = imports.apply_learners(imports.read_learners_csv(second), level, w.admin)
    assert [r.status for r in plan.rows] == ["updated", "unchanged"]
    assert set(plan.rows[0].changes) >= {"nom", "classe", "e-mail"}
    assert count(f, Learner) == before
    ines = f.s.scalar(select(Learner).where(Learner.external_id == "nom:garay|ines|2007-05-14"))
    assert ines.last_name == "Garay" and ines.class_group.name == "ZRE-2"
    f.s.refresh(w.other_learner)
    assert (
        w.other_learner.last_name,
        w.other_learner.class_group_id,
        w.other_learner.email,
    ) == other


def test_ine_column_keys_learners_and_upgrades_name_keyed_ones(f: Any) -> None:
    level = f.level()
    admin = f.admin()
    imports.apply_learners(
        imports.read_learners_csv(csv("GARAY;Inès;14/05/2007;ZINE;;")), level, admin
    )
    header = "INE;Nom;Prénom;Date de naissance;Classe\n"
    data = csv("123456789AB;GARAY;Inès;14/05/2007;ZINE", header=header)
    plan = imports.apply_learners(imports.read_learners_csv(data), level, admin)
    assert plan.rows[0].status == "updated" and plan.rows[0].changes == ["identifiant"]
    ines = f.s.scalar(select(Learner).where(Learner.last_name == "GARAY"))
    assert ines.external_id == "ine:123456789AB"
    # Same INE, corrected name: still the same learner.
    data = csv("123456789AB;GARAY-LOPEZ;Inès;14/05/2007;ZINE", header=header)
    plan = imports.apply_learners(imports.read_learners_csv(data), level, admin)
    assert plan.rows[0].status == "updated"
    assert f.s.scalar(select(func.count()).where(Learner.external_id == "ine:123456789AB")) == 1


def test_existing_class_is_matched_by_name_whatever_the_case(f: Any) -> None:
    group = f.class_group(name="ZTMELEC")
    plan = imports.apply_learners(
        imports.read_learners_csv(csv("GARAY;Inès;14/05/2007;ztmelec;;")), None, f.admin()
    )
    assert plan.rows[0].status == "created" and plan.new_classes == []
    assert (
        f.s.scalar(select(Learner).where(Learner.last_name == "GARAY")).class_group_id == group.id
    )


def test_unknown_class_without_level_is_rejected(f: Any) -> None:
    plan = imports.plan_learners(
        imports.read_learners_csv(csv("GARAY;Inès;14/05/2007;ZNEW;;")), None
    )
    assert plan.rows[0].status == "rejected" and "choisissez le niveau" in plan.rows[0].reason


def test_email_of_another_account_is_rejected(f: Any) -> None:
    teacher = f.teacher()
    data = csv(f"GARAY;Inès;14/05/2007;ZX;;{teacher.email.upper()}")
    plan = imports.apply_learners(imports.read_learners_csv(data), f.level(), f.admin())
    assert plan.rows[0].status == "rejected" and "Enseignant" in plan.rows[0].reason
    assert f.s.scalar(select(Learner).where(Learner.last_name == "GARAY")) is None


def test_bad_rows_are_reported_and_good_rows_imported(f: Any) -> None:
    data = csv("GARAY;Inès;14/05/2007;ZMIX;;", "BAD;Row;32/13/2007;ZMIX;;")
    plan = imports.apply_learners(imports.read_learners_csv(data), f.level(), f.admin())
    assert plan.counts == {"created": 1, "updated": 0, "unchanged": 0, "rejected": 1}
    (rejected,) = plan.rejected
    assert rejected.line == 3 and "date de naissance invalide" in rejected.reason
    lines = imports.report_lines(plan)
    assert lines[0].startswith("1 créé(s)") and "ligne 3 (BAD Row)" in lines[-1]


def test_planning_runs_a_fixed_number_of_queries(f: Any, count_queries: Any) -> None:
    level = f.level()

    def rows(n: int) -> bytes:
        return csv(*[f"NOM{i};Prénom;01/01/2007;ZQ{i % 3};;e{i}@x.fr" for i in range(n)])

    small, large = imports.read_learners_csv(rows(3)), imports.read_learners_csv(rows(60))
    with count_queries() as q_small:
        imports.plan_learners(small, level)
    with count_queries() as q_large:
        imports.plan_learners(large, level)
    assert q_small.count == q_large.count <= 5


# --- teachers ----------------------------------------------------------------------------------


TEACHERS = "Nom;Prénom;E-mail;Niveaux\n"


def test_teacher_import_creates_and_then_adds_levels(f: Any) -> None:
    one, two = f.level(name="ZNiveau Un"), f.level(name="ZNiveau Deux")
    admin = f.admin()
    data = csv("MARTIN;Claire;claire.martin@exemple.fr;znivéau un", header=TEACHERS)
    plan = imports.apply_teachers(imports.read_teachers_csv(data), admin)
    assert plan.rows[0].status == "created"
    claire = f.s.scalar(select(Teacher).where(Teacher.email == "claire.martin@exemple.fr"))
    assert [level.id for level in claire.levels] == [one.id]
    data = csv("MARTIN;Claire;CLAIRE.MARTIN@exemple.fr;ZNiveau Deux | ZNiveau Un", header=TEACHERS)
    plan = imports.apply_teachers(imports.read_teachers_csv(data), admin)
    assert plan.rows[0].status == "updated" and plan.rows[0].changes == ["niveaux"]
    f.s.refresh(claire)
    assert {level.id for level in claire.levels} == {one.id, two.id}
    plan = imports.apply_teachers(imports.read_teachers_csv(data), admin)
    assert plan.rows[0].status == "unchanged"
    assert f.s.scalar(select(func.count()).where(User.email == "claire.martin@exemple.fr")) == 1


def test_teacher_rows_with_unknown_level_or_a_learner_address_are_rejected(f: Any) -> None:
    learner = f.learner()
    data = csv(
        "MARTIN;Claire;claire@exemple.fr;Niveau inexistant",
        f"DURAND;Paul;{learner.email};",
        "SANS;Adresse;;",
        header=TEACHERS,
    )
    plan = imports.apply_teachers(imports.read_teachers_csv(data), f.admin())
    reasons = [row.reason for row in plan.rows]
    assert "niveau inconnu" in reasons[0] and "Apprenant" in reasons[1]
    assert "adresse e-mail manquante" in reasons[2]
    assert plan.counts["created"] == 0


def test_teacher_file_without_email_column_is_refused() -> None:
    with pytest.raises(ImportFileError, match="E-mail"):
        imports.read_teachers_csv(b"Nom;Prenom\nMARTIN;Claire\n")


# --- the pending upload -----------------------------------------------------------------------


def test_stashed_upload_is_only_for_its_admin_and_kind(tmp_path: Path) -> None:
    token = imports.stash_upload(tmp_path, b"data", kind="learners", user_id=1, level_id=4)
    data, info = imports.load_upload(tmp_path, token, kind="learners", user_id=1)
    assert data == b"data" and info["level_id"] == 4
    for kind, user_id in (("teachers", 1), ("learners", 2)):
        with pytest.raises(ImportFileError):
            imports.load_upload(tmp_path, token, kind=kind, user_id=user_id)
    for bad in ("../../etc/passwd", "x", token + "/.."):
        with pytest.raises(ImportFileError):
            imports.load_upload(tmp_path, bad, kind="learners", user_id=1)
    imports.drop_upload(tmp_path, token)
    with pytest.raises(ImportFileError):
        imports.load_upload(tmp_path, token, kind="learners", user_id=1)
    assert list(tmp_path.iterdir()) == []


def test_stale_uploads_expire_and_are_purged(tmp_path: Path, monkeypatch: Any) -> None:
    token = imports.stash_upload(tmp_path, b"data", kind="learners", user_id=1)
    later = time.time() + imports.STASH_TTL_SECONDS + 5
    monkeypatch.setattr(imports.time, "time", lambda: later)
    with pytest.raises(ImportFileError):
        imports.load_upload(tmp_path, token, kind="learners", user_id=1)
    import os

    for path in tmp_path.iterdir():
        os.utime(path, (later - imports.STASH_TTL_SECONDS - 10,) * 2)
    imports.purge_stale_uploads(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_class_count_grows_only_by_new_classes(f: Any) -> None:
    level = f.level()
    before = count(f, ClassGroup)
    data = csv("A;B;01/01/2007;ZCNT;;", "C;D;01/01/2007;ZCNT;;")
    imports.apply_learners(imports.read_learners_csv(data), level, None)
    imports.apply_learners(imports.read_learners_csv(data), level, None)
    assert count(f, ClassGroup) == before + 1
