"""SIECLE and STS-web XML imports (issue 13 §2): the admin's only, like the CSV imports
(403 for every other role: the admin area's existence is no secret)."""

from __future__ import annotations

from tests.access import Case, only

ADMIN = only({"admin": 200}, 403)


def admin(status: int | set[int]) -> dict[str, int | set[int]]:
    return only({"admin": status}, 403)


CASES = [
    Case("admin.import_siecle", "GET", lambda w: "/administration/import/siecle", ADMIN),
    Case(
        "admin.import_siecle",
        "POST",
        lambda w: "/administration/import/siecle",
        admin(422),
        data=lambda w: {},
        note="no file",
    ),
    Case(
        "admin.import_siecle_confirm",
        "POST",
        lambda w: "/administration/import/siecle/" + "x" * 32,
        admin(303),
        data=lambda w: {},
        note="unknown token",
    ),
    Case(
        "admin.import_departures",
        "POST",
        lambda w: "/administration/import/departs",
        admin(422),
        data=lambda w: {"learner_ids": [str(w.learner.id)]},
        note="not confirmed",
    ),
    Case("admin.import_sts", "GET", lambda w: "/administration/import/sts", ADMIN),
    Case(
        "admin.import_sts",
        "POST",
        lambda w: "/administration/import/sts",
        admin(422),
        data=lambda w: {},
        note="no file",
    ),
    Case(
        "admin.import_sts_confirm",
        "POST",
        lambda w: "/administration/import/sts/" + "x" * 32,
        admin(303),
        data=lambda w: {},
        note="unknown token",
    ),
]
