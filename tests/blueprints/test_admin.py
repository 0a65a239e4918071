"""The admin area through its pages: school settings, accounts, levels and classes, CSV
imports (preview, import, report, bad files), GDPR export and erasure, the audit log, an
assessment's history for its teacher; and sessions that end (logout, password change,
deactivation, idle and absolute timeouts)."""

from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from flask import Flask
from sqlalchemy import func, select

from app.models import (
    AssessmentItem,
    AssessmentItemChange,
    AuditLog,
    ClassGroup,
    Learner,
    Level,
    School,
    Teacher,
    User,
)
from app.models.base import utcnow
from app.services import audit
from tests.access.admin import PNG
from tests.factories import PASSWORD
from tests.services.test_gdpr import fill

XSS = '<script>alert("x")</script>'
COOKIE = "passerelle_session"


def _count(f: Any, model: Any, *where: Any) -> int:
    return f.s.scalar(select(func.count()).select_from(model).where(*where)) or 0


def _text(response: Any) -> str:
    return response.get_data(as_text=True)


# --- home and school settings ------------------------------------------------------------------


def test_admin_home_links_to_every_admin_page(f: Any, login_as: Any) -> None:
    page = _text(login_as(f.admin()).get("/administration"))
    for href in (
        "/administration/etablissement",
        "/administration/comptes",
        "/administration/niveaux",
        "/administration/import/apprenants",
        "/administration/import/enseignants",
        "/administration/journal",
    ):
        assert f'href="{href}"' in page
    assert page.count('<li class="card admin-link">') == 6


def test_school_settings_with_a_logo(f: Any, login_as: Any, app: Flask) -> None:
    admin = f.admin()
    client = login_as(admin)
    response = client.post(
        "/administration/etablissement",
        data={
            "name": "Lycée Jean Jaurès",
            "uai": "0350001a",
            "postal_code": "35000",
            "city": "Rennes",
            "address": "1 rue de la Paix",
            "logo": (io.BytesIO(PNG), "mon logo.png"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    school = f.s.scalar(select(School))
    assert school.name == "Lycée Jean Jaurès" and school.uai == "0350001A"
    assert school.logo_file.startswith("school-") and "logo" not in school.logo_file
    stored = Path(app.config["UPLOAD_DIR"]) / school.logo_file
    assert stored.read_bytes() == PNG
    image = login_as(f.learner()).get("/administration/etablissement/logo")
    assert image.status_code == 200 and image.mimetype == "image/png" and image.data == PNG
    # Replacing the logo removes the old file once committed.
    client.post(
        "/administration/etablissement",
        data={"name": "Lycée Jean Jaurès", "logo": (io.BytesIO(PNG), "nouveau.png")},
        content_type="multipart/form-data",
    )
    f.s.refresh(school)
    assert not stored.exists() and (Path(app.config["UPLOAD_DIR"]) / school.logo_file).exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"<svg xmlns='http://www.w3.org/2000/svg'></svg>", "PNG ou JPEG sont acceptées"),
        (b"\x89PNG\r\n\x1a\n" + b"garbage" * 10, "pas une image PNG ou JPEG valide"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 20, "pas une image PNG ou JPEG valide"),
        (b"MZ\x90\x00 executable", "PNG ou JPEG sont acceptées"),
    ],
)
def test_bad_images_are_refused_and_input_kept(
    f: Any, login_as: Any, content: bytes, message: str
) -> None:
    response = login_as(f.admin()).post(
        "/administration/etablissement",
        data={"name": "Lycée Condorcet", "city": "Rennes", "stamp": (io.BytesIO(content), "t.png")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    page = _text(response)
    assert message in page and 'value="Lycée Condorcet"' in page


def test_school_settings_bad_input_is_422_and_escaped(f: Any, login_as: Any) -> None:
    response = login_as(f.admin()).post(
        "/administration/etablissement",
        data={"name": XSS, "uai": "ABC", "postal_code": "35", "email": "x"},
    )
    assert response.status_code == 422
    page = _text(response)
    assert "7 chiffres suivis d&#39;une lettre" in page
    assert XSS not in page and "&lt;script&gt;" in page


def test_logo_route_is_404_without_a_logo_and_never_serves_other_files(
    f: Any, login_as: Any
) -> None:
    f.school(name="Lycée", logo_file="../secret_key")
    assert login_as(f.admin()).get("/administration/etablissement/logo").status_code == 404


# --- accounts ----------------------------------------------------------------------------------


def test_accounts_list_filters_and_counts(f: Any, login_as: Any) -> None:
    w = f.world()
    client = login_as(w.admin)
    page = _text(client.get("/administration/comptes?role=teacher"))
    assert w.teacher.sort_name in page and w.learner.sort_name not in page
    assert w.level.name in page  # the teacher's levels
    page = _text(client.get("/administration/comptes?role=learner&q=" + w.learner.last_name))
    assert w.learner.sort_name in page and w.classmate.sort_name not in page
    assert w.class_group.name in page
    page = _text(client.get("/administration/comptes?role=nonsense&page=abc&etat=zzz"))
    assert w.teacher.sort_name in page


@pytest.mark.parametrize(
    ("url", "make"),
    [
        ("/administration/comptes", "users"),
        ("/administration/niveaux", "levels"),
        ("/administration/journal", "audit"),
    ],
)
def test_list_pages_run_a_fixed_number_of_queries(
    f: Any, login_as: Any, count_queries: Any, url: str, make: str
) -> None:
    admin = f.admin()
    client = login_as(admin)

    def grow(n: int) -> None:
        for _ in range(n):
            level = f.level()
            group = f.class_group(level)
            f.teacher([level])
            learner = f.learner(group)
            audit.record(admin, "account.updated", "user", learner.id, learner_id=learner.id)
        f.s.flush()

    grow(2)
    client.get(url)  # warm the per-process caches (templates)
    with count_queries() as small:
        assert client.get(url).status_code == 200
    grow(25)
    with count_queries() as large:
        assert client.get(url).status_code == 200
    assert small.count == large.count, (make, small.statements, large.statements)


def test_create_a_teacher_shows_the_one_time_link(f: Any, login_as: Any) -> None:
    w = f.world()
    response = login_as(w.admin).post(
        "/administration/comptes/nouveau",
        data={
            "kind": "teacher",
            "last_name": "Martin",
            "first_name": "Claire",
            "email": "Claire.Martin@exemple.fr",
            "level_ids": [str(w.level.id), str(w.other_level.id)],
        },
    )
    assert response.status_code == 200
    page = _text(response)
    assert "Compte créé" in page and "/invitation/" in page
    teacher = f.s.scalar(select(Teacher).where(Teacher.email == "claire.martin@exemple.fr"))
    assert {level.id for level in teacher.levels} == {w.level.id, w.other_level.id}


def test_create_a_master(f: Any, login_as: Any) -> None:
    w = f.world()
    response = login_as(w.admin).post(
        "/administration/comptes/nouveau",
        data={
            "kind": "master",
            "last_name": "Dupont",
            "first_name": "Paul",
            "email": "paul@garage.fr",
            "company_name": "Garage Dupont",
        },
    )
    assert response.status_code == 200 and "Maître d&#39;apprentissage" in _text(response)
    master = f.s.scalar(select(User).where(User.email == "paul@garage.fr"))
    assert master.is_master and master.company_name == "Garage Dupont"


def test_create_account_errors_keep_what_was_typed(f: Any, login_as: Any) -> None:
    w = f.world()
    client = login_as(w.admin)
    response = client.post(
        "/administration/comptes/nouveau",
        data={
            "kind": "teacher",
            "last_name": XSS,
            "first_name": "Claire",
            "email": w.learner.email,
        },
    )
    assert response.status_code == 422
    page = _text(response)
    assert "déjà celle d&#39;un autre compte" in page
    assert "&lt;script&gt;" in page and XSS not in page
    for data in (
        {"kind": "student", "last_name": "A", "first_name": "B", "email": "a@b.fr"},
        {"kind": "teacher", "last_name": "A", "first_name": "B", "email": "a@b.fr",
         "level_ids": ["abc"]},
        {"kind": "teacher", "last_name": "A", "first_name": "B", "email": "a@b.fr",
         "level_ids": ["999999"]},
    ):  # fmt: skip
        response = client.post("/administration/comptes/nouveau", data=data)
        assert response.status_code == 422, data
        assert "Not a valid" not in _text(response)  # French messages only


def test_edit_a_learner(f: Any, login_as: Any) -> None:
    w = f.world()
    url = f"/administration/comptes/{w.learner.id}"
    page = _text(login_as(w.admin).get(url))
    assert "Exporter ses données" in page and "Effacer ses données" in page
    response = login_as(w.admin).post(
        url,
        data={
            "last_name": "Garay",
            "first_name": "Inès",
            "email": "",
            "class_group_id": str(w.other_class.id),
            "learner_status": "apprentice",
            "birth_date": "2007-05-14",
        },
    )
    assert response.status_code == 303
    f.s.refresh(w.learner)
    assert w.learner.class_group_id == w.other_class.id and w.learner.email is None
    assert w.learner.learner_status == "apprentice"
    response = login_as(w.admin).post(
        url, data={"last_name": "Garay", "first_name": "Inès", "class_group_id": "abc"}
    )
    assert response.status_code == 422


def test_unknown_account_is_404(f: Any, login_as: Any) -> None:
    assert login_as(f.admin()).get("/administration/comptes/999999").status_code == 404


def test_password_link_for_an_existing_account(f: Any, login_as: Any) -> None:
    w = f.world()
    response = login_as(w.admin).post(f"/administration/comptes/{w.teacher.id}/lien-mot-de-passe")
    assert response.status_code == 200 and "/invitation/" in _text(response)


# --- sessions ----------------------------------------------------------------------------------


def _signed_in(app: Flask, user: User) -> Any:
    client = app.test_client()
    response = client.post("/connexion", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 302, _text(response)
    return client


def _copy(app: Flask, client: Any) -> Any:
    """A second browser holding a copy of the first one's cookie."""
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None
    thief = app.test_client()
    thief.set_cookie(COOKIE, cookie.value)
    return thief


def _is_signed_in(client: Any) -> bool:
    response = client.get("/compte/mot-de-passe")
    return response.status_code == 200


def test_login_sets_a_permanent_cookie(f: Any, app: Flask) -> None:
    user = f.teacher([f.level()], password=PASSWORD)
    client = app.test_client()
    response = client.post("/connexion", data={"email": user.email, "password": PASSWORD})
    header = response.headers.get("Set-Cookie", "")
    assert COOKIE in header and "Expires=" in header and "HttpOnly" in header


def test_copied_cookie_stops_working_after_logout(f: Any, app: Flask) -> None:
    user = f.teacher([f.level()], password=PASSWORD)
    client = _signed_in(app, user)
    thief = _copy(app, client)
    assert _is_signed_in(thief)
    client.post("/deconnexion")
    assert not _is_signed_in(thief)


def test_copied_cookie_stops_working_after_password_change(f: Any, app: Flask) -> None:
    user = f.teacher([f.level()], password=PASSWORD)
    client = _signed_in(app, user)
    thief = _copy(app, client)
    response = client.post(
        "/compte/mot-de-passe",
        data={
            "current": PASSWORD,
            "new": "another long password",
            "confirm": "another long password",
        },
    )
    assert response.status_code == 302
    assert _is_signed_in(client)  # this device got a fresh cookie
    assert not _is_signed_in(thief)


def test_copied_cookie_stops_working_after_deactivation(f: Any, app: Flask, login_as: Any) -> None:
    w = f.world()
    user = f.teacher([w.level], password=PASSWORD)
    client = _signed_in(app, user)
    thief = _copy(app, client)
    response = login_as(w.admin).post(f"/administration/comptes/{user.id}/desactiver")
    assert response.status_code == 303
    assert not _is_signed_in(thief) and not _is_signed_in(client)
    # Reactivated, the old cookies still do not come back to life.
    login_as(w.admin).post(f"/administration/comptes/{user.id}/reactiver")
    assert not _is_signed_in(thief)
    assert _is_signed_in(_signed_in(app, user))


def test_idle_timeout_signs_out(f: Any, app: Flask) -> None:
    user = f.teacher([f.level()], password=PASSWORD)
    client = _signed_in(app, user)
    assert _is_signed_in(client)
    idle = app.config["SESSION_IDLE_TIMEOUT"]
    with client.session_transaction() as session:
        session["seen"] = (datetime.now(UTC) - idle - timedelta(minutes=1)).timestamp()
    response = client.get("/compte/mot-de-passe")
    assert response.status_code == 302 and "/connexion" in response.headers["Location"]


def test_absolute_timeout_signs_out_even_an_active_session(f: Any, app: Flask) -> None:
    user = f.teacher([f.level()], password=PASSWORD)
    client = _signed_in(app, user)
    lifetime = app.config["PERMANENT_SESSION_LIFETIME"]
    with client.session_transaction() as session:
        session["login_at"] = (datetime.now(UTC) - lifetime - timedelta(minutes=1)).timestamp()
        session["seen"] = datetime.now(UTC).timestamp()  # active a second ago
    assert not _is_signed_in(client)


def test_a_new_login_is_not_killed_by_an_old_idle_stamp(f: Any, app: Flask) -> None:
    user = f.teacher([f.level()], password=PASSWORD)
    client = _signed_in(app, user)
    client.post("/deconnexion")
    with client.session_transaction() as session:
        session["seen"] = (datetime.now(UTC) - timedelta(days=2)).timestamp()
    client.post("/connexion", data={"email": user.email, "password": PASSWORD})
    assert _is_signed_in(client)


# --- GDPR: export and erasure ------------------------------------------------------------------


def test_export_downloads_a_zip_of_this_learner_only(f: Any, login_as: Any) -> None:
    w = f.world()
    fill(f, w.portfolio, "Zephyrin", completed=False)
    fill(f, w.classmate_portfolio, "Quillevere", completed=True)
    response = login_as(w.admin).get(f"/administration/apprenants/{w.learner.id}/export.zip")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"] == "no-store"
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    data = json.loads(archive.read("data.json"))
    assert data["learner"]["id"] == w.learner.id
    blob = response.data.decode("latin-1") + json.dumps(data, ensure_ascii=False)
    assert "Zephyrin" in json.dumps(data, ensure_ascii=False)
    assert "Quillevere" not in blob and w.classmate.last_name not in blob
    assert _count(f, AuditLog, AuditLog.action == "learner.exported") == 1


def test_export_of_a_teacher_id_is_404(f: Any, login_as: Any) -> None:
    w = f.world()
    url = f"/administration/apprenants/{w.teacher.id}/export.zip"
    assert login_as(w.admin).get(url).status_code == 404


def test_erasure_needs_confirmation_then_deletes(f: Any, login_as: Any) -> None:
    w = f.world()
    filled = fill(f, w.portfolio, "Zephyrin", completed=False)
    learner_id, classmate_id = w.learner.id, w.classmate.id
    client = login_as(w.admin)
    url = f"/administration/apprenants/{learner_id}/effacer"
    page = _text(client.get(url))
    assert "Suppression définitive" in page and "2 pièces jointes" in page
    response = client.post(url, data={})
    assert response.status_code == 422 and "Cochez la case" in _text(response)
    assert f.s.get(Learner, learner_id) is not None
    response = client.post(url, data={"confirm": "y"})
    assert response.status_code == 303
    f.s.expire_all()
    assert f.s.get(Learner, learner_id) is None
    assert not any(path.exists() for path in filled.files)
    assert f.s.get(Learner, classmate_id) is not None


def test_erasure_anonymises_when_an_assessment_is_completed(f: Any, login_as: Any) -> None:
    w = f.world()
    fill(f, w.portfolio, "Zephyrin", completed=True)
    client = login_as(w.admin)
    url = f"/administration/apprenants/{w.learner.id}/effacer"
    assert "Anonymisation" in _text(client.get(url))
    response = client.post(url, data={"confirm": "y"})
    assert response.status_code == 303
    page = _text(client.get(response.headers["Location"]))
    assert f"Apprenant ANONYMISÉ #{w.learner.id}" in page and "Compte anonymisé" in page
    # Erasing again is refused politely, not a 500.
    assert client.post(url, data={"confirm": "y"}).status_code == 303


# --- levels and classes ------------------------------------------------------------------------


def test_create_level_and_class(f: Any, login_as: Any) -> None:
    admin = f.admin()
    client = login_as(admin)
    framework = f.framework("BACPRO-CIEL")
    page = _text(client.get("/administration/niveaux"))
    assert framework.short_title in page
    response = client.post(
        "/administration/niveaux",
        data={"name": "ZSeconde CIEL", "framework_id": str(framework.id), "position": "3"},
    )
    assert response.status_code == 303
    level = f.s.scalar(select(Level).where(Level.name == "ZSeconde CIEL"))
    assert level.framework_id == framework.id and level.position == 3
    response = client.post(
        "/administration/classes", data={"name": "Z2CIEL", "level_id": str(level.id)}
    )
    assert response.status_code == 303
    assert f.s.scalar(select(ClassGroup).where(ClassGroup.name == "Z2CIEL")).level_id == level.id
    page = _text(client.get("/administration/niveaux"))
    assert "ZSeconde CIEL" in page and "Z2CIEL" in page


@pytest.mark.parametrize(
    ("url", "data", "message"),
    [
        ("/administration/niveaux", {"name": "", "framework_id": "None"}, "Indiquez le nom"),
        ("/administration/niveaux", {"name": "X", "framework_id": "None"}, "diplôme préparé"),
        ("/administration/niveaux", {"name": "X", "framework_id": "999999"}, "pas un choix valide"),
        ("/administration/niveaux", {"name": "X", "framework_id": "abc"}, "Choix non valide"),
        ("/administration/niveaux", {"name": "X", "position": "-4"}, "entre 0 et 999"),
        ("/administration/classes", {"name": "", "level_id": "None"}, "Indiquez le nom"),
        ("/administration/classes", {"name": "x" * 41, "level_id": "None"}, "40"),
    ],
)
def test_level_and_class_bad_input(
    f: Any, login_as: Any, url: str, data: dict[str, str], message: str
) -> None:
    response = login_as(f.admin()).post(url, data=data)
    assert response.status_code == 422
    assert message in _text(response)


def test_duplicate_names_and_framework_change_with_periods_are_refused(
    f: Any, login_as: Any
) -> None:
    w = f.world()
    client = login_as(w.admin)
    response = client.post(
        "/administration/niveaux",
        data={"name": w.level.name.upper(), "framework_id": str(w.level.framework_id)},
    )
    assert response.status_code == 422 and "Un niveau porte déjà ce nom" in _text(response)
    response = client.post(
        "/administration/classes", data={"name": w.class_group.name, "level_id": str(w.level.id)}
    )
    assert response.status_code == 422 and "Une classe porte déjà ce nom" in _text(response)
    other = f.framework("BACPRO-CIEL")
    response = client.post(
        f"/administration/niveaux/{w.level.id}",
        data={"name": w.level.name, "framework_id": str(other.id), "position": "0"},
    )
    assert response.status_code == 422 and "déjà des périodes" in _text(response)
    response = client.post(
        f"/administration/niveaux/{w.level.id}",
        data={"name": "ZRenamed", "framework_id": str(w.level.framework_id), "position": "2"},
    )
    assert response.status_code == 303
    f.s.refresh(w.level)
    assert w.level.name == "ZRenamed"


# --- CSV imports -------------------------------------------------------------------------------

LEARNERS = "Nom;Prénom;Date de naissance;Classe;Statut;E-mail\n"


def _upload(client: Any, url: str, content: bytes, **data: Any) -> Any:
    return client.post(
        url,
        data={"file": (io.BytesIO(content), "export.csv"), **data},
        content_type="multipart/form-data",
    )


def _confirm_url(page: str) -> str:
    marker = 'action="/administration/import/'
    start = page.index(marker) + len('action="')
    return page[start : page.index('"', start)]


def test_learner_import_preview_then_import_then_reimport(f: Any, login_as: Any) -> None:
    w = f.world()
    client = login_as(w.admin)
    content = (
        LEARNERS
        + "ZGARAY;Inès;14/05/2007;ZTMELEC;scolaire;ines@exemple.fr\n"
        + f"ZBAD;{XSS};31/02/2007;ZTMELEC;;\n"
        + f"{w.learner.last_name};{w.learner.first_name};14/05/2007;{w.class_group.name};;\n"
    ).encode("cp1252", errors="replace")
    before = _count(f, Learner)
    response = _upload(
        client, "/administration/import/apprenants", content, level_id=str(w.level.id)
    )
    assert response.status_code == 200
    page = _text(response)
    assert "Aperçu" in page and "Rien n'est encore enregistré" in page
    assert "créé" in page and "rejeté" in page and "date de naissance invalide" in page
    assert "ZTMELEC" in page and XSS not in page and "&lt;script&gt;" in page
    assert _count(f, Learner) == before  # nothing written by the preview
    response = client.post(_confirm_url(page))
    assert response.status_code == 200
    report = _text(response)
    assert "Import des apprenants terminé" in report and "Lignes rejetées" in report
    assert _count(f, Learner) == before + 2  # the third line matches no key: w.learner has none
    ines = f.s.scalar(select(Learner).where(Learner.last_name == "ZGARAY"))
    assert ines.class_group.level_id == w.level.id
    # The same file again: nothing to do, and nothing offered.
    again = _text(
        _upload(client, "/administration/import/apprenants", content, level_id=str(w.level.id))
    )
    assert "inchangé" in again and "Aucune ligne à enregistrer" in again
    assert 'action="/administration/import/' not in again
    assert _count(f, Learner) == before + 2
    # Confirming the first upload twice: the file is gone, a clear message, no 500.
    response = client.post(_confirm_url(page), follow_redirects=True)
    assert response.status_code == 200 and "n&#39;est plus disponible" in _text(response)


def test_another_admin_cannot_confirm_my_upload(f: Any, login_as: Any) -> None:
    w = f.world()
    page = _text(
        _upload(login_as(w.admin), "/administration/import/apprenants",
                (LEARNERS + "ZA;B;01/01/2007;ZC1;;\n").encode(), level_id=str(w.level.id))
    )  # fmt: skip
    response = login_as(f.admin()).post(_confirm_url(page))
    assert response.status_code == 303
    assert f.s.scalar(select(Learner).where(Learner.last_name == "ZA")) is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "Le fichier est vide"),
        (b"\n\n  \n", "vide"),
        (PNG, "binaire"),
        (b"PK\x03\x04" + b"\x00" * 30, "classeur"),
        (b"Nom;Pr\xe9nom\n\x81\x8d;\x90\n", "Encodage"),
        (b"Nom;Classe\nA;B\n", "Colonnes manquantes"),
        (LEARNERS.encode(), "que la ligne des titres"),
        (b"Nom;Pr\xc3\xa9nom;Date de naissance;Classe\n" + b"A;B;01/01/2007;C\n" * 160_000,
         "trop volumineux"),
    ],
)  # fmt: skip
def test_bad_files_are_refused_with_a_reason_and_nothing_written(
    f: Any, login_as: Any, content: bytes, message: str
) -> None:
    admin = f.admin()
    before = (_count(f, Learner), _count(f, ClassGroup), _count(f, AuditLog))
    response = _upload(login_as(admin), "/administration/import/apprenants", content)
    assert response.status_code == 422
    assert message in _text(response)
    assert (_count(f, Learner), _count(f, ClassGroup), _count(f, AuditLog)) == before


def test_a_file_above_the_request_limit_is_413_not_500(f: Any, login_as: Any, app: Flask) -> None:
    huge = b"A" * (app.config["MAX_CONTENT_LENGTH"] + 10)
    response = _upload(login_as(f.admin()), "/administration/import/apprenants", huge)
    assert response.status_code == 413 and "trop volumineux" in _text(response)


def test_teacher_import_flow(f: Any, login_as: Any) -> None:
    w = f.world()
    client = login_as(w.admin)
    content = (
        "Nom,Prénom,E-mail,Niveaux\n"
        f'ZMARTIN,Claire,zclaire@exemple.fr,"{w.level.name}"\n'
        "ZDURAND,Paul,,\n"
    ).encode()
    page = _text(_upload(client, "/administration/import/enseignants", content))
    assert "à créer" in page and "adresse e-mail manquante" in page
    report = _text(client.post(_confirm_url(page)))
    assert "Import des enseignants terminé" in report
    teacher = f.s.scalar(select(Teacher).where(Teacher.email == "zclaire@exemple.fr"))
    assert [level.id for level in teacher.levels] == [w.level.id]


# --- audit log ---------------------------------------------------------------------------------


def test_audit_log_filters_paginates_and_escapes(f: Any, login_as: Any) -> None:
    w = f.world()
    for i in range(55):
        audit.record(w.admin, "account.updated", "user", w.learner.id, learner_id=w.learner.id,
                     note=f"n{i}")  # fmt: skip
    audit.record(w.teacher, "assessment.completed", "assessment", w.assessment.id,
                 learner_id=w.classmate.id, comment=XSS)  # fmt: skip
    client = login_as(w.admin)
    page = _text(client.get("/administration/journal"))
    assert "Page 1 sur 2" in page and "Bilan finalisé" in page
    assert XSS not in page and "&lt;script&gt;" in page
    page = _text(client.get(f"/administration/journal?apprenant={w.classmate.id}"))
    assert "<td>Bilan finalisé</td>" in page and "<td>Compte modifié</td>" not in page
    page = _text(client.get("/administration/journal?action=account.updated&page=2"))
    assert "Page 2 sur 2" in page and "<td>Bilan finalisé</td>" not in page
    for query in ("?page=-3", "?page=x", "?apprenant=abc", "?action=" + "x" * 500, "?objet=%00"):
        assert client.get("/administration/journal" + query).status_code == 200


def test_assessment_history_for_its_teacher(f: Any, login_as: Any) -> None:
    w = f.world()
    item = AssessmentItem(
        assessment_id=w.assessment.id, item_key="engagement", kind="engagement", value="4",
        version=2, author_id=w.tutor.id, author_role="tutor", server_time=utcnow(),
    )  # fmt: skip
    f.s.add(item)
    f.s.flush()
    for value, previous in (("3", None), ("4", "3")):
        f.s.add(
            AssessmentItemChange(
                item_id=item.id, change_uuid=str(uuid4()), value=value, previous_value=previous,
                author_id=w.tutor.id, author_role="tutor", resulting_version=1, via_sync=True,
            )
        )  # fmt: skip
    audit.record(w.teacher, "assessment.completed", "assessment", w.assessment.id)
    f.s.flush()
    response = login_as(w.teacher).get(f"/bilans/{w.assessment.id}/journal")
    assert response.status_code == 200
    page = _text(response)
    assert "Historique du bilan" in page and "Engagement (étoiles)" in page
    assert w.tutor.full_name in page and "hors ligne" in page and "Bilan finalisé" in page
    assert "★★★★" in page
    assert login_as(w.other_teacher).get(f"/bilans/{w.assessment.id}/journal").status_code == 404


# --- command line ------------------------------------------------------------------------------


def test_cli_imports_learners_and_teachers(f: Any, app: Flask, tmp_path: Path) -> None:
    level = f.level(name="ZCLI Niveau")
    learners = tmp_path / "eleves.csv"
    learners.write_bytes((LEARNERS + "ZCLI;Inès;14/05/2007;ZCLI1;;\nZX;Y;bad;ZCLI1;;\n").encode())
    runner = app.test_cli_runner()
    result = runner.invoke(args=["learners", "import", str(learners), "--level", level.name])
    assert result.exit_code == 0, result.output
    assert "1 créé(s)" in result.output and "ligne 3" in result.output
    assert f.s.scalar(select(Learner).where(Learner.last_name == "ZCLI")) is not None
    teachers = tmp_path / "profs.csv"
    teachers.write_text(f"Nom;Prénom;E-mail;Niveaux\nZP;Q;zpq@exemple.fr;{level.name}\n")
    result = runner.invoke(args=["teachers", "import", str(teachers), "--dry-run"])
    assert result.exit_code == 0 and "Simulation" in result.output
    bad = tmp_path / "bad.csv"
    bad.write_bytes(PNG)
    result = runner.invoke(args=["learners", "import", str(bad)])
    assert result.exit_code != 0 and "binaire" in result.output
    result = runner.invoke(args=["learners", "import", str(learners), "--level", "Inconnu"])
    assert result.exit_code != 0 and "Niveau inconnu" in result.output


def test_nul_and_control_characters_never_reach_the_database(f: Any, login_as: Any) -> None:
    w = f.world()
    client = login_as(w.admin)
    response = client.post(
        "/administration/comptes/nouveau",
        data={"kind": "teacher", "last_name": "Mar\x00tin", "first_name": "Cl\x07aire",
              "email": "zctrl@exemple.fr"},
    )  # fmt: skip
    assert response.status_code == 200
    teacher = f.s.scalar(select(Teacher).where(Teacher.email == "zctrl@exemple.fr"))
    assert (teacher.last_name, teacher.first_name) == ("Martin", "Claire")
    for url in ("/administration/comptes?q=%00", "/administration/journal?action=%00"):
        assert client.get(url).status_code == 200
    content = "Nom;Prénom;Date de naissance;Classe\nA;B;01/01/2007;C\x00\n".encode("utf-16")
    assert _upload(client, "/administration/import/apprenants", content).status_code == 422


def test_edit_a_teacher_and_a_master(f: Any, login_as: Any) -> None:
    w = f.world()
    client = login_as(w.admin)
    page = _text(client.get(f"/administration/comptes/{w.teacher.id}"))
    checked = re.findall(
        r'<input checked id="level_ids-\d+" name="level_ids" type="checkbox" value="(\d+)"', page
    )
    assert checked == [str(w.level.id)]
    response = client.post(
        f"/administration/comptes/{w.teacher.id}",
        data={
            "last_name": w.teacher.last_name,
            "first_name": "Marc",
            "email": w.teacher.email,
            "level_ids": [str(w.other_level.id)],
        },
    )
    assert response.status_code == 303
    f.s.refresh(w.teacher)
    assert [level.id for level in w.teacher.levels] == [w.other_level.id]
    response = client.post(
        f"/administration/comptes/{w.master.id}",
        data={
            "last_name": w.master.last_name,
            "first_name": w.master.first_name,
            "email": w.master.email,
            "company_name": "Garage <b>Dupont</b>",
        },
    )
    assert response.status_code == 303
    page = _text(client.get(f"/administration/comptes/{w.master.id}"))
    assert "Garage &lt;b&gt;Dupont&lt;/b&gt;" in page
