"""Admin area (issue 9): every page is the admin's only (403 for other roles: the admin
area's existence is no secret); an assessment's history is its teachers' and the admin's
(404 for everyone else); the school logo is shown to every signed-in user."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from flask import current_app

from tests.access import Case, everyone, only

ADMIN = only({"admin": 200}, 403)
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f"
    b"\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x03\x00\x08\xfc\x02\xfe\xa7\x9a\xa0\xa0\x00"
    b"\x00\x00\x00IEND\xaeB`\x82"
)


def with_images(w: Any, f: Any) -> None:
    upload = Path(current_app.config["UPLOAD_DIR"])
    upload.mkdir(parents=True, exist_ok=True)
    for attr in ("logo_file", "stamp_file"):
        name = f"school-{secrets.token_hex(16)}.png"
        (upload / name).write_bytes(PNG)
        setattr(w.school, attr, name)
    f.s.flush()


def admin(status: int | set[int]) -> dict[str, int | set[int]]:
    return only({"admin": status}, 403)


CASES = [
    Case("admin.school_settings", "GET", lambda w: "/administration/etablissement", ADMIN),
    Case(
        "admin.school_settings",
        "POST",
        lambda w: "/administration/etablissement",
        admin(422),
        data=lambda w: {"name": "", "uai": "x"},
    ),
    Case(
        "admin.school_logo",
        "GET",
        lambda w: "/administration/etablissement/logo",
        everyone(200),
        setup=with_images,
    ),
    Case(
        "admin.school_logo",
        "GET",
        lambda w: "/administration/etablissement/logo",
        everyone(404),
        note="no logo",
    ),
    Case(
        "admin.school_stamp",
        "GET",
        lambda w: "/administration/etablissement/tampon",
        ADMIN,
        setup=with_images,
    ),
    Case("admin.accounts_list", "GET", lambda w: "/administration/comptes?role=teacher", ADMIN),
    Case("admin.account_new", "GET", lambda w: "/administration/comptes/nouveau", ADMIN),
    Case(
        "admin.account_new",
        "POST",
        lambda w: "/administration/comptes/nouveau",
        admin(422),
        data=lambda w: {"kind": "teacher", "last_name": "", "first_name": "", "email": "x"},
    ),
    Case(
        "admin.account_edit",
        "GET",
        lambda w: f"/administration/comptes/{w.other_teacher.id}",
        ADMIN,
    ),
    Case(
        "admin.account_edit",
        "POST",
        lambda w: f"/administration/comptes/{w.other_teacher.id}",
        admin(422),
        data=lambda w: {"last_name": "", "first_name": "Claire", "email": "pas-une-adresse"},
    ),
    Case(
        "admin.account_deactivate",
        "POST",
        lambda w: f"/administration/comptes/{w.other_teacher.id}/desactiver",
        admin(303),
        data=lambda w: {},
    ),
    Case(
        "admin.account_reactivate",
        "POST",
        lambda w: f"/administration/comptes/{w.other_teacher.id}/reactiver",
        admin(303),
        data=lambda w: {},
    ),
    Case(
        "admin.account_password_link",
        "POST",
        lambda w: f"/administration/comptes/{w.other_teacher.id}/lien-mot-de-passe",
        admin(200),
        data=lambda w: {},
    ),
    Case(
        "admin.learner_export",
        "GET",
        lambda w: f"/administration/apprenants/{w.learner.id}/export.zip",
        ADMIN,
    ),
    Case(
        "admin.learner_erase",
        "GET",
        lambda w: f"/administration/apprenants/{w.other_learner.id}/effacer",
        ADMIN,
    ),
    Case(
        "admin.learner_erase",
        "POST",
        lambda w: f"/administration/apprenants/{w.other_learner.id}/effacer",
        admin(422),
        data=lambda w: {},
        note="without the confirmation box",
    ),
    Case("admin.structure", "GET", lambda w: "/administration/niveaux", ADMIN),
    Case(
        "admin.level_create",
        "POST",
        lambda w: "/administration/niveaux",
        admin(422),
        data=lambda w: {"name": "", "framework_id": "None"},
    ),
    Case("admin.level_edit", "GET", lambda w: f"/administration/niveaux/{w.level.id}", ADMIN),
    Case(
        "admin.level_edit",
        "POST",
        lambda w: f"/administration/niveaux/{w.level.id}",
        admin(422),
        data=lambda w: {"name": "", "framework_id": "None"},
    ),
    Case(
        "admin.class_create",
        "POST",
        lambda w: "/administration/classes",
        admin(422),
        data=lambda w: {"name": "", "level_id": "None"},
    ),
    Case(
        "admin.class_edit",
        "GET",
        lambda w: f"/administration/classes/{w.class_group.id}",
        ADMIN,
    ),
    Case(
        "admin.class_edit",
        "POST",
        lambda w: f"/administration/classes/{w.class_group.id}",
        admin(422),
        data=lambda w: {"name": "", "level_id": str(w.level.id)},
    ),
    Case("admin.import_learners", "GET", lambda w: "/administration/import/apprenants", ADMIN),
    Case(
        "admin.import_learners",
        "POST",
        lambda w: "/administration/import/apprenants",
        admin(422),
        data=lambda w: {},
        note="no file",
    ),
    Case(
        "admin.import_learners_confirm",
        "POST",
        lambda w: "/administration/import/apprenants/" + "x" * 32,
        admin(303),
        data=lambda w: {},
        note="unknown token",
    ),
    Case("admin.import_teachers", "GET", lambda w: "/administration/import/enseignants", ADMIN),
    Case(
        "admin.import_teachers",
        "POST",
        lambda w: "/administration/import/enseignants",
        admin(422),
        data=lambda w: {},
        note="no file",
    ),
    Case(
        "admin.import_teachers_confirm",
        "POST",
        lambda w: "/administration/import/enseignants/" + "x" * 32,
        admin(303),
        data=lambda w: {},
        note="unknown token",
    ),
    Case("admin.audit_log", "GET", lambda w: "/administration/journal", ADMIN),
    Case(
        "admin.assessment_log",
        "GET",
        lambda w: f"/bilans/{w.assessment.id}/journal",
        only({"admin": 200, "teacher": 200}),
    ),
    Case(
        "admin.assessment_log",
        "GET",
        lambda w: f"/bilans/{w.other_assessment.id}/journal",
        only({"admin": 200}),
        note="other level",
    ),
]
