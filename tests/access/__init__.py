"""The role × route table (SPEC "Security": every route covered by an authorization test).

Each area adds a module here defining `CASES: list[Case]`. `tests/test_access_matrix.py`
collects them all, fails when a rule of `app.url_map` has no case, and runs every case for the
six roles: anonymous, admin, teacher, learner, tutor (internship), master (apprenticeship).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ROLES = ("anonymous", "admin", "teacher", "learner", "tutor", "master")
LOGIN = 302  # anonymous users are sent to the sign-in page (401 JSON on /api and /events)


@dataclass
class Case:
    """One endpoint and method, with the expected status per role.

    `url` builds the URL from the World (tests/factories.py); `data` builds the form/JSON body
    for unsafe methods; `expect` maps role → status (or a set of acceptable statuses).
    `setup` may prepare the world (e.g. complete an assessment) before the request."""

    endpoint: str
    method: str
    url: Callable[[Any], str]
    expect: dict[str, int | set[int]]
    data: Callable[[Any], dict[str, Any]] | None = None
    json: bool = False
    setup: Callable[[Any, Any], None] | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def everyone(status: int | set[int], **overrides: int | set[int]) -> dict[str, int | set[int]]:
    """Same answer for every signed-in role, anonymous sent to sign in, with overrides."""
    table: dict[str, int | set[int]] = {role: status for role in ROLES}
    table["anonymous"] = LOGIN
    table.update(overrides)
    return table


def only(roles: dict[str, int | set[int]], denied: int = 404) -> dict[str, int | set[int]]:
    """The listed roles get their status, other signed-in roles `denied`, anonymous signs in."""
    table: dict[str, int | set[int]] = {role: denied for role in ROLES}
    table["anonymous"] = LOGIN
    table.update(roles)
    return table
