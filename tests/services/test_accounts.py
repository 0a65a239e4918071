"""Accounts managed by the admin: creation with a password link, search, edition,
deactivation (which ends every session) and reactivation."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.errors import DomainError
from app.models import AuditLog, Invitation, Teacher, Tutor
from app.services import accounts
from app.services.accounts import AccountInput
from app.services.periods import FieldError

TTL = timedelta(days=7)


def _input(**kw: Any) -> AccountInput:
    kw.setdefault("first_name", "Claire")
    kw.setdefault("last_name", "Martin")
    kw.setdefault("email", "claire.martin@exemple.fr")
    return AccountInput(**kw)


def test_create_teacher_with_levels_and_a_password_link(f: Any) -> None:
    admin, level = f.admin(), f.level()
    user, token = accounts.create_account(admin, "teacher", _input(level_ids=[level.id]), TTL)
    assert isinstance(user, Teacher) and [lv.id for lv in user.levels] == [level.id]
    assert user.email == "claire.martin@exemple.fr" and user.password_hash is None
    assert token and len(token) > 30
    invitation = f.s.scalar(select(Invitation).where(Invitation.user_id == user.id))
    assert invitation is not None and invitation.token_hash != token
    assert f.s.scalar(
        select(AuditLog).where(AuditLog.action == "account.created", AuditLog.object_id == user.id)
    )


def test_create_admin_and_master(f: Any) -> None:
    admin = f.admin()
    other, _ = accounts.create_account(admin, "admin", _input(email="a2@exemple.fr"), TTL)
    assert other.role == "admin"
    master, token = accounts.create_account(
        admin, "master", _input(email="m@garage.fr", company_name="Garage Dupont"), TTL
    )
    assert isinstance(master, Tutor) and master.is_master and master.company_name == "Garage Dupont"
    assert token
    with pytest.raises(FieldError) as error:
        accounts.create_account(admin, "master", _input(email="m@garage.fr"), TTL)
    assert error.value.field == "email"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"email": "pas-une-adresse"}, "email"),
        ({"email": ""}, "email"),
        ({"last_name": "  "}, "last_name"),
        ({"first_name": "x" * 81}, "first_name"),
        ({"phone": "abc"}, "phone"),
        ({"level_ids": [999_999]}, "level_ids"),
    ],
)
def test_bad_input_names_the_field(f: Any, data: dict[str, Any], field: str) -> None:
    with pytest.raises(FieldError) as error:
        accounts.create_account(f.admin(), "teacher", _input(**data), TTL)
    assert error.value.field == field


def test_email_already_used_is_refused_case_insensitively(f: Any) -> None:
    learner = f.learner()
    with pytest.raises(FieldError, match="Apprenant"):
        accounts.create_account(f.admin(), "teacher", _input(email=learner.email.upper()), TTL)


def test_search_by_role_name_and_state(f: Any) -> None:
    w = f.world()
    teachers = accounts.search_accounts(role="teacher")
    ids = {line.user.id for line in teachers.lines}
    assert {w.teacher.id, w.other_teacher.id} <= ids and w.learner.id not in ids
    line = next(line for line in teachers.lines if line.user.id == w.teacher.id)
    assert line.detail == w.level.name
    found = accounts.search_accounts(query=w.learner.last_name[:6].lower() + " inès")
    assert w.learner.id in {line.user.id for line in found.lines}
    masters = accounts.search_accounts(role="master")
    assert {line.user.id for line in masters.lines} >= {w.master.id}
    assert w.tutor.id not in {line.user.id for line in masters.lines}
    accounts.set_active(w.admin, w.teacher, False)
    inactive = accounts.search_accounts(role="teacher", active="inactive")
    assert [line.user.id for line in inactive.lines] == [w.teacher.id]
    counts = accounts.role_counts()
    assert counts["teacher"] >= 2 and counts["master"] >= 1 and counts[""] >= 8


def test_search_treats_like_wildcards_literally(f: Any) -> None:
    f.world()
    assert accounts.search_accounts(query="%").total == 0
    assert accounts.search_accounts(query="_").total == 0


def test_search_pages(f: Any) -> None:
    level = f.level()
    for i in range(7):
        f.teacher([level], last_name=f"Zpage{i}")
    page = accounts.search_accounts(role="teacher", query="zpage", per_page=3, page=3)
    assert page.total == 7 and page.pages == 3 and len(page.lines) == 1
    assert accounts.search_accounts(query="zpage", per_page=3, page=99).page == 3


def test_deactivation_ends_sessions_and_revokes_links(f: Any) -> None:
    w = f.world()
    _user, _token = accounts.create_account(w.admin, "teacher", _input(), TTL)
    version = _user.session_version
    accounts.set_active(w.admin, _user, False)
    assert not _user.is_active and _user.session_version == version + 1
    invitation = f.s.scalar(select(Invitation).where(Invitation.user_id == _user.id))
    assert invitation.revoked_at is not None
    with pytest.raises(DomainError):
        accounts.send_password_link(w.admin, _user, TTL)
    accounts.set_active(w.admin, _user, True)
    assert _user.is_active
    actions = list(
        f.s.scalars(
            select(AuditLog.action).where(AuditLog.object_id == _user.id).order_by(AuditLog.id)
        )
    )
    assert actions[-2:] == ["account.deactivated", "account.reactivated"]


def test_admin_cannot_deactivate_themselves(f: Any) -> None:
    admin = f.admin()
    with pytest.raises(DomainError, match="propre compte"):
        accounts.set_active(admin, admin, False)


def test_update_teacher_levels_and_learner_schooling(f: Any) -> None:
    w = f.world()
    changed = accounts.update_account(
        w.admin,
        w.teacher,
        _input(
            first_name=w.teacher.first_name,
            last_name=w.teacher.last_name,
            email=w.teacher.email,
            level_ids=[w.level.id, w.other_level.id],
        ),
    )
    assert changed == ["levels"]
    assert {lv.id for lv in w.teacher.levels} == {w.level.id, w.other_level.id}
    learner = w.learner
    version = learner.session_version
    changed = accounts.update_account(
        w.admin,
        learner,
        _input(
            first_name=learner.first_name,
            last_name=learner.last_name,
            email="nouvelle@exemple.fr",
            class_group_id=w.other_class.id,
            learner_status="apprentice",
            birth_date=date(2007, 1, 1),
        ),
    )
    assert set(changed) == {"email", "class_group_id", "learner_status", "birth_date"}
    assert learner.session_version == version + 1  # sign-in identifier changed
    entry = f.s.scalar(select(AuditLog).where(AuditLog.action == "account.updated").order_by(
        AuditLog.id.desc()))  # fmt: skip
    assert entry.learner_id == learner.id and "class_group_id" in entry.details["fields"]


def test_learner_may_have_no_email_but_a_teacher_must(f: Any) -> None:
    w = f.world()
    accounts.update_account(
        w.admin,
        w.learner,
        _input(first_name="Inès", last_name="Garay", email="", learner_status="pupil"),
    )
    assert w.learner.email is None
    with pytest.raises(FieldError):
        accounts.update_account(w.admin, w.teacher, _input(email=""))


def test_unknown_class_is_refused(f: Any) -> None:
    w = f.world()
    with pytest.raises(FieldError) as error:
        accounts.update_account(
            w.admin, w.learner, _input(class_group_id=999_999, learner_status="pupil")
        )
    assert error.value.field == "class_group_id"


def test_search_runs_a_fixed_number_of_queries(f: Any, count_queries: Any) -> None:
    level = f.level()
    group = f.class_group(level)
    for i in range(3):
        f.teacher([level], last_name=f"Zq{i}")
        f.learner(group, last_name=f"Zq{i}")
    with count_queries() as small:
        accounts.search_accounts(query="zq")
    for i in range(3, 30):
        f.teacher([level], last_name=f"Zq{i}")
        f.learner(group, last_name=f"Zq{i}")
    with count_queries() as large:
        page = accounts.search_accounts(query="zq")
    assert len(page.lines) == 50
    assert small.count == large.count <= 4
