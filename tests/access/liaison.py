"""Liaison sheet, tutor invitation and invitation acceptance.

In the world, `tutor` mentors w.portfolio (learner `learner`) and `master` mentors
w.classmate_portfolio; the master may edit the objectives/activities of their mentee only."""

from __future__ import annotations

from typing import Any

from tests.access import LOGIN, Case, everyone, only

PLACE = {
    "company_name": "Électricité Martin",
    "company_siret": "732 829 320 00074",
    "company_address": "3 rue des Lilas, 35000 Rennes",
    "company_phone": "02 99 12 34 56",
    "tutor_name": "Paul Martin",
    "tutor_role": "Chef d'équipe",
    "tutor_email": "paul.martin@example.org",
    "tutor_phone": "",
}
TUTOR = {
    "first_name": "Paul",
    "last_name": "Martin",
    "email": "paul.martin.access@example.org",
    "phone": "",
    "job_title": "Chef d'équipe",
    "company_name": "Électricité Martin",
}


def _invitation(w: Any, f: Any) -> None:
    from datetime import timedelta

    from app.services.invitations import issue_invitation

    _invitation_row, w.token = issue_invitation(w.teacher, w.tutor, timedelta(days=7))


READ = only({"teacher": 200, "learner": 200, "tutor": 200})
PLAN_WRITE = only({"teacher": 303, "learner": 403, "tutor": 403})
MASTER_WRITE = only({"teacher": 303, "master": 303})
INVITE = only({"teacher": 200, "learner": 403, "tutor": 403})
INVITED = only({"teacher": 303, "learner": 403, "tutor": 403})  # then the link, shown once

CASES = [
    Case("liaison.place", "GET", lambda w: f"/portfolios/{w.portfolio.id}/liaison", READ),
    Case(
        "liaison.place",
        "POST",
        lambda w: f"/portfolios/{w.portfolio.id}/liaison",
        only({"teacher": 303, "learner": 303, "tutor": 403}),
        data=lambda w: PLACE,
    ),
    Case(
        "liaison.place",
        "GET",
        lambda w: f"/portfolios/{w.other_portfolio.id}/liaison",
        only({}),
        note="other level",
    ),
    Case(
        "liaison.objectives",
        "GET",
        lambda w: f"/portfolios/{w.portfolio.id}/liaison/objectifs",
        READ,
    ),
    Case(
        "liaison.objectives",
        "POST",
        lambda w: f"/portfolios/{w.portfolio.id}/liaison/objectifs",
        PLAN_WRITE,
        data=lambda w: {"text": "Objectifs individualisés"},
    ),
    Case(
        "liaison.objectives",
        "POST",
        lambda w: f"/portfolios/{w.classmate_portfolio.id}/liaison/objectifs",
        MASTER_WRITE,
        data=lambda w: {"text": "Objectifs du maître d'apprentissage"},
        note="master's mentee",
    ),
    Case(
        "liaison.activities",
        "GET",
        lambda w: f"/portfolios/{w.portfolio.id}/liaison/activites",
        READ,
    ),
    Case(
        "liaison.activities",
        "GET",
        lambda w: f"/portfolios/{w.classmate_portfolio.id}/liaison/activites",
        only({"teacher": 200, "master": 200}),
        note="master's mentee",
    ),
    Case(
        "liaison.activities",
        "POST",
        lambda w: f"/portfolios/{w.portfolio.id}/liaison/activites",
        PLAN_WRITE,
        data=lambda w: {"text": "Activités individualisées"},
    ),
    Case(
        "liaison.activities",
        "POST",
        lambda w: f"/portfolios/{w.classmate_portfolio.id}/liaison/activites",
        MASTER_WRITE,
        data=lambda w: {"action": "reset"},
        note="master's mentee reset",
    ),
    Case("liaison.tutor", "GET", lambda w: f"/portfolios/{w.portfolio.id}/tuteur", INVITE),
    Case(
        "liaison.tutor",
        "POST",
        lambda w: f"/portfolios/{w.portfolio.id}/tuteur",
        INVITED,
        data=lambda w: TUTOR,
    ),
    Case(
        "liaison.invitation_link",
        "GET",
        lambda w: f"/portfolios/{w.portfolio.id}/tuteur/lien",
        INVITED,
        note="nothing to show: back to the liaison sheet",
    ),
    Case(
        "liaison.invitation_link",
        "GET",
        lambda w: f"/portfolios/{w.other_portfolio.id}/tuteur/lien",
        only({}),
        note="other level",
    ),
    Case(
        "liaison.tutor",
        "GET",
        lambda w: f"/portfolios/{w.other_portfolio.id}/tuteur",
        only({}),
        note="other level",
    ),
    Case(
        "liaison.accept_invitation",
        "GET",
        lambda w: f"/invitation/{w.token}",
        everyone(200, anonymous=200),
        setup=_invitation,
    ),
    Case(
        "liaison.accept_invitation",
        "POST",
        lambda w: f"/invitation/{w.token}",
        everyone(303, anonymous=303),
        data=lambda w: {
            "password": "une phrase assez longue",
            "confirm": "une phrase assez longue",
        },
        setup=_invitation,
    ),
    Case(
        "liaison.accept_invitation",
        "GET",
        lambda w: "/invitation/not-a-real-token",
        everyone(404, anonymous=404),
        note="unknown token",
    ),
]

__all__ = ["CASES", "LOGIN"]
