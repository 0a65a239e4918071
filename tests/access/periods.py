"""Periods area: root annexes, create / edit / delete a period (teachers of the level only)."""

from __future__ import annotations

from typing import Any

from tests.access import LOGIN, Case, only


def _annex(w: Any, f: Any) -> None:
    from app.models import PedagogicalAnnex

    w.annex = PedagogicalAnnex(level_id=w.level.id, name="Annexe PFMP", objectives="Découvrir")
    f.s.add(w.annex)
    f.s.flush()


def _period_data(w: Any) -> dict[str, Any]:
    return {
        "name": "PFMP 2",
        "start_date": "2026-09-07",
        "end_date": "2026-09-25",
        "learner_ids": [w.learner.id],
        "objectives": "Objectifs",
        "activities": "Activités",
    }


def _edit_data(w: Any) -> dict[str, Any]:
    return {
        "name": w.period.name,
        "start_date": w.period.start_date.isoformat(),
        "end_date": w.period.end_date.isoformat(),
        "learner_ids": [w.learner.id, w.classmate.id],
        "objectives": "Nouveaux objectifs",
        "activities": "Nouvelles activités",
    }


TEACHER_ONLY = only({"teacher": 200})

CASES = [
    Case("periods.annexes", "GET", lambda w: f"/niveaux/{w.level.id}/annexes", TEACHER_ONLY),
    Case(
        "periods.annex_new",
        "GET",
        lambda w: f"/niveaux/{w.level.id}/annexes/nouvelle",
        TEACHER_ONLY,
    ),
    Case(
        "periods.annex_new",
        "POST",
        lambda w: f"/niveaux/{w.level.id}/annexes/nouvelle",
        only({"teacher": 303}),
        data=lambda w: {"name": "Annexe", "objectives": "Obj", "activities": "Act"},
    ),
    Case(
        "periods.annex_new",
        "GET",
        lambda w: f"/niveaux/{w.other_level.id}/annexes/nouvelle",
        only({}),
        note="other level",
    ),
    Case(
        "periods.annex_edit",
        "GET",
        lambda w: f"/annexes/{w.annex.id}",
        TEACHER_ONLY,
        setup=_annex,
    ),
    Case(
        "periods.annex_edit",
        "POST",
        lambda w: f"/annexes/{w.annex.id}",
        only({"teacher": 303}),
        data=lambda w: {"name": "Annexe modifiée"},
        setup=_annex,
    ),
    Case(
        "periods.annex_delete",
        "POST",
        lambda w: f"/annexes/{w.annex.id}/supprimer",
        only({"teacher": 303}),
        setup=_annex,
    ),
    Case(
        "periods.period_new",
        "GET",
        lambda w: f"/niveaux/{w.level.id}/periodes/nouvelle",
        TEACHER_ONLY,
    ),
    Case(
        "periods.period_new",
        "POST",
        lambda w: f"/niveaux/{w.level.id}/periodes/nouvelle",
        only({"teacher": 303}),
        data=_period_data,
    ),
    Case(
        "periods.period_new",
        "POST",
        lambda w: f"/niveaux/{w.other_level.id}/periodes/nouvelle",
        only({}),
        data=_period_data,
        note="other level",
    ),
    Case(
        "periods.period_edit",
        "GET",
        lambda w: f"/periodes/{w.period.id}/parametres",
        TEACHER_ONLY,
    ),
    Case(
        "periods.period_edit",
        "POST",
        lambda w: f"/periodes/{w.period.id}/parametres",
        only({"teacher": 303}),
        data=_edit_data,
    ),
    Case(
        "periods.period_edit",
        "GET",
        lambda w: f"/periodes/{w.other_period.id}/parametres",
        only({}),
        note="other level",
    ),
    Case(
        "periods.period_delete",
        "GET",
        lambda w: f"/periodes/{w.period.id}/supprimer",
        TEACHER_ONLY,
    ),
    Case(
        "periods.period_delete",
        "POST",
        lambda w: f"/periodes/{w.period.id}/supprimer",
        only({"teacher": 303}),
    ),
    Case(
        "periods.period_delete",
        "POST",
        lambda w: f"/periodes/{w.other_period.id}/supprimer",
        only({}),
        note="other level",
    ),
]

__all__ = ["CASES", "LOGIN"]
