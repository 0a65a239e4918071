"""Role × route table: every rule of app.url_map, for each of the six roles."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

import pytest
from flask import Flask

import tests.access as access_pkg
from tests.access import ROLES, Case


def _all_cases() -> list[Case]:
    cases: list[Case] = []
    for module in pkgutil.iter_modules(access_pkg.__path__):
        cases.extend(importlib.import_module(f"tests.access.{module.name}").CASES)
    return cases


CASES = _all_cases()
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def test_every_route_is_in_the_table(app: Flask) -> None:
    covered = {(case.endpoint, case.method) for case in CASES}
    missing = sorted(
        (rule.endpoint, method, rule.rule)
        for rule in app.url_map.iter_rules()
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
        if (rule.endpoint, method) not in covered
    )
    assert not missing, f"routes missing from tests/access/*.py: {missing}"


def _user(world: Any, role: str) -> Any:
    return None if role == "anonymous" else world.user(role)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    "case", CASES, ids=[f"{c.method} {c.endpoint}{' ' + c.note if c.note else ''}" for c in CASES]
)
def test_role_gets_expected_answer(
    case: Case, role: str, f: Any, app: Flask, login_as: Any
) -> None:
    world = f.world()
    if case.setup:
        case.setup(world, f)
    user = _user(world, role)
    client = login_as(user) if user is not None else app.test_client()
    kwargs: dict[str, Any] = {}
    if case.data is not None:
        kwargs["json" if case.json else "data"] = case.data(world)
    response = client.open(case.url(world), method=case.method, **kwargs)
    expected = case.expect[role]
    allowed = expected if isinstance(expected, set) else {expected}
    assert response.status_code in allowed, (
        f"{role} {case.method} {case.url(world)} → {response.status_code}, expected {expected}: "
        f"{response.get_data(as_text=True)[:300]}"
    )
    assert response.status_code != 500
